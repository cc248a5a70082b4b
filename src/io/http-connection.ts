// One TCP connection of the transfer routes' HTTP client (./http-exchange.ts), read through one
// reused buffer (`net.connect`'s `onread`), so that no read allocates. It carries one exchange at
// a time: the socket's events go to the exchange attached to it. Between exchanges (idle in a
// ./connection-pool.ts) nothing should arrive, so any byte, the peer's end, an error or the idle
// timeout closes it. The Connection owns its socket: `destroy()` is the one place it is closed.
import { connect, type Socket } from 'node:net';

/** Bytes read from the socket at a time. */
const READ_BUFFER = 256 * 1024;

/** What the exchange using a connection hears of its socket. */
export interface ConnectionUser {
  /** The socket is connected (at once, for a connection that was already). */
  connected(): void;
  /** Input, a view of the reused buffer valid only during the call; false stops reading until `resume()`. */
  read(input: Buffer): boolean;
  /** The peer closed its side. */
  end(): void;
  error(err: NodeJS.ErrnoException): void;
  /** The socket closed. */
  closed(): void;
}

export class Connection {
  private readonly socket: Socket;
  private user: ConnectionUser | undefined;
  /** The TCP connection was made. */
  connected = false;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    this.socket = connect({ host, port, onread: { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Buffer) => this.read(buf.subarray(0, n)) } });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      this.connected = true;
      this.user?.connected();
    });
    this.socket.on('end', () => (this.user ? this.user.end() : this.destroy()));
    this.socket.on('error', (err: NodeJS.ErrnoException) => (this.user ? this.user.error(err) : this.destroy()));
    this.socket.on('close', () => this.user?.closed());
    this.socket.on('timeout', () => {
      if (!this.user) this.destroy();
    });
  }

  /** Open both ways, not closing: it may carry another exchange. */
  get open(): boolean {
    return !this.socket.destroyed && this.socket.readyState === 'open';
  }

  /** The exchange `user` takes the connection: it hears the socket's events from now on. */
  attach(user: ConnectionUser): void {
    this.user = user;
    this.socket.setTimeout(0);
    if (this.connected) user.connected();
  }

  /** The exchange is over: the connection sits idle, read (anything arriving closes it), closed after `idleMs`. */
  detach(idleMs: number): void {
    this.user = undefined;
    this.socket.setTimeout(idleMs);
    this.socket.resume();
  }

  write(data: Buffer | string, done?: () => void): void {
    this.socket.write(data, (err) => {
      if (!err) done?.();
    });
  }

  /** Reads again after `read` returned false. */
  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.user = undefined;
    this.socket.destroy();
  }

  private read(input: Buffer): boolean {
    if (!this.user) {
      this.destroy();
      return false;
    }
    const user = this.user;
    const more = user.read(input);
    if (this.user === user) return more;
    // The exchange ended in this read and gave the connection back: it reads on while idle (a
    // false here would stop the reading that detach() resumed).
    return !this.socket.destroyed;
  }
}

// HTTP/1.1 keep-alive for the swarm's piece requests: the idle connections to each peer. An
// exchange takes one for its request (or opens a new one) and gives it back once its answer was
// complete and well framed; anything odd closes it instead. Owned by one swarm, which closes the
// pool when it ends: that closes every idle connection, and any given back later is closed then.
// A connection idle for IDLE_MS is closed (before a peer's keep-alive timeout, 5 s for ours).
import { Connection } from './http-connection.js';

/** How long a connection may sit idle before it is closed. */
const IDLE_MS = 2000;
/** Idle connections kept per peer (the swarm has at most a few requests in flight to one). */
const MAX_IDLE = 8;

const keyOf = (host: string, port: number) => `${host}|${port}`;

export class ConnectionPool {
  private readonly idle = new Map<string, Connection[]>();
  private closed = false;

  /** An idle connection to `host`:`port` that is still open, or undefined. */
  take(host: string, port: number): Connection | undefined {
    const key = keyOf(host, port);
    const list = this.idle.get(key);
    for (let conn = list?.pop(); conn; conn = list!.pop()) {
      if (conn.open) return conn;
      conn.destroy();
    }
    this.idle.delete(key);
    return undefined;
  }

  /** A connection whose exchange ended well: kept idle for the next request to its peer, or closed. */
  give(conn: Connection): void {
    const key = keyOf(conn.host, conn.port);
    const list = (this.idle.get(key) ?? []).filter((c) => c.open);
    if (this.closed || !conn.open || list.length >= MAX_IDLE) return conn.destroy();
    conn.detach(IDLE_MS);
    list.push(conn);
    this.idle.set(key, list);
  }

  /** Closes every idle connection; connections given back from now on are closed too. */
  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const conn of list) conn.destroy();
    this.idle.clear();
  }
}

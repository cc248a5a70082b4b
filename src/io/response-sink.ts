// A stage of a download's pipeline that writes each chunk on to a target (the HTTP response, or
// gzip) with backpressure, after the wait a throttle asks for (the upload rate limit), counts the bytes the target took (reporting them at most every 200 ms,
// which feeds the session's stall timer), and gives each chunk back to its ChunkPool once the
// target is done with it (the write's callback reported success: the socket wrote it, or gzip
// consumed it), so the next read can reuse the buffer. Ending it ends the target; destroying it
// with an error destroys the target.
import { finished, Writable } from 'node:stream';
import type { ChunkPool } from './chunk-pool.js';

/** Given a chunk's size, the ms to wait before writing it (the upload rate limit). */
export type Throttle = (bytes: number) => number;

/** What the sink writes to: a ServerResponse or a Writable stream. */
type Target = NodeJS.WritableStream & { readonly destroyed: boolean; destroy(err?: Error): unknown };

const PROGRESS_INTERVAL = 200;

export class ResponseSink extends Writable {
  /** Bytes handed to the response. */
  bytes = 0;
  private last = 0;

  constructor(
    private readonly res: Target,
    private readonly onProgress: (bytes: number) => void,
    private readonly pool?: ChunkPool,
    private readonly throttle?: Throttle,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const wait = this.throttle?.(chunk.length) ?? 0;
    if (wait > 0) setTimeout(() => this.send(chunk, cb), wait);
    else this.send(chunk, cb);
  }

  private send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.res.destroyed) return cb(new Error('the response was closed'));
    this.bytes += chunk.length;
    const now = Date.now();
    if (now - this.last >= PROGRESS_INTERVAL) {
      this.last = now;
      this.onProgress(this.bytes);
    }
    const pool = this.pool;
    const res = this.res;
    const written = pool
      ? (err?: Error | null) => {
          if (!err) pool.give(chunk);
        }
      : undefined;
    if (res.write(chunk, written)) return cb();
    if (res.destroyed) return cb(new Error('the response was closed'));
    const done = (err?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      cb(err);
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the response was closed'));
    res.on('drain', onDrain);
    res.on('close', onClose);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.res.end();
    finished(this.res, { readable: false }, (err) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err && !this.res.destroyed) this.res.destroy();
    cb(err);
  }
}

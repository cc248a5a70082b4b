// A stage of a download's pipeline that writes each chunk on to a target (the HTTP response, or
// gzip) with backpressure, counts the bytes the target took (reporting them at most every 200 ms,
// which feeds the session's stall timer), and gives each chunk back to its ChunkPool once the
// target is done with it (the write's callback reported success: the socket wrote it, or gzip
// consumed it), so the next read can reuse the buffer. Ending it ends the target; destroying it
// with an error destroys the target.
import { finished, Writable } from 'node:stream';
import type { ChunkPool } from './chunk-pool.js';

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
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
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

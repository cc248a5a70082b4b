// The bytes of a piece list that served-pieces.ts has checked against the manifest, for the piece
// route, read in the order asked and checked against the tree as they are read: every directory on
// a piece's path is lstat'ed once per request (a real directory, never a symlink), a file is
// opened O_NOFOLLOW; a whole file smaller than a chunk is read with one byte more asked for and
// must give exactly the manifest's size, another is fstat'ed (a regular file of the manifest's
// size); one with nothing to send is only lstat'ed; a symlink is read with readlink (a target of
// the manifest's length). Symlink targets and pieces up to a chunk are read synchronously
// straight into the chunk being filled (no copy, no buffer per file); a larger piece is read a
// chunk at a time on the thread pool. Chunks come from a ChunkPool that the consumer gives them
// back to once the socket wrote them. The first READ_AHEAD bytes are read before the answer
// starts (`ready`), so a list of up to READ_AHEAD bytes (every unit a 0share client asks for: a
// batch of small files, or one range) is refused before any byte when a file is not there as
// listed; further on, such a file ends the body short.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { asBuffer } from '../core/manifest-format.js';
import type { Piece } from '../core/piece-list.js';
import { ChunkBatch } from './chunk-batch.js';
import type { ChunkPool } from './chunk-pool.js';
import { PushGate } from './push-gate.js';
import { realDirs } from './real-dirs.js';
import { PieceRefusal } from './served-pieces.js';
import { timeSlicer, type TimeSlicer } from './time-slice.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Bytes read before the answer starts: a list of up to this many is checked whole before its first byte. */
export const READ_AHEAD = 1024 * 1024;

/** A piece the manifest allows, with what the manifest says of its file. */
export interface CheckedPiece {
  readonly piece: Piece;
  /** The file's size (a symlink's: its target's length). */
  readonly size: number;
  readonly symlink: boolean;
}

export interface PieceBody {
  /** The pieces' bytes back to back; consume it once `ready` has resolved. */
  readonly body: Readable;
  /** Resolves once more than READ_AHEAD bytes (or all) are read; rejects (a 404 PieceRefusal, or a read error) if that fails. */
  readonly ready: Promise<void>;
}

const shown = (b: Buffer) => b.toString().slice(0, 200);
const missing = (path: Buffer) => new PieceRefusal(`'${shown(path)}' is missing here`, 404);
const notTheFile = (path: Buffer) => new PieceRefusal(`'${shown(path)}' here is not the file the manifest lists`, 404);

class PieceReader {
  private readonly root: Buffer;
  private readonly slicer: TimeSlicer;
  /** Whether each directory on a piece's way is a real one (src/io/real-dirs.ts), for this request. */
  private readonly realDirs: (path: Uint8Array) => number;
  /** The chunk being filled with small pieces. */
  private readonly batch: ChunkBatch;
  /** Chunks read before the answer started; undefined once it has. */
  private ahead: Buffer[] | undefined = [];
  private aheadBytes = 0;

  constructor(
    dir: string,
    private readonly pieces: readonly CheckedPiece[],
    private readonly gate: PushGate,
    private readonly pool: ChunkPool,
    private readonly started: () => void,
    signal?: AbortSignal,
  ) {
    this.root = Buffer.from(dir.endsWith('/') ? dir : `${dir}/`);
    this.realDirs = realDirs(dir);
    this.batch = new ChunkBatch(pool, (chunk) => this.send(chunk));
    this.slicer = timeSlicer({ signal });
  }

  /** Whether the answer has started (the read-ahead went out). */
  get answering(): boolean {
    return this.ahead === undefined;
  }

  /** Gives the read-ahead back to the pool (the answer never started). */
  giveBack(): void {
    for (const c of this.ahead ?? []) this.pool.give(c);
    this.ahead = [];
    this.batch.discard();
  }

  /** Starts the answer: the read-ahead goes to the stream and `ready` resolves. */
  private start(): void {
    const ahead = this.ahead ?? [];
    this.ahead = undefined;
    for (const c of ahead) this.gate.push(c);
    this.started();
  }

  private send(chunk: Buffer): void {
    this.gate.check();
    if (this.ahead) {
      this.ahead.push(chunk);
      this.aheadBytes += chunk.length;
      if (this.aheadBytes > READ_AHEAD) this.start();
    } else this.gate.push(chunk);
  }

  async run(): Promise<void> {
    for (const c of this.pieces) {
      if (this.gate.isBlocked) await this.gate.drained();
      else if (this.slicer.due()) await this.slicer.pause();
      const big = this.piece(c);
      if (big) await big;
    }
    this.batch.flush();
    if (this.ahead) this.start();
    this.gate.push(null);
  }

  /** One piece; a promise while a large one is streamed. */
  private piece(c: CheckedPiece): Promise<void> | undefined {
    const path = asBuffer(c.piece.path);
    const notDir = this.realDirs(path);
    if (notDir >= 0) throw new PieceRefusal(`'${shown(path.subarray(0, notDir))}' is not a directory here`, 404);
    const abs = Buffer.concat([this.root, path]);
    if (c.symlink) {
      let target: Buffer;
      try {
        target = readlinkSync(abs, { encoding: 'buffer' });
      } catch (err) {
        throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? missing(path) : notTheFile(path);
      }
      if (target.length !== c.size) throw notTheFile(path);
      target.copy(this.batch.space(target.length), this.batch.used);
      this.batch.used += target.length;
      return undefined;
    }
    if (c.piece.length === 0) {
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (!st) throw missing(path);
      if (!st.isFile() || st.size !== c.size) throw notTheFile(path);
      return undefined;
    }
    let fd: number;
    try {
      fd = openSync(abs, OPEN_FLAGS);
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ELOOP' ? notTheFile(path) : missing(path);
    }
    let streaming: Promise<void> | undefined;
    try {
      if (c.piece.offset === 0 && c.piece.length === c.size && c.size < this.batch.chunk) {
        // A whole small file: read with one byte more asked for, it must give exactly its size
        // (no fstat: a directory fails the read, a FIFO comes short, a longer file shows).
        let exact = false;
        try {
          exact = this.batch.readExactly(fd, c.size);
        } catch {
          // EISDIR, EAGAIN…: not a regular file
        }
        if (!exact) throw notTheFile(path);
        return undefined;
      }
      const st = fstatSync(fd);
      if (!st.isFile() || st.size !== c.size) throw notTheFile(path);
      if (c.piece.length > this.batch.chunk) return (streaming = this.stream(fd, c.piece, path));
      if (!this.batch.read(fd, c.piece.length, c.piece.offset)) throw new Error(`'${shown(path)}' is shorter than its manifest says`);
      return undefined;
    } finally {
      if (!streaming) closeSync(fd);
    }
  }

  /** A large piece a chunk at a time, waiting for the stream before each; closes `fd`. */
  private async stream(fd: number, piece: Piece, path: Buffer): Promise<void> {
    try {
      if (!(await this.batch.stream(fd, piece.length, piece.offset, () => this.gate.drained()))) throw new Error(`'${shown(path)}' is shorter than its manifest says`);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Reads `pieces` of the tree at `dir` (see the top of this file). Wait for `ready` before
 * answering: it rejects when a file is not there as listed within the first READ_AHEAD bytes (the
 * body is then destroyed and nothing was sent); later failures destroy the body.
 */
export function readPieces(dir: string, pieces: readonly CheckedPiece[], opts: { pool: ChunkPool; signal?: AbortSignal }): PieceBody {
  const gate = new PushGate('the response was closed', opts.signal);
  const body = gate.out;
  let ok!: () => void;
  let refuse!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    ok = resolve;
    refuse = reject;
  });
  const r = new PieceReader(dir, pieces, gate, opts.pool, () => ok(), opts.signal);
  r.run().catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    if (r.answering) {
      if (!body.destroyed) body.destroy(e);
      return;
    }
    r.giveBack();
    body.destroy();
    refuse(e);
  });
  return { body, ready };
}

// The swarm's piece fetcher: gets one work unit from one peer (`POST /implementation/<digest>/files`
// with the unit's piece list) and writes the answer into the staging tree, hashing as it writes.
// The answer is the pieces' bytes back to back; lengths come from the verified manifest, never
// from the peer. Each whole file is checked against its manifest line as its last byte arrives
// (content hash; mode and mtime are set from the manifest) and only then gets its final mode;
// a file that does not match is deleted and the unit fails as 'lied', naming the files of the
// unit that did arrive intact. A large file that arrives in ranges (possibly from several peers)
// is hashed as its ranges complete, in order: a range that arrives where the hash has reached is
// hashed as it is written, one that arrives ahead of it is read back (from the page cache) once
// the ranges before it are in, so a file that came in order is never read again; it is checked
// once its last range is in: if it does not match it is deleted, and the unit fails
// as 'lied' when one peer sent every range, 'mixed' otherwise (the scheduler then fetches it
// again whole from one peer). A unit asked again after an attempt was stopped part-way (its
// peer was dropped for another unit) asks only for the files not yet verified. A partial holder's
// 409 (it has not verified every file asked for yet) fails the unit as 'missing'. With a
// connection pool the requests to one peer reuse its connections (HTTP/1.1 keep-alive).
// A whole file whose bytes come in one piece of input (most small files) is hashed first and,
// if it matches, created with its final mode, written and given its mtime: it never exists
// unverified, and needs no chmod (src/io/stored-as-asked.ts checks that the umask took no bits
// off, and the mtime). Others are created (0600) as their first bytes arrive and sealed once checked.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fchmodSync, openSync, readSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { formatDigest, hashName, type Digest } from '../core/digest.js';
import { contentHash } from '../core/manifest-format.js';
import { encodePieceList } from '../core/piece-list.js';
import { storeFileMode } from '../core/tar-rules.js';
import { unitBytes, type PlanFile, type PlanFiles, type UnitPiece } from '../core/swarm-plan.js';
import { LocalFailure } from '../machines/ports.js';
import { UnitFailure, type UnitFault, type UnitRequest } from '../machines/swarm.machine.js';
import { peerKey } from '../machines/types.js';
import type { ConnectionPool } from './connection-pool.js';
import { ConnectError, exchange, type Exchange } from './http-exchange.js';
import { StoredAsAsked } from './stored-as-asked.js';
import { createVerifiedFile, stampVerified } from './verified-file.js';
import { inTree } from './swarm-staging.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const REOPEN = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW; // ranges: written, then read back to hash
/**
 * A unit's progress goes to the swarm machine at most this often: it feeds the stall checks
 * (seconds) and the peers' rates, and each event is a machine step (about 0.1 ms of CPU), so at
 * 50 ms the events of 4 to 8 units in flight cost a fetch on a slow link a tenth of its CPU.
 */
const PROGRESS_INTERVAL_MS = 250;
const EMPTY = Buffer.alloc(0);

export interface PieceFetchOptions {
  readonly digest: Digest;
  readonly tree: string;
  readonly files: PlanFiles;
  /** The swarm's idle connections, reused for its requests (its owner closes it); without it, a connection per request. */
  readonly pool?: ConnectionPool;
  /** Every byte received, as it arrives (for the total and per-source counts). */
  readonly onBytes?: (peer: string, bytes: number) => void;
  /** A file was verified and is in place. */
  readonly onFile?: (file: number) => void;
}

/** The ranges of a large file received so far, from whom, and how far its hash has got. */
interface RangeCover {
  /** Complete ranges: offset → [length, sender]. */
  readonly done: Map<number, readonly [number, string]>;
  got: number;
  hash: Hash;
  /** The file's bytes before this offset are in `hash`. */
  hashed: number;
}

/** Read-back buffer for ranges that arrived ahead of the hash. */
const READ_BACK = 1024 * 1024;

const isRange = (f: PlanFile, p: UnitPiece) => !(p.offset === 0 && p.length === (f.entry.size ?? 0));

/** A file whose bytes do not hash to its manifest line: `fault` for its sender(s). */
function mismatch(f: PlanFile, fault: UnitFault, done: readonly number[], file?: number): UnitFailure {
  return new UnitFailure(`${f.entry.kind === 'symlink' ? 'symlink ' : ''}'${Buffer.from(f.entry.path).toString()}' does not match its manifest line`, fault, done, file);
}

function localError(err: unknown): LocalFailure {
  return new LocalFailure(`could not write it here: ${(err as Error).message}`);
}

function statusFailure(status: number): UnitFailure {
  if (status === 503) return new UnitFailure('is busy (HTTP 503)', 'busy');
  // A partial holder that has not verified every file asked for yet: not its fault, ask again after its next /have.
  if (status === 409) return new UnitFailure('does not have those files yet (HTTP 409)', 'missing');
  if (status === 404 || status === 405 || status === 400) return new UnitFailure(`does not serve pieces (HTTP ${status})`, 'unsupported');
  return new UnitFailure(`answered HTTP ${status} to a piece request`, 'failed');
}

async function post(req: UnitRequest, digest: Digest, body: Buffer, pool?: ConnectionPool): Promise<Exchange> {
  const { peer, signal } = req;
  let ex: Exchange;
  try {
    ex = await exchange({
      host: peer.host,
      port: peer.port,
      method: 'POST',
      path: `/implementation/${formatDigest(digest)}/files`,
      headers: { 'Content-Type': 'text/plain' },
      body,
      signal,
      pool,
    });
  } catch (err) {
    if (signal.aborted) throw new UnitFailure('aborted', 'failed');
    throw new UnitFailure(err instanceof ConnectError ? `could not be reached for pieces: ${err.message}` : `closed the connection after 0 bytes (${(err as Error).message})`, 'failed');
  }
  if (ex.status === 200) return ex;
  ex.close();
  throw statusFailure(ex.status);
}

/** The fetchUnit port for one swarm: every unit's pieces land in `opts.tree`. */
export function pieceFetcher(opts: PieceFetchOptions) {
  const alg = opts.digest.alg;
  const ranges = new Map<number, RangeCover>();
  /** Files verified and in place: a unit asked again (its attempt was stopped part-way) skips them. */
  const verified = new Set<number>();
  const verifiedFile = (file: number) => {
    verified.add(file);
    opts.onFile?.(file);
  };

  /** Whether the file system kept the modes and mtimes asked for. */
  const stored = new StoredAsAsked();

  /** Final mode and mtime from the manifest, on the open descriptor (checked as a created file's are). */
  const seal = (fd: number, f: PlanFile) => {
    fchmodSync(fd, storeFileMode(f.entry.exec === true));
    stampVerified(fd, f.entry, stored);
  };
  /** Creates the verified file `f` at `path` with all of its bytes, its final mode and its mtime. */
  const createVerified = (path: Buffer, f: PlanFile, data: Buffer) => createVerifiedFile(path, f.entry, data, stored);

  let readBack: Buffer | undefined;
  const coverOf = (f: PlanFile): RangeCover => {
    let cover = ranges.get(f.index);
    if (!cover) ranges.set(f.index, (cover = { done: new Map(), got: 0, hash: createHash(hashName(alg)), hashed: 0 }));
    return cover;
  };

  /** Bytes of a ranged file arriving at `pos`: hashed now if that is where the hash has got. */
  const rangeBytes = (f: PlanFile, pos: number, part: Buffer) => {
    const cover = coverOf(f);
    if (pos !== cover.hashed) return;
    cover.hash.update(part);
    cover.hashed += part.length;
  };

  /** An attempt at a range of `f` from `pos` broke off: bytes past `pos` in the hash may be overwritten, so it starts again. */
  const rangeBroken = (f: PlanFile, pos: number) => {
    const cover = ranges.get(f.index);
    if (cover && cover.hashed > pos) {
      cover.hash = createHash(hashName(alg));
      cover.hashed = 0;
    }
  };

  /** Reads back and hashes the complete ranges the hash has reached (those that arrived ahead of it). */
  const catchUp = (cover: RangeCover, fd: number) => {
    for (let r = cover.done.get(cover.hashed); r; r = cover.done.get(cover.hashed)) {
      const end = cover.hashed + r[0];
      while (cover.hashed < end) {
        readBack ??= Buffer.allocUnsafe(READ_BACK);
        const n = readSync(fd, readBack, 0, Math.min(READ_BACK, end - cover.hashed), cover.hashed);
        if (n === 0) throw new Error('the file is shorter than the ranges written');
        cover.hash.update(readBack.subarray(0, n));
        cover.hashed += n;
      }
    }
  };

  /** A range of `f` is in (its descriptor `fd` still open): when it was the last, the whole file is checked; throws UnitFailure if it does not match. */
  const rangeDone = (f: PlanFile, piece: UnitPiece, from: string, fd: number): void => {
    const cover = coverOf(f);
    if (!cover.done.has(piece.offset)) cover.got += piece.length;
    cover.done.set(piece.offset, [piece.length, from]);
    const size = f.entry.size ?? 0;
    catchUp(cover, fd);
    if (cover.got < size) return;
    const senders = new Set([...cover.done.values()].map((r) => r[1]));
    ranges.delete(f.index);
    if (cover.hashed !== size || cover.hash.digest('hex') !== f.entry.hash) {
      unlinkSync(inTree(opts.tree, f.entry.path));
      const who = senders.size === 1 ? 'lied' : 'mixed';
      throw mismatch(f, who, [], f.index);
    }
    seal(fd, f);
    verifiedFile(f.index);
  };

  return async function fetchUnit(req: UnitRequest): Promise<void> {
    const pieces = req.unit.pieces.filter((p) => !verified.has(p.file));
    if (pieces.length === 0) return;
    const key = peerKey(req.peer);
    const body = encodePieceList(pieces.map((p) => ({ path: opts.files.path(p.file), offset: p.offset, length: p.length })));
    const ex = await post(req, opts.digest, body, opts.pool);
    const done: number[] = [];
    let i = -1;
    let piece: UnitPiece | undefined;
    let file: PlanFile | undefined;
    let fd = -1;
    let pos = 0;
    let left = 0;
    let symlinkData: Buffer[] | undefined;
    /** The current piece is a whole file (not a range, not a symlink), and its hash once it spans pieces of input. */
    let whole = false;
    /** …which came in one piece, was verified and is in place. */
    let created = false;
    let hash: Hash | undefined;
    let total = 0;
    let lastReport = 0;

    /** Opens the next piece for writing. */
    const begin = () => {
      i++;
      piece = pieces[i];
      if (!piece) return;
      file = opts.files.get(piece.file);
      left = piece.length;
      pos = piece.offset;
      if (file.entry.kind === 'symlink') symlinkData = [];
      // Created when its first bytes arrive: at once verified if they are all of it.
      else if (!isRange(file, piece)) whole = true;
      else {
        try {
          fd = openSync(inTree(opts.tree, file.entry.path), REOPEN, 0o600);
        } catch (err) {
          throw localError(err);
        }
      }
    };

    /** The current piece is complete: check it (whole files and symlinks) and move on. */
    const end = () => {
      const f = file!;
      const p = piece!;
      const path = inTree(opts.tree, f.entry.path);
      if (symlinkData) {
        const target = Buffer.concat(symlinkData);
        symlinkData = undefined;
        if (contentHash(target, alg) !== f.entry.hash) {
          throw mismatch(f, 'lied', done);
        }
        try {
          symlinkSync(target, path);
        } catch (err) {
          throw localError(err);
        }
        done.push(f.index);
        verifiedFile(f.index);
      } else if (whole && fd < 0) {
        // In place already (it came in one piece), or empty (nothing came): checked, then created.
        const ok = created || contentHash(EMPTY, alg) === f.entry.hash;
        whole = created = false;
        if (!ok) throw mismatch(f, 'lied', done);
        if (!f.entry.size) {
          try {
            createVerified(path, f, EMPTY);
          } catch (err) {
            throw localError(err);
          }
        }
        done.push(f.index);
        verifiedFile(f.index);
      } else if (whole) {
        const ok = (hash?.digest('hex') ?? contentHash(EMPTY, alg)) === f.entry.hash;
        whole = false;
        hash = undefined;
        try {
          if (ok) seal(fd, f);
          closeSync(fd);
          fd = -1;
          if (!ok) unlinkSync(path);
        } catch (err) {
          throw localError(err);
        }
        if (!ok) throw mismatch(f, 'lied', done);
        done.push(f.index);
        verifiedFile(f.index);
      } else {
        try {
          rangeDone(f, p, key, fd);
        } catch (err) {
          if (err instanceof UnitFailure) throw new UnitFailure(err.message, err.fault, done, err.file);
          throw localError(err);
        } finally {
          closeSync(fd);
          fd = -1;
        }
      }
      begin();
    };

    /** Writes `chunk` (all of it belongs to pieces of this unit; a view the reader reuses after the call). */
    const write = (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        if (!piece) throw new UnitFailure('sent more than the pieces asked for', 'lied', done);
        const n = Math.min(left, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (symlinkData) symlinkData.push(Buffer.from(part));
        else {
          if (whole && fd < 0 && n === piece.length) {
            // All of a whole file in one piece of input: checked before it is created.
            if (contentHash(part, alg) !== file!.entry.hash) throw mismatch(file!, 'lied', done);
            try {
              createVerified(inTree(opts.tree, file!.entry.path), file!, part);
            } catch (err) {
              throw localError(err);
            }
            created = true;
          } else {
            if (whole && fd < 0) {
              try {
                fd = openSync(inTree(opts.tree, file!.entry.path), CREATE, 0o600);
              } catch (err) {
                throw localError(err);
              }
            }
            if (whole) (hash ??= createHash(hashName(alg))).update(part);
            else rangeBytes(file!, pos, part);
            try {
              for (let w = 0; w < part.length; ) w += writeSync(fd, part, w, part.length - w, pos + w);
            } catch (err) {
              throw localError(err);
            }
          }
        }
        pos += n;
        left -= n;
        off += n;
        while (piece && left === 0) end();
      }
    };

    const cleanUp = () => {
      if (fd >= 0) {
        const f = file!;
        closeSync(fd);
        fd = -1;
        // A whole file cut short is deleted; a range's bytes stay (they are overwritten when it is fetched again).
        if (whole) unlinkSync(inTree(opts.tree, f.entry.path));
        else rangeBroken(f, piece!.offset);
      }
    };

    try {
      begin();
      while (piece && left === 0) end();
      await ex.body((chunk) => {
        total += chunk.length;
        opts.onBytes?.(key, chunk.length);
        write(chunk);
        const now = performance.now();
        if (now - lastReport >= PROGRESS_INTERVAL_MS) {
          lastReport = now;
          req.onProgress(total);
        }
      });
      req.onProgress(total);
      if (piece) throw new UnitFailure(`closed the connection after ${total} of ${unitBytes(pieces)} bytes`, 'failed', done);
    } catch (err) {
      ex.close();
      try {
        cleanUp();
      } catch {
        // nothing more to do: the staging tree is removed on failure anyway
      }
      if (err instanceof UnitFailure || err instanceof LocalFailure) throw err;
      throw new UnitFailure(req.signal.aborted ? 'aborted' : `closed the connection after ${total} bytes (${(err as Error).message})`, 'failed', done);
    }
  };
}

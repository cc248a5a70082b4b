// The swarm's piece fetcher: gets one work unit from one peer (`POST /implementation/<digest>/files`
// with the unit's piece list) and writes the answer into the staging tree, hashing as it writes.
// The answer is the pieces' bytes back to back; lengths come from the verified manifest, never
// from the peer. Each whole file is checked against its manifest line as its last byte arrives
// (content hash; mode and mtime are set from the manifest) and only then gets its final mode;
// a file that does not match is deleted and the unit fails as 'lied', naming the files of the
// unit that did arrive intact. A large file that arrives in ranges (possibly from several peers)
// is checked once its last range is in: if it does not match it is deleted, and the unit fails
// as 'lied' when one peer sent every range, 'mixed' otherwise (the scheduler then fetches it
// again whole from one peer). A unit asked again after an attempt was stopped part-way (its
// peer was dropped for another unit) asks only for the files not yet verified. A partial holder's
// 409 (it has not verified every file asked for yet) fails the unit as 'missing'.
import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, futimesSync, openSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { formatDigest, hashName, type Digest } from '../core/digest.js';
import { contentHash } from '../core/manifest-format.js';
import { encodePieceList } from '../core/piece-list.js';
import { unitBytes, type PlanFile, type UnitPiece } from '../core/swarm-plan.js';
import { LocalFailure } from '../machines/ports.js';
import { UnitFailure, type UnitRequest } from '../machines/swarm.machine.js';
import { peerKey } from '../machines/types.js';
import { hashFile } from './file-hash.js';
import { inTree } from './swarm-staging.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const REOPEN = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
const PROGRESS_INTERVAL_MS = 50;

export interface PieceFetchOptions {
  readonly digest: Digest;
  readonly tree: string;
  readonly files: readonly PlanFile[];
  /** Every byte received, as it arrives (for the total and per-source counts). */
  readonly onBytes?: (peer: string, bytes: number) => void;
  /** A file was verified and is in place. */
  readonly onFile?: (file: number) => void;
}

/** The ranges of a large file received so far, and from whom. */
interface RangeCover {
  readonly from: Map<number, string>;
  got: number;
}

const isRange = (f: PlanFile, p: UnitPiece) => !(p.offset === 0 && p.length === (f.entry.size ?? 0));

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

function post(req: UnitRequest, digest: Digest, body: Buffer): Promise<IncomingMessage> {
  const { peer, signal } = req;
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: peer.host,
        port: peer.port,
        method: 'POST',
        path: `/implementation/${formatDigest(digest)}/files`,
        headers: { 'Content-Type': 'text/plain', 'Content-Length': body.length },
        agent: false,
        signal,
      },
      (res) => {
        if (res.statusCode === 200) return resolve(res);
        res.resume();
        reject(statusFailure(res.statusCode ?? 0));
      },
    );
    r.on('error', (err) => reject(new UnitFailure(signal.aborted ? 'aborted' : `could not be reached for pieces: ${err.message}`, 'failed')));
    r.end(body);
  });
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

  /** Final mode and mtime from the manifest, on the open descriptor. */
  const seal = (fd: number, f: PlanFile) => {
    fchmodSync(fd, f.entry.exec ? 0o555 : 0o444);
    const t = Number(f.entry.mtime ?? 0n);
    futimesSync(fd, t, t);
  };

  /** Checks a ranged file once its last range is in; throws UnitFailure if it does not match. */
  const rangeDone = async (f: PlanFile, piece: UnitPiece, from: string): Promise<void> => {
    const cover = ranges.get(f.index) ?? { from: new Map(), got: 0 };
    ranges.set(f.index, cover);
    if (!cover.from.has(piece.offset)) cover.got += piece.length;
    cover.from.set(piece.offset, from);
    if (cover.got < (f.entry.size ?? 0)) return;
    const path = inTree(opts.tree, f.entry.path);
    const senders = new Set(cover.from.values());
    ranges.delete(f.index);
    if ((await hashFile(path, alg)) !== f.entry.hash) {
      await unlink(path).catch(() => undefined);
      const who = senders.size === 1 ? 'lied' : 'mixed';
      throw new UnitFailure(`'${Buffer.from(f.entry.path).toString()}' does not match its manifest line`, who, [], f.index);
    }
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      seal(fd, f);
    } finally {
      closeSync(fd);
    }
    verifiedFile(f.index);
  };

  return async function fetchUnit(req: UnitRequest): Promise<void> {
    const pieces = req.unit.pieces.filter((p) => !verified.has(p.file));
    if (pieces.length === 0) return;
    const key = peerKey(req.peer);
    const body = encodePieceList(pieces.map((p) => ({ path: opts.files[p.file]!.entry.path, offset: p.offset, length: p.length })));
    const res = await post(req, opts.digest, body);
    const done: number[] = [];
    let i = -1;
    let piece: UnitPiece | undefined;
    let file: PlanFile | undefined;
    let fd = -1;
    let pos = 0;
    let left = 0;
    let symlinkData: Buffer[] | undefined;
    let hash: ReturnType<typeof createHash> | undefined;
    let total = 0;
    let lastReport = 0;

    /** Opens the next piece for writing. */
    const begin = () => {
      i++;
      piece = pieces[i];
      if (!piece) return;
      file = opts.files[piece.file]!;
      left = piece.length;
      pos = piece.offset;
      const path = inTree(opts.tree, file.entry.path);
      try {
        if (file.entry.kind === 'symlink') symlinkData = [];
        else if (isRange(file, piece)) fd = openSync(path, REOPEN, 0o600);
        else {
          fd = openSync(path, CREATE, 0o600);
          hash = createHash(hashName(alg));
        }
      } catch (err) {
        throw localError(err);
      }
    };

    /** The current piece is complete: check it (whole files and symlinks) and move on. */
    const end = async () => {
      const f = file!;
      const p = piece!;
      const path = inTree(opts.tree, f.entry.path);
      if (symlinkData) {
        const target = Buffer.concat(symlinkData);
        symlinkData = undefined;
        if (contentHash(target, alg) !== f.entry.hash) {
          throw new UnitFailure(`symlink '${Buffer.from(f.entry.path).toString()}' does not match its manifest line`, 'lied', done);
        }
        try {
          symlinkSync(target, path);
        } catch (err) {
          throw localError(err);
        }
        done.push(f.index);
        verifiedFile(f.index);
      } else if (hash) {
        const ok = hash.digest('hex') === f.entry.hash;
        hash = undefined;
        try {
          if (ok) seal(fd, f);
          closeSync(fd);
          fd = -1;
          if (!ok) unlinkSync(path);
        } catch (err) {
          throw localError(err);
        }
        if (!ok) throw new UnitFailure(`'${Buffer.from(f.entry.path).toString()}' does not match its manifest line`, 'lied', done);
        done.push(f.index);
        verifiedFile(f.index);
      } else {
        closeSync(fd);
        fd = -1;
        try {
          await rangeDone(f, p, key);
        } catch (err) {
          if (err instanceof UnitFailure) throw new UnitFailure(err.message, err.fault, done, err.file);
          throw localError(err);
        }
      }
      begin();
    };

    /** Writes `chunk` (all of it belongs to pieces of this unit). */
    const write = async (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        if (!piece) throw new UnitFailure('sent more than the pieces asked for', 'lied', done);
        const n = Math.min(left, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (symlinkData) symlinkData.push(Buffer.from(part));
        else {
          hash?.update(part);
          try {
            for (let w = 0; w < part.length; ) w += writeSync(fd, part, w, part.length - w, pos + w);
          } catch (err) {
            throw localError(err);
          }
        }
        pos += n;
        left -= n;
        off += n;
        while (piece && left === 0) await end();
      }
    };

    const cleanUp = () => {
      if (fd >= 0) {
        const f = file!;
        closeSync(fd);
        fd = -1;
        // A whole file cut short is deleted; a range's bytes stay (they are overwritten when it is fetched again).
        if (hash) unlinkSync(inTree(opts.tree, f.entry.path));
      }
    };

    try {
      begin();
      while (piece && left === 0) await end();
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.length;
        opts.onBytes?.(key, chunk.length);
        await write(chunk);
        const now = performance.now();
        if (now - lastReport >= PROGRESS_INTERVAL_MS) {
          lastReport = now;
          req.onProgress(total);
        }
      }
      req.onProgress(total);
      if (piece) throw new UnitFailure(`closed the connection after ${total} of ${unitBytes(pieces)} bytes`, 'failed', done);
    } catch (err) {
      res.destroy();
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

// The fetch's side of its state file (`tmp-partial-<digest>.have`, core/partial-holder.ts): two
// have bitmaps, the files verified and those being fetched now, kept in memory and written in
// place (one pwrite of the whole, never a different size) at most every FLUSH_MS, so this
// machine's peer answers `/have` with one small read instead of a scan of the tree. Only advice
// for the peer: a failed write is ignored (the peer then scans the tree). The file is removed with
// the lock (partial-dir.ts); `close` writes the last state and closes the descriptor.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { hasBit, haveBytes, setBit } from '../core/have-bitmap.js';
import { STATE_SUFFIX } from '../core/partial-holder.js';

/** ms between writes while the state changes. */
const FLUSH_MS = 100;
const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

export interface PartialState {
  /** The file (plan index) is verified in the partial dir. */
  verified(file: number): void;
  /** These files are being fetched (`on`), or that attempt ended. */
  fetching(files: readonly number[], on: boolean): void;
  close(): void;
}

/** Opens (creates) the state file of the partial dir `dir` for a plan of `files` files, written at once with nothing in it. */
export function openPartialState(dir: string, files: number): PartialState {
  const n = haveBytes(files);
  const bits = Buffer.alloc(2 * n);
  const attempts = new Uint32Array(files);
  let fd: number | undefined;
  try {
    fd = openSync(`${dir}${STATE_SUFFIX}`, FLAGS, 0o644);
  } catch {
    fd = undefined;
  }
  let timer: NodeJS.Timeout | undefined;
  const write = () => {
    timer = undefined;
    if (fd === undefined) return;
    try {
      writeSync(fd, bits, 0, bits.length, 0);
    } catch {
      closeSync(fd);
      fd = undefined;
    }
  };
  const changed = () => {
    timer ??= setTimeout(write, FLUSH_MS);
  };
  // The two bitmaps, one after the other in the file.
  const verifiedBits = bits.subarray(0, n);
  const fetchingBits = bits.subarray(n);
  write();
  return {
    verified(file) {
      setBit(verifiedBits, file, true);
      setBit(fetchingBits, file, false);
      changed();
    },
    fetching(list, on) {
      for (const f of list) {
        attempts[f] = on ? attempts[f]! + 1 : Math.max(0, attempts[f]! - 1);
        setBit(fetchingBits, f, attempts[f]! > 0 && !hasBit(verifiedBits, f));
      }
      changed();
    },
    close() {
      clearTimeout(timer);
      write();
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

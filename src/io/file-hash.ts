// The hex hash of a file on disk, read without following a symlink: how the swarm checks a
// ranged file, a local copy and a file an interrupted fetch left behind.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { hashName, type Algorithm } from '../core/digest.js';

/** Hex hash of the file at `path` with `alg`'s hash function. */
export async function hashFile(path: Buffer, alg: Algorithm): Promise<string> {
  const h = createHash(hashName(alg));
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false })) h.update(chunk as Buffer);
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

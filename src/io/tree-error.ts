// The tree walker's errors, worded as 0install words them: shared by the walk and by the hash
// worker's results, so a file that fails in either place gives the same TreeError.
import type { FileProblem } from './file-steps.js';

export class TreeError extends Error {
  override name = 'TreeError';
  constructor(message: string, readonly path: string) {
    super(message);
  }
}

const show = (p: Buffer) => p.toString();

/** A failed system call on `path` (an errno error, or its code and message from the worker). */
export function fsError(err: unknown, path: Buffer): TreeError {
  const e = err as { code?: string; message: string };
  const why = e.code === 'ENOENT' ? 'it disappeared while being read' : e.code === 'EACCES' ? 'permission denied' : e.message;
  return new TreeError(`Cannot read '${show(path)}': ${why}`, show(path));
}

export const changed = (path: Buffer) =>
  new TreeError(`'${show(path)}' changed while being read; try again when nothing is modifying the tree`, show(path));

export const notRegular = (path: Buffer) => new TreeError(`Not a regular file/directory/symlink '${show(path)}'`, show(path));

/** A problem `openRegular` or the hash worker reported, as the walker reports it. */
export function problemError(p: FileProblem, path: Buffer): TreeError {
  if (p.problem === 'changed') return changed(path);
  if (p.problem === 'notRegular') return notRegular(path);
  return fsError(p, path);
}

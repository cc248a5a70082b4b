// What differs between two manifests of the same tree (the stored `.manifest` and the one just
// computed), as short human-readable lines: "missing file bin/x", "file bin/x: content differs".
import { type Algorithm } from './digest.js';
import { type ManifestEntry, ManifestError } from './manifest-format.js';
import { parseManifest } from './manifest-table.js';

const KIND_NAME = { dir: 'directory', file: 'file', symlink: 'symlink' } as const;

function entryMap(entries: ManifestEntry[]): Map<string, ManifestEntry> {
  return new Map(entries.map((e) => [Buffer.from(e.path).toString('latin1'), e]));
}

function describe(path: string, want: ManifestEntry, got: ManifestEntry): string[] {
  if (want.kind !== got.kind) return [`${path}: expected a ${KIND_NAME[want.kind]}, found a ${KIND_NAME[got.kind]}`];
  const out: string[] = [];
  if (want.kind === 'symlink') {
    if (want.hash !== got.hash || want.size !== got.size) out.push(`symlink ${path}: target differs`);
  } else if (want.kind === 'file') {
    if (want.size !== got.size) out.push(`file ${path}: size differs (expected ${want.size}, found ${got.size} bytes)`);
    else if (want.hash !== got.hash) out.push(`file ${path}: content differs`);
    if (want.exec !== got.exec) out.push(`file ${path}: ${want.exec ? 'should be executable but is not' : 'is executable but should not be'}`);
    if (want.mtime !== got.mtime) out.push(`file ${path}: mtime differs (expected ${want.mtime}, found ${got.mtime})`);
  }
  return out;
}

/** Line-level comparison, for the old sha1 format whose D lines can't be parsed unambiguously. */
function diffLines(expected: Uint8Array, actual: Uint8Array): string[] {
  const lines = (b: Uint8Array) => Buffer.from(b).toString().split('\n').filter((l) => l !== '');
  const want = lines(expected);
  const got = lines(actual);
  const gotSet = new Set(got);
  const wantSet = new Set(want);
  return [
    ...want.filter((l) => !gotSet.has(l)).map((l) => `missing: ${l}`),
    ...got.filter((l) => !wantSet.has(l)).map((l) => `unexpected: ${l}`),
  ];
}

/**
 * The differences going from `expected` to `actual`, one line each, in path order. Empty when
 * the manifests are equal.
 */
export function diffManifests(expected: Uint8Array, actual: Uint8Array, alg: Algorithm): string[] {
  if (Buffer.from(expected).equals(Buffer.from(actual))) return [];
  if (alg === 'sha1') return diffLines(expected, actual);
  let want: Map<string, ManifestEntry>;
  let got: Map<string, ManifestEntry>;
  try {
    want = entryMap(parseManifest(expected));
    got = entryMap(parseManifest(actual));
  } catch (err) {
    if (err instanceof ManifestError) return [`the stored manifest is unreadable (${err.message})`, ...diffLines(expected, actual)];
    throw err;
  }
  const keys = [...new Set([...want.keys(), ...got.keys()])].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
  const out: string[] = [];
  for (const key of keys) {
    const path = Buffer.from(key, 'latin1').toString();
    const w = want.get(key);
    const g = got.get(key);
    if (w && !g) out.push(`missing ${KIND_NAME[w.kind]} ${path}`);
    else if (!w && g) out.push(`extra ${KIND_NAME[g.kind]} ${path}`);
    else if (w && g) out.push(...describe(path, w, g));
  }
  // Same entries but different bytes (e.g. a reordered hand-edited manifest).
  if (out.length === 0) out.push('the manifests list the same entries but differ in order or format');
  return out;
}

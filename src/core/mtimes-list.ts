// The body of `GET /implementation/<digest>/mtimes`: the mtimes the manifest does not carry, one
// line per directory and symlink of the tree, `<mtime seconds> <path>\n`, the path as the
// manifest's D lines write it (a leading slash, raw bytes). A swarm client sets them on its
// staging tree so that its directories and symlinks get the times `0install store add` of the
// tar gives. They are not part of the digest: the parser is lenient (a malformed line is
// skipped), and the client applies only paths the verified manifest lists as D or S.

/** Larger bodies are not sent whole (the peer stops at a line) nor read past (the client). */
export const MAX_MTIMES_BYTES = 16 * 1024 * 1024;

const NL = 0x0a;
const SP = 0x20;
const SLASH = 0x2f;

/** One line: `path` relative to the tree's root, without a leading slash. */
export function mtimeLine(mtime: bigint | number, path: Uint8Array): Buffer {
  const head = Buffer.from(`${BigInt(mtime)} /`, 'latin1');
  return Buffer.concat([head, path, Buffer.of(NL)]);
}

/** Path (latin1 of its bytes, without the leading slash) → mtime; malformed lines are skipped. */
export function parseMtimes(body: Uint8Array): Map<string, bigint> {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out = new Map<string, bigint>();
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(NL, start);
    if (end < 0) end = buf.length + 1; // an unterminated last line (a body cut short) is skipped
    const line = buf.subarray(start, Math.min(end, buf.length));
    start = end + 1;
    if (end > buf.length) break;
    const sp = line.indexOf(SP);
    if (sp < 1 || line[sp + 1] !== SLASH || line.length < sp + 3) continue;
    const num = line.toString('latin1', 0, sp);
    if (!/^-?(0|[1-9][0-9]{0,15})$/.test(num)) continue;
    out.set(line.toString('latin1', sp + 2), BigInt(num));
  }
  return out;
}

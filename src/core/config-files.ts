// The text formats of 0share's configuration files: `peers` (one HOST[:PORT] per line, `#`
// comments) and `config` (`skip-iface PATTERN…` lines). Pure parsing; src/io/config-files.ts
// finds and reads the files.

export interface PeersLine {
  readonly spec: string;
  readonly line: number;
}

/** Strips `#` comments and blank lines; each remaining line is one HOST[:PORT] (checked when used). */
export function parsePeersFile(text: string): PeersLine[] {
  const out: PeersLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const spec = raw.replace(/#.*/, '').trim();
    if (spec) out.push({ spec, line: i + 1 });
  });
  return out;
}

export interface ConfigFile {
  /** Interface name patterns discovery skips besides the built-in ones. */
  readonly skipIfaces: readonly string[];
  /** Lines that are not a known setting, as `line N: text`. */
  readonly unknown: readonly string[];
}

/** `skip-iface PATTERN [PATTERN…]` lines (repeatable); `#` comments. */
export function parseConfigFile(text: string): ConfigFile {
  const skipIfaces: string[] = [];
  const unknown: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return;
    if (words[0] === 'skip-iface' && words.length > 1) skipIfaces.push(...words.slice(1));
    else unknown.push(`line ${i + 1}: ${raw.trim()}`);
  });
  return { skipIfaces, unknown };
}

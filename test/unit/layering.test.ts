// The machines stay free of I/O: no node:* module (nor a bare Node built-in) under src/machines,
// and nothing there imports from src/io.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/machines/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

describe('src/machines imports', () => {
  it.each(files)('%s imports no Node built-in and no I/O adapter', (f) => {
    const src = readFileSync(join(dir, f), 'utf8');
    const specs = [...src.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]);
    for (const s of specs) {
      expect(s!.startsWith('node:'), `${f} imports ${s}`).toBe(false);
      expect(builtinModules.includes(s!), `${f} imports ${s}`).toBe(false);
      expect(s!.includes('/io/'), `${f} imports ${s}`).toBe(false);
    }
  });

  it('the package exports the machines', async () => {
    const lib = await import('../../src/index.js');
    expect(typeof lib.transferMachine).toBe('object');
    expect(typeof lib.queryMachine).toBe('object');
    expect(typeof lib.serverSessionMachine).toBe('object');
    expect(typeof lib.fetch).toBe('function');
    expect(typeof lib.serve).toBe('function');
    expect(typeof lib.query).toBe('function');
  });
});

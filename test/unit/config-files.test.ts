// The config file formats: static peers (HOST[:PORT] lines, # comments) and skip-iface settings;
// and where the files are looked for.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigFile, parsePeersFile } from '../../src/core/config-files.js';
import { configDirs, readSkipIfaces, readStaticPeers } from '../../src/io/config-files.js';

describe('parsePeersFile', () => {
  it('keeps one spec per line, without comments, blanks or surrounding space, with its line number', () => {
    const text = '# our peers\n10.0.0.5\n\n  nas.lan:4000   # the NAS\n[fe80::1%eth0]:38339\n#10.0.0.6\n';
    expect(parsePeersFile(text)).toEqual([
      { spec: '10.0.0.5', line: 2 },
      { spec: 'nas.lan:4000', line: 4 },
      { spec: '[fe80::1%eth0]:38339', line: 5 },
    ]);
  });
});

describe('parseConfigFile', () => {
  it('collects skip-iface patterns and names unknown lines', () => {
    const c = parseConfigFile('skip-iface eth1 vpn*\n# x\nskip-iface lxcbr0\nfrobnicate yes\nskip-iface\n');
    expect(c.skipIfaces).toEqual(['eth1', 'vpn*', 'lxcbr0']);
    expect(c.unknown).toEqual(['line 4: frobnicate yes', 'line 5: skip-iface']);
  });
});

describe('config files on disk', () => {
  it('looks in $XDG_CONFIG_HOME/0share (else ~/.config/0share), then /etc/0share', () => {
    expect(configDirs({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toEqual(['/x/0share', '/etc/0share']);
    expect(configDirs({ HOME: '/h' })).toEqual(['/h/.config/0share', '/etc/0share']);
  });

  it('reads the user’s peers and config files; a missing file is nothing', () => {
    const root = mkdtempSync(join(tmpdir(), '0share-config-'));
    try {
      const env = { XDG_CONFIG_HOME: root };
      expect(readStaticPeers(env).filter((p) => p.from.startsWith(root))).toEqual([]);
      mkdirSync(join(root, '0share'));
      writeFileSync(join(root, '0share', 'peers'), '10.0.0.5 # a\nnas.lan:4000\n');
      writeFileSync(join(root, '0share', 'config'), 'skip-iface eth9\n');
      expect(readStaticPeers(env).filter((p) => p.from.startsWith(root))).toEqual([
        { spec: '10.0.0.5', from: `${join(root, '0share', 'peers')}:1` },
        { spec: 'nas.lan:4000', from: `${join(root, '0share', 'peers')}:2` },
      ]);
      expect(readSkipIfaces(env)).toContain('eth9');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// The `0share run|download` command line: 0share's options are taken out, 0install's are kept
// verbatim (solver ones also for `select`), and parsing stops at the URI like 0install's.
import { describe, expect, it } from 'vitest';
import { parseRunCommandLine, RunUsageError } from '../../src/core/run-options.js';

describe('parseRunCommandLine', () => {
  it('passes everything after the URI to the program, options included', () => {
    const cl = parseRunCommandLine('run', ['feed.xml', '--foo', '-x', '--', 'bar']);
    expect(cl.uri).toBe('feed.xml');
    expect(cl.programArgs).toEqual(['--foo', '-x', '--', 'bar']);
    expect(cl.zeroinstallOptions).toEqual([]);
  });

  it("takes 0share's own options out, in every form", () => {
    const cl = parseRunCommandLine('run', ['-H', 'a', '--host=b:1234', '-Hc', '--timeout', '300', '--port=4000', '--system', 'u']);
    expect(cl).toMatchObject({ hosts: ['a', 'b:1234', 'c'], timeout: '300', port: '4000', system: true, uri: 'u', zeroinstallOptions: [], selectOptions: [] });
    expect(cl).toMatchObject({ skipIfaces: [], mdns: true, wholeTar: false });
    const d = parseRunCommandLine('download', ['--skip-iface', 'eth1', '--skip-iface=vpn*', '--no-mdns', '--whole-tar', '-v', 'u']);
    expect(d).toMatchObject({ skipIfaces: ['eth1', 'vpn*'], mdns: false, wholeTar: true, uri: 'u', zeroinstallOptions: ['-v'] });
  });

  it('keeps 0install options verbatim and gives select only the solver ones', () => {
    const cl = parseRunCommandLine('run', ['-v', '--command=test', '--version', '2..', '-m', 'bin/x', '-w', 'gdb --args', '--version-for', 'http://a/b.xml', '1..', '-g', '--with-store=/s', 'u', 'arg']);
    expect(cl.zeroinstallOptions).toEqual(['-v', '--command=test', '--version', '2..', '-m', 'bin/x', '-w', 'gdb --args', '--version-for', 'http://a/b.xml', '1..', '-g', '--with-store=/s']);
    expect(cl.selectOptions).toEqual(['-v', '--command=test', '--version', '2..', '--version-for', 'http://a/b.xml', '1..', '--with-store=/s']);
    expect(cl.withStores).toEqual(['/s']);
    expect(cl.uri).toBe('u');
    expect(cl.programArgs).toEqual(['arg']);
  });

  it('splits clusters of short options, with inline or following values', () => {
    const cl = parseRunCommandLine('run', ['-vcr', '-mbin/x', '-om', 'y', 'u']);
    expect(cl.zeroinstallOptions).toEqual(['-v', '-c', '-r', '-m', 'bin/x', '-o', '-m', 'y']);
    expect(cl.selectOptions).toEqual(['-v', '-c', '-r', '-o']);
    expect(cl.offline).toBe(true);
    expect(cl.uri).toBe('u');
  });

  it('notices --offline, --dry-run and --help', () => {
    expect(parseRunCommandLine('download', ['--offline', 'u']).offline).toBe(true);
    expect(parseRunCommandLine('run', ['--dry-run', 'u']).dryRun).toBe(true);
    expect(parseRunCommandLine('run', ['-h']).help).toBe(true);
    expect(parseRunCommandLine('run', ['--help']).uri).toBeUndefined();
  });

  it('passes unknown options to 0install (which reports them) and stops at --', () => {
    const cl = parseRunCommandLine('download', ['--bogus', '-Z', '--', '-odd-uri']);
    expect(cl.zeroinstallOptions).toEqual(['--bogus', '-Z']);
    expect(cl.uri).toBe('-odd-uri');
  });

  it('keeps --show and --xml for download only', () => {
    const cl = parseRunCommandLine('download', ['--show', '--xml', 'u']);
    expect(cl.zeroinstallOptions).toEqual(['--show', '--xml']);
    expect(cl.selectOptions).toEqual([]);
  });

  it('reports a missing value and a value given to a flag', () => {
    expect(() => parseRunCommandLine('run', ['--command'])).toThrow(RunUsageError);
    expect(() => parseRunCommandLine('run', ['--version-for', 'x'])).toThrow(/2 values/);
    expect(() => parseRunCommandLine('run', ['--system=yes', 'u'])).toThrow(/takes no value/);
    expect(() => parseRunCommandLine('run', ['-H'])).toThrow(/-H needs a value/);
  });

  it('has no URI when there are only options', () => {
    expect(parseRunCommandLine('run', ['-v']).uri).toBeUndefined();
  });
});

// What fetch/query tell the user: the original lines, success lines, one failure message per
// digest with the advice that applies, the --json shape; and the client option parsers.
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import type { TransferOutput } from '../../src/machines/transfer.machine.js';
import { failureMessage, hasLine, jsonResult, successLine, type ReportContext } from '../../src/bin/fetch-report.js';
import { parseByteSize, wholeNumber } from '../../src/bin/commands/client-options.js';
import { normalizeArgv, unknownCommand } from '../../src/bin/argv.js';

const D = parseDigest('sha1new=' + '84e3'.repeat(10));
const DS = 'sha1new=' + '84e3'.repeat(10);
const broadcast: ReportContext = { timeout: 250, port: 38339, hosts: [] };
const unicast: ReportContext = { timeout: 250, port: 38339, hosts: ['10.0.0.9'] };
const base = { digest: D, attempts: [], bytes: 0 } as const;
const p1 = { host: '192.168.2.1', port: 38339 };

describe('result lines', () => {
  it('prints who has what as the original did, with the port only when it is not the default', () => {
    expect(hasLine(DS, p1)).toBe(`192.168.2.1 has ${DS}`);
    expect(hasLine(DS, { host: '127.0.0.1', port: 4000 })).toBe(`127.0.0.1:4000 has ${DS}`);
    expect(hasLine(DS, { host: '::1', port: 4000 })).toBe(`[::1]:4000 has ${DS}`);
  });

  it('reports committed and cached digests', () => {
    expect(successLine({ ...base, status: 'committed', peer: p1, bytes: 10240, path: '/s/x' })).toBe(`Fetched ${DS} from 192.168.2.1 (10240 bytes) into /s/x`);
    expect(successLine({ ...base, status: 'cached', path: '/s/x' })).toBe(`${DS} is already cached in /s/x`);
  });

  it('names every source of a swarm fetch, the largest first', () => {
    const sources = { '192.168.2.1:38339': 100, '192.168.2.2:38339': 900, '192.168.2.3:4000': 0 };
    expect(successLine({ ...base, status: 'committed', peer: p1, bytes: 1000, path: '/s/x', sources })).toBe(
      `Fetched ${DS} from 192.168.2.2 (900 bytes), 192.168.2.1 (100 bytes) into /s/x`,
    );
  });
});

describe('failure messages', () => {
  it('no reply to a broadcast: firewall ports, -H and --timeout', () => {
    const m = failureMessage({ ...base, status: 'failed', failure: 'no-reply' }, broadcast);
    expect(m).toContain(`${DS}: no peer answered within 250 ms`);
    expect(m).toContain('UDP and TCP 38339 are open in its firewall');
    expect(m).toContain('-H HOST');
    expect(m).toContain('--timeout MS');
  });

  it('no reply from -H hosts names them', () => {
    const m = failureMessage({ ...base, status: 'failed', failure: 'no-reply' }, unicast);
    expect(m).toMatch(/^sha1new=\S+: 10\.0\.0\.9 did not offer it within 250 ms/);
    expect(m).toContain('UDP and TCP 38339');
  });

  it('a -H host that never answered is named with its UDP port; hosts that answered are told apart', () => {
    const silent = { host: '10.0.0.9', port: 38339 };
    const m = failureMessage({ ...base, status: 'failed', failure: 'no-reply', unanswered: [silent] }, unicast);
    expect(m).toMatch(/^sha1new=\S+: 10\.0\.0\.9 did not answer \(UDP 38339\) within 250 ms\. /);
    expect(m).not.toContain('other hosts');
    const two: ReportContext = { ...unicast, hosts: ['10.0.0.9', '10.0.0.5:4000'] };
    const m2 = failureMessage({ ...base, status: 'failed', failure: 'no-reply', unanswered: [silent] }, two);
    expect(m2).toContain('10.0.0.9 did not answer (UDP 38339) within 250 ms (the other hosts answered but do not have it)');
    const v6 = failureMessage({ ...base, status: 'failed', failure: 'no-reply', unanswered: [{ host: 'fe80::1', port: 4000 }] }, unicast);
    expect(v6).toContain('[fe80::1] did not answer (UDP 4000)');
    expect(jsonResult({ ...base, status: 'failed', failure: 'no-reply', unanswered: [silent] }, unicast)).toMatchObject({ unanswered: [silent] });
  });

  it('a failed send carries the original advice for an unreachable network', () => {
    const sendError = 'sending the query to 255.255.255.255:38339 failed: Network is unreachable; check the default route (ip route)';
    const m = failureMessage({ ...base, status: 'failed', failure: 'no-reply', sendError }, broadcast);
    expect(m).toBe(`${DS}: could not ask the network: ${sendError}. Or name a peer with -H HOST.`);
  });

  it('every peer failed: one line per peer with its reason', () => {
    const attempts = [
      { peer: p1, reason: 'is busy (HTTP 503), try later' },
      { peer: { host: '192.168.2.7', port: 38339 }, reason: 'stalled: no data for 10000 ms after 5 bytes' },
    ];
    expect(failureMessage({ ...base, status: 'failed', failure: 'peers-failed', attempts }, broadcast)).toBe(
      [
        `${DS}: every peer that offered it failed:`,
        '    192.168.2.1 is busy (HTTP 503), try later',
        '    192.168.2.7 stalled: no data for 10000 ms after 5 bytes',
        '  Try again later, or name another peer with -H HOST.',
      ].join('\n'),
    );
  });

  it('interrupted', () => {
    expect(failureMessage({ ...base, status: 'failed', failure: 'cancelled' }, broadcast)).toBe(`${DS}: interrupted.`);
  });

  it('--json: digest as a string, the message for failures, nothing undefined', () => {
    const ok: TransferOutput = { ...base, status: 'committed', peer: p1, path: '/s/x', bytes: 3 };
    expect(jsonResult(ok, broadcast)).toEqual({ digest: DS, status: 'committed', path: '/s/x', peer: p1, bytes: 3, attempts: [] });
    const bad = jsonResult({ ...base, status: 'failed', failure: 'no-reply' }, broadcast);
    expect(bad).toMatchObject({ digest: DS, status: 'failed', failure: 'no-reply', message: expect.stringContaining('no peer answered') });
    expect(Object.values(bad as Record<string, unknown>)).not.toContain(undefined);
  });
});

describe('client option parsing', () => {
  it('maps the 2008 command line onto fetch', () => {
    expect(normalizeArgv(['-f', DS])).toEqual(['fetch', DS]);
    expect(normalizeArgv(['-f', DS, '-H', '10.0.0.1', '-f', 'sha256new_X'])).toEqual(['fetch', DS, 'sha256new_X', '-H', '10.0.0.1']);
    expect(normalizeArgv(['fetch', DS, '--json'])).toEqual(['fetch', DS, '--json']);
  });

  it('tells a word in the subcommand place that names no subcommand from the default command', () => {
    const commands = ['serve', 'fetch', 'query', 'manifest', 'list', 'verify', 'run', 'download', 'help'];
    expect(unknownCommand(['bogus'], commands)).toBe('bogus');
    expect(unknownCommand(['--debug', 'bogus', 'x'], commands)).toBe('bogus');
    expect(unknownCommand([], commands)).toBeUndefined(); // bare `0share`: the peer
    expect(unknownCommand(['--port', '5000'], commands)).toBeUndefined(); // serve's options, and their values
    expect(unknownCommand(normalizeArgv(['-f', DS, '-H', '10.0.0.1']), commands)).toBeUndefined();
    for (const c of commands) expect(unknownCommand([c], commands)).toBeUndefined();
  });

  it('parses sizes and whole numbers, rejecting anything else with the option name', () => {
    const size = parseByteSize('--max-bytes');
    expect(size('123')).toBe(123);
    expect(size('64K')).toBe(65536);
    expect(size('2G')).toBe(2 * 1024 ** 3);
    expect(size('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(() => size('lots')).toThrow(/--max-bytes must be a size such as 500M or 2G, not 'lots'/);
    expect(() => size('0')).toThrow(/--max-bytes/);
    const ms = wholeNumber('--timeout', 1, 600_000);
    expect(ms('250')).toBe(250);
    expect(() => ms('-1')).toThrow(/--timeout must be a whole number from 1 to 600000, not '-1'/);
    expect(() => ms('1e3')).toThrow(/--timeout/);
  });
});

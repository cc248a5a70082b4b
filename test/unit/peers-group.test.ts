// `0share peers` lists each machine once: its addresses grouped by machine (instance ids), its
// IPv4 address first, how it was found and when last seen over all of them, what the first
// describable address said, and the table's ADDRESS cell naming every address.
import { describe, expect, it } from 'vitest';
import { groupByMachine } from '../../src/api/peers.js';
import { peersTable } from '../../src/bin/commands/peers.js';
import type { KnownPeer } from '../../src/machines/peers.machine.js';
import { peerKey, type Peer } from '../../src/machines/types.js';

const H4: Peer = { host: '10.0.0.2', port: 38339 };
const H6: Peer = { host: 'fe80::2%eth0', port: 38339 };
const K4: Peer = { host: '10.0.0.3', port: 38339 };

const known = (peer: Peer, via: KnownPeer['via'], lastSeen: number, extra: Partial<KnownPeer> = {}): KnownPeer => ({ peer, via, info: {}, lastSeen, ...extra });

describe('groupByMachine', () => {
  const machineOf = (p: Peer) => ({ [peerKey(H4)]: '#h', [peerKey(H6)]: '#h' })[peerKey(p)] ?? peerKey(p);

  it('one entry per machine, IPv4 first, found-by and last-seen over all its addresses', () => {
    const list = [
      known(H6, ['multicast'], 30, { info: { version: '0.1.0', implementations: 3 } }),
      known(K4, ['broadcast'], 10, { info: { version: '0.1.0', implementations: 1 } }),
      known(H4, ['broadcast', 'mdns'], 20, { error: 'GET /stats: no answer within 2000 ms' }),
    ];
    expect(groupByMachine(list, machineOf)).toEqual([
      { peer: H4, via: ['multicast', 'broadcast', 'mdns'], info: { version: '0.1.0', implementations: 3 }, lastSeen: 30, also: [H6] },
      list[1],
    ]);
  });

  it('keeps the errors when no address of the machine could be described', () => {
    const [m] = groupByMachine([known(H4, ['broadcast'], 1, { error: 'refused' }), known(H6, ['multicast'], 2, { error: 'timeout' })], machineOf);
    expect(m!.error).toBe(`${peerKey(H4)}: refused; ${peerKey(H6)}: timeout`);
  });

  it('the table names all of a machine’s addresses in one row', () => {
    const rows = peersTable(groupByMachine([known(H4, ['broadcast'], 0), known(H6, ['multicast'], 0), known(K4, ['broadcast'], 0)], machineOf)).split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/^10\.0\.0\.2 \[fe80::2%eth0\] +\? +\? +broadcast,multicast /);
    expect(rows[2]).toMatch(/^10\.0\.0\.3 /);
  });
});

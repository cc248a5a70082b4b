// Responders: the client's per-digest record of who answered. A listener hears the responders
// heard before it listened, then the new ones, each (digest, peer) pair once; a listener that
// stops before its replay hears nothing; close() stops recording. Partial holders reach only the
// swarm's `holders`, never the transfer machine's `listen`. A machine's other address (its
// IPv6 link-local one, say) is heard as that: `onNew` names the address it answered from first.
import { describe, expect, it } from 'vitest';
import { formatDigest, parseDigest } from '../../src/core/digest.js';
import { peerKey, type Peer } from '../../src/machines/types.js';
import { Responders } from '../../src/api/responders.js';
import type { Discovery, Reply } from '../../src/io/udp-discovery.js';

const D1 = parseDigest('sha256new_' + 'A'.repeat(52));
const D2 = parseDigest('sha1new=' + 'a'.repeat(40));
const K1 = formatDigest(D1);
const A: Peer = { host: '10.0.0.1', port: 38339 };
const B: Peer = { host: '10.0.0.2', port: 38339 };

/** A discovery socket whose replies the test delivers by hand; `machines` maps an address (peerKey) to its machine. */
function fakeDiscovery(machines: Record<string, string> = {}) {
  const subscribers = new Set<(r: Reply) => void>();
  const partialSubscribers = new Set<(r: Reply) => void>();
  const discovery: Discovery = {
    send: async () => undefined,
    hello: async () => undefined,
    targets: () => [],
    here: { subscribe: () => ({ unsubscribe: () => undefined }) },
    replies: {
      subscribe(onReply) {
        subscribers.add(onReply);
        return { unsubscribe: () => void subscribers.delete(onReply) };
      },
    },
    partials: {
      subscribe(onReply) {
        partialSubscribers.add(onReply);
        return { unsubscribe: () => void partialSubscribers.delete(onReply) };
      },
    },
    machineOf: (p) => machines[peerKey(p)] ?? peerKey(p),
    close: () => undefined,
  };
  return {
    discovery,
    deliver: (r: Omit<Reply, 'via'>) => subscribers.forEach((s) => s({ via: 'broadcast', ...r })),
    deliverPartial: (r: Omit<Reply, 'via'>) => partialSubscribers.forEach((s) => s({ via: 'broadcast', ...r })),
    subscribers,
    partialSubscribers,
  };
}

describe('Responders', () => {
  it('replays earlier responders to a late listener, then the new ones, each pair once', async () => {
    const lan = fakeDiscovery();
    const fresh: string[] = [];
    const r = new Responders(lan.discovery, (d, p) => fresh.push(`${d === K1 ? 1 : 2} ${p.host}`));
    lan.deliver({ peer: A, digests: [D1, D2] });
    lan.deliver({ peer: A, digests: [D1] }); // a retransmit's answer: nothing new
    expect(r.answered(K1)).toBe(true);
    expect(r.answered('sha1=00')).toBe(false);
    const heard: Peer[] = [];
    r.listen(K1, (p) => heard.push(p));
    expect(heard).toEqual([]); // not during the caller's own start
    await Promise.resolve();
    expect(heard).toEqual([A]);
    lan.deliver({ peer: B, digests: [D1] });
    lan.deliver({ peer: B, digests: [D1] });
    expect(heard).toEqual([A, B]);
    expect(fresh).toEqual(['1 10.0.0.1', '2 10.0.0.1', '1 10.0.0.2']);
  });

  it('a listener stopped before its replay hears nothing; close() unsubscribes', async () => {
    const lan = fakeDiscovery();
    const r = new Responders(lan.discovery);
    lan.deliver({ peer: A, digests: [D1] });
    const heard: Peer[] = [];
    const stop = r.listen(K1, (p) => heard.push(p));
    stop();
    await Promise.resolve();
    lan.deliver({ peer: B, digests: [D1] });
    expect(heard).toEqual([]);
    expect(lan.subscribers.size).toBe(1);
    r.close();
    expect(lan.subscribers.size).toBe(0);
    expect(lan.partialSubscribers.size).toBe(0);
  });

  it('names the -H hosts that answered nothing at all, in their order', () => {
    const lan = fakeDiscovery();
    const r = new Responders(lan.discovery);
    const C: Peer = { host: '10.0.0.3', port: 4000 };
    expect(r.unanswered(undefined)).toEqual([]);
    lan.deliver({ peer: B, digests: [D2] });
    expect(r.unanswered([A, B, C])).toEqual([A, C]);
    expect(r.unanswered([{ host: '10.0.0.2', port: 4000 }])).toEqual([{ host: '10.0.0.2', port: 4000 }]); // another port is another peer
  });

  it('partial holders reach the swarm (holders), never the transfer machine (listen); one that turns complete is heard again', async () => {
    const lan = fakeDiscovery();
    const fresh: string[] = [];
    const r = new Responders(lan.discovery, (_, p) => fresh.push(p.host));
    lan.deliver({ peer: A, digests: [D1] });
    lan.deliverPartial({ peer: B, digests: [D1] });
    lan.deliverPartial({ peer: A, digests: [D1] }); // already complete: stays so
    const listened: Peer[] = [];
    const held: string[] = [];
    r.listen(K1, (p) => listened.push(p));
    r.holders(K1, (p, partial) => held.push(`${p.host}${partial ? ' partial' : ''}`));
    await Promise.resolve();
    expect(held).toEqual(['10.0.0.1', '10.0.0.2 partial']);
    lan.deliverPartial({ peer: B, digests: [D1] });
    lan.deliver({ peer: B, digests: [D1] });
    expect(held).toEqual(['10.0.0.1', '10.0.0.2 partial', '10.0.0.2']);
    expect(listened).toEqual([A, B]);
    expect(fresh).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(r.answered(formatDigest(D2))).toBe(false);
  });

  it("names a machine's other address by the one it answered from first, per digest; it stays a fallback for listen", async () => {
    const A6: Peer = { host: 'fe80::1%eth0', port: 38339 };
    const lan = fakeDiscovery({ [peerKey(A)]: '#a', [peerKey(A6)]: '#a' });
    const fresh: string[] = [];
    const r = new Responders(lan.discovery, (d, p, _via, sameAs) => fresh.push(`${d === K1 ? 1 : 2} ${p.host}${sameAs ? ` = ${sameAs.host}` : ''}`));
    lan.deliver({ peer: A6, digests: [D1] });
    lan.deliver({ peer: A, digests: [D1, D2] });
    lan.deliver({ peer: B, digests: [D1] });
    expect(fresh).toEqual(['1 fe80::1%eth0', '1 10.0.0.1 = fe80::1%eth0', '2 10.0.0.1', '1 10.0.0.2']);
    const listened: Peer[] = [];
    r.listen(K1, (p) => listened.push(p));
    await Promise.resolve();
    expect(listened).toEqual([A6, A, B]);
  });
});

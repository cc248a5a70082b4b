// DNS-SD records of a peer and reading them back: the address is the one given for the asking
// link, instance names stay apart for peers sharing a host name, TXT carries version, port, count.
import { describe, expect, it } from 'vitest';
import { asksForUs, names, recordsFor, SERVICE, servicesIn } from '../../src/core/dns-sd.js';

const advert = { host: 'alice.laptop', port: 38339, version: '0.1.0', implementations: 12 };

describe('recordsFor / servicesIn', () => {
  it('round-trips a peer’s service with the address of the asking link', () => {
    const { answers, additionals } = recordsFor(advert, '10.77.1.2');
    expect(answers).toEqual([{ name: SERVICE, type: 'PTR', ttl: 10, data: 'alice-laptop-10-77-1-2._0share._tcp.local' }]);
    expect(servicesIn([...answers, ...additionals])).toEqual([
      {
        instance: 'alice-laptop-10-77-1-2._0share._tcp.local',
        address: '10.77.1.2',
        port: 38339,
        txt: { txtvers: '1', version: '0.1.0', port: '38339', implementations: '12' },
      },
    ]);
  });

  it('reads TXT data as dns-packet decodes it (buffers), and skips instances without SRV', () => {
    const { answers, additionals } = recordsFor(advert, '10.0.0.1');
    const decoded = [...answers, ...additionals].map((r) => (r.type === 'TXT' ? { ...r, data: (r.data as string[]).map((s) => Buffer.from(s)) } : r));
    expect(servicesIn(decoded)[0]!.txt.version).toBe('0.1.0');
    expect(servicesIn(answers)).toEqual([]);
  });

  it('gives peers with one host name different instances per address', () => {
    expect(names(advert, '10.0.0.1').instance).not.toBe(names(advert, '10.0.0.2').instance);
  });
});

describe('asksForUs', () => {
  const own = names(advert, '10.0.0.1');
  it('answers PTR/ANY questions for the service and questions naming our records', () => {
    expect(asksForUs({ name: '_0share._TCP.local', type: 'PTR' }, own)).toBe(true);
    expect(asksForUs({ name: SERVICE, type: 'ANY' }, own)).toBe(true);
    expect(asksForUs({ name: own.instance, type: 'SRV' }, own)).toBe(true);
    expect(asksForUs({ name: own.target, type: 'A' }, own)).toBe(true);
  });
  it('ignores other services and other types', () => {
    expect(asksForUs({ name: '_http._tcp.local', type: 'PTR' }, own)).toBe(false);
    expect(asksForUs({ name: SERVICE, type: 'A' }, own)).toBe(false);
  });
});

// DNS-SD for 0share as pure logic: the records a peer answers for `_0share._tcp.local` (PTR to its
// instance, SRV with the port, TXT with version, port and implementation count, and an A record
// with its address on the interface the question came from), and reading those records back out
// of a response. The records have the shape multicast-dns (dns-packet) encodes and decodes.

export const SERVICE = '_0share._tcp.local';
/** TTL of every record, in seconds (RFC 6762 asks at most 10 for legacy unicast answers). */
export const TTL = 10;

export type Record =
  | { name: string; type: 'PTR'; ttl: number; data: string }
  | { name: string; type: 'SRV'; ttl: number; data: { port: number; target: string; priority?: number; weight?: number } }
  | { name: string; type: 'TXT'; ttl: number; data: string | Uint8Array | Array<string | Uint8Array> }
  | { name: string; type: 'A' | 'AAAA'; ttl: number; data: string };

export interface Question {
  name: string;
  type: string;
}

export interface Advert {
  /** The host name to show (a DNS label: the machine's host name). */
  host: string;
  port: number;
  version: string;
  /** Implementations served. */
  implementations: number;
}

/** A DNS label made of `s`: letters, digits and '-' only, at most 63 characters. */
function label(s: string): string {
  return (s.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'peer').slice(0, 63);
}

/**
 * The instance and host names for an advert seen at `address`: the address is part of both, so
 * peers sharing a host name (containers, namespaces) stay apart and each interface's answer names
 * the address valid there.
 */
export function names(a: Advert, address: string): { instance: string; target: string } {
  const base = label(`${a.host}-${address.replace(/[.:]/g, '-')}`);
  return { instance: `${base}.${SERVICE}`, target: `${base}.local` };
}

export function txtOf(a: Advert): string[] {
  return ['txtvers=1', `version=${a.version}`, `port=${a.port}`, `implementations=${a.implementations}`];
}

/** Whether a question asks for our service (PTR/ANY of the type) or names one of our records. */
export function asksForUs(q: Question, own: { instance: string; target: string }): boolean {
  const n = q.name.toLowerCase();
  if (n === SERVICE.toLowerCase()) return q.type === 'PTR' || q.type === 'ANY';
  return n === own.instance.toLowerCase() || n === own.target.toLowerCase();
}

/** The answer (PTR) and additional records (SRV, TXT, A) for a peer whose address on the asking link is `address`. */
export function recordsFor(a: Advert, address: string): { answers: Record[]; additionals: Record[] } {
  const own = names(a, address);
  return {
    answers: [{ name: SERVICE, type: 'PTR', ttl: TTL, data: own.instance }],
    additionals: [
      { name: own.instance, type: 'SRV', ttl: TTL, data: { port: a.port, target: own.target, priority: 0, weight: 0 } },
      { name: own.instance, type: 'TXT', ttl: TTL, data: txtOf(a) },
      { name: own.target, type: address.includes(':') ? 'AAAA' : 'A', ttl: TTL, data: address },
    ],
  };
}

export interface FoundService {
  instance: string;
  /** The address from the A (or AAAA) record, if the response had one. */
  address?: string;
  port: number;
  txt: Readonly<globalThis.Record<string, string>>;
}

function txtPairs(data: Extract<Record, { type: 'TXT' }>['data']): globalThis.Record<string, string> {
  const items = Array.isArray(data) ? data : [data];
  const out: globalThis.Record<string, string> = {};
  for (const item of items) {
    const s = typeof item === 'string' ? item : new TextDecoder().decode(item);
    const eq = s.indexOf('=');
    if (eq > 0) out[s.slice(0, eq).toLowerCase()] = s.slice(eq + 1);
  }
  return out;
}

/** The `_0share._tcp` services a response describes (instances without an SRV record are left out). */
export function servicesIn(records: readonly Record[]): FoundService[] {
  const instances = records.filter((r) => r.type === 'PTR' && r.name.toLowerCase() === SERVICE.toLowerCase()).map((r) => r.data as string);
  const out: FoundService[] = [];
  for (const instance of new Set(instances)) {
    const srv = records.find((r): r is Extract<Record, { type: 'SRV' }> => r.type === 'SRV' && r.name.toLowerCase() === instance.toLowerCase());
    if (!srv || !Number.isInteger(srv.data.port) || srv.data.port < 1) continue;
    const txt = records.find((r): r is Extract<Record, { type: 'TXT' }> => r.type === 'TXT' && r.name.toLowerCase() === instance.toLowerCase());
    const target = srv.data.target.toLowerCase();
    const addr = records.find((r) => r.type === 'A' && r.name.toLowerCase() === target) ?? records.find((r) => r.type === 'AAAA' && r.name.toLowerCase() === target);
    out.push({ instance, address: addr?.data as string | undefined, port: srv.data.port, txt: txt ? txtPairs(txt.data) : {} });
  }
  return out;
}

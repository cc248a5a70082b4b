// What `0share fetch` and `0share query` tell the user: the original 0share's lines
// (`10.0.0.1 has sha1new=…`, `Success`) and, per failed digest, what happened and what to try,
// with the original's advice where it applies. Pure functions, so they are unit-tested.
import { formatDigest } from '../core/digest.js';
import { DEFAULT_PORT } from '../core/protocol.js';
import type { FetchResult } from '../api/fetch.js';
import type { Peer } from '../machines/types.js';

export interface ReportContext {
  /** Discovery window in ms. */
  readonly timeout: number;
  readonly port: number;
  /** The -H hosts, if the query went to them rather than by broadcast. */
  readonly hosts: readonly string[];
}

export function showPeer(p: Peer): string {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return p.port === DEFAULT_PORT ? host : `${host}:${p.port}`;
}

/** `10.0.0.9 did not answer (UDP 38339)` for each `-H` host that answered nothing at all. */
export function unansweredText(hosts: readonly Peer[]): string {
  return hosts.map((h) => `${h.host.includes(':') ? `[${h.host}]` : h.host} did not answer (UDP ${h.port})`).join(', ');
}

export function hasLine(digest: string, peer: Peer): string {
  return `${showPeer(peer)} has ${digest}`;
}

function noReply(r: FetchResult, ctx: ReportContext): string {
  const d = formatDigest(r.digest);
  const firewall = `UDP and TCP ${ctx.port} are open in its firewall`;
  if (r.sendError) {
    return `${d}: could not ask the network: ${r.sendError}.${ctx.hosts.length ? '' : ' Or name a peer with -H HOST.'}`;
  }
  if (r.unanswered?.length) {
    const others = r.unanswered.length < ctx.hosts.length ? ' (the other hosts answered but do not have it)' : '';
    return (
      `${d}: ${unansweredText(r.unanswered)} within ${ctx.timeout} ms${others}. ` +
      `Check that 0share runs there and has it, and that ${firewall}; --timeout MS waits longer.`
    );
  }
  if (ctx.hosts.length) {
    return `${d}: ${ctx.hosts.join(', ')} did not offer it within ${ctx.timeout} ms. Check that 0share runs there and has it, and that ${firewall}; --timeout MS waits longer.`;
  }
  return (
    `${d}: no peer answered within ${ctx.timeout} ms. Check that a peer on this network runs 0share and has it, and that ${firewall}. ` +
    `If broadcasts do not reach it, name it with -H HOST; --timeout MS waits longer.`
  );
}

/** One message per digest that did not arrive: what happened and what to try. */
export function failureMessage(r: FetchResult, ctx: ReportContext): string {
  const d = formatDigest(r.digest);
  switch (r.failure) {
    case 'cancelled':
      return `${d}: interrupted.`;
    case 'local':
      return `${d}: could not store it: ${r.localError}. Free some space or fix the store's permissions (or choose another with --store DIR), then try again.`;
    case 'peers-failed': {
      const lines = r.attempts.map((a) => `    ${showPeer(a.peer)} ${a.reason}`);
      return [`${d}: every peer that offered it failed:`, ...lines, `  Try again later, or name another peer with -H HOST.`].join('\n');
    }
    default:
      return noReply(r, ctx);
  }
}

/** The line printed on stdout for a digest that is now in a store. */
export function successLine(r: FetchResult): string {
  const d = formatDigest(r.digest);
  if (r.status === 'cached') return `${d} is already cached in ${r.path}`;
  const sent = Object.entries(r.sources ?? {}).filter(([, n]) => n > 0);
  if (sent.length > 1) {
    const from = sent.sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k.replace(/:38339$/, '')} (${n} bytes)`);
    return `Fetched ${d} from ${from.join(', ')} into ${r.path}`;
  }
  return `Fetched ${d} from ${showPeer(r.peer!)} (${r.bytes} bytes) into ${r.path}`;
}

/** The machine-readable form of a result (`--json`). */
export function jsonResult(r: FetchResult, ctx: ReportContext) {
  return {
    digest: formatDigest(r.digest),
    status: r.status,
    ...(r.path ? { path: r.path } : {}),
    ...(r.peer ? { peer: r.peer } : {}),
    ...(r.sources ? { sources: r.sources } : {}),
    bytes: r.bytes,
    attempts: r.attempts,
    ...(r.failure ? { failure: r.failure, message: failureMessage(r, ctx) } : {}),
    ...(r.sendError ? { sendError: r.sendError } : {}),
    ...(r.unanswered ? { unanswered: r.unanswered } : {}),
    ...(r.localError ? { localError: r.localError } : {}),
  };
}

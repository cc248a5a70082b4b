// The record of one fetch of one digest, for `0share why`: where the query went, who answered,
// each transfer tried (and why it failed), and where the bytes came from. The fetching process
// builds it from its fetch events (recordEvent, a pure reducer) and reports it to the local peer,
// which checks what it receives with parseFetchRecord before keeping it in memory.

/** A fetch event, as src/api/fetch.ts emits it (peers as `host:port` text here). */
export type RecordEvent =
  | { type: 'asked'; targets: readonly string[] }
  /** `sameAs`: the address this peer's machine answered from first (this is another address of it). */
  | { type: 'reply'; peer: string; via?: string; sameAs?: string }
  | { type: 'connecting'; peer: string }
  | { type: 'progress'; peer: string; bytes: number; expected?: number }
  | { type: 'peer-failed'; peer: string; reason: string }
  | { type: 'done'; status: string; peer?: string; bytes: number; path?: string; failure?: string };

export type FetchState = 'asking' | 'transferring' | 'committed' | 'cached' | 'failed';

export interface AttemptRecord {
  readonly peer: string;
  readonly outcome: 'transferring' | 'failed' | 'succeeded';
  readonly reason?: string;
  readonly bytes: number;
  readonly expected?: number;
}

export interface FetchRecord {
  /** Random id of this fetch (one process fetching one digest). */
  readonly id: string;
  readonly digest: string;
  /** What it was fetched for, e.g. the interface URI from a selections document. */
  readonly name?: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly state: FetchState;
  /** Where the query went: `-H` hosts, broadcast addresses, … */
  readonly asked: readonly string[];
  /** One entry per machine: the address it answered from first, and its other addresses that answered. */
  readonly answered: readonly Answer[];
  readonly attempts: readonly AttemptRecord[];
  /** The peer the committed implementation came from. */
  readonly source?: string;
  /** Bytes received, all attempts together. */
  readonly bytes: number;
  /** Why the whole fetch failed. */
  readonly failure?: string;
  readonly path?: string;
}

export interface Answer {
  readonly peer: string;
  readonly via?: string;
  readonly at: number;
  readonly also?: readonly string[];
}

export function newRecord(id: string, digest: string, now: number, name?: string): FetchRecord {
  return { id, digest, name, startedAt: now, updatedAt: now, state: 'asking', asked: [], answered: [], attempts: [], bytes: 0 };
}

/** Replaces the last attempt with `peer` (or adds one). */
function withAttempt(attempts: readonly AttemptRecord[], peer: string, change: (a: AttemptRecord) => AttemptRecord): AttemptRecord[] {
  const i = attempts.map((a) => a.peer).lastIndexOf(peer);
  const base: AttemptRecord = { peer, outcome: 'transferring', bytes: 0 };
  if (i < 0 || attempts[i]!.outcome !== 'transferring') return [...attempts, change(base)];
  return attempts.map((a, j) => (j === i ? change(a) : a));
}

const sum = (attempts: readonly AttemptRecord[]) => attempts.reduce((n, a) => n + a.bytes, 0);

/** The record after one more event at time `now`. */
export function recordEvent(r: FetchRecord, e: RecordEvent, now: number): FetchRecord {
  const at = { ...r, updatedAt: now };
  switch (e.type) {
    case 'asked':
      return { ...at, asked: [...new Set([...r.asked, ...e.targets])] };
    case 'reply': {
      if (r.answered.some((a) => a.peer === e.peer || a.also?.includes(e.peer))) return at;
      const first = e.sameAs === undefined ? -1 : r.answered.findIndex((a) => a.peer === e.sameAs);
      if (first < 0) return { ...at, answered: [...r.answered, { peer: e.peer, via: e.via, at: now }] };
      return { ...at, answered: r.answered.map((a, i) => (i === first ? { ...a, also: [...(a.also ?? []), e.peer] } : a)) };
    }
    case 'connecting': {
      const attempts = withAttempt(r.attempts, e.peer, (a) => a);
      return { ...at, state: 'transferring', attempts };
    }
    case 'progress': {
      const attempts = withAttempt(r.attempts, e.peer, (a) => ({ ...a, bytes: e.bytes, expected: e.expected ?? a.expected }));
      return { ...at, state: 'transferring', attempts, bytes: sum(attempts) };
    }
    case 'peer-failed': {
      const attempts = withAttempt(r.attempts, e.peer, (a) => ({ ...a, outcome: 'failed', reason: e.reason }));
      return { ...at, attempts, state: 'asking' };
    }
    case 'done': {
      const ok = e.status === 'committed' || e.status === 'cached';
      const attempts = e.peer && e.status === 'committed' ? withAttempt(r.attempts, e.peer, (a) => ({ ...a, outcome: 'succeeded', bytes: Math.max(a.bytes, e.bytes) })) : [...r.attempts];
      return {
        ...at,
        state: e.status === 'committed' ? 'committed' : e.status === 'cached' ? 'cached' : 'failed',
        attempts,
        bytes: sum(attempts),
        source: ok ? e.peer : undefined,
        path: e.path,
        failure: ok ? undefined : (e.failure ?? e.status),
      };
    }
  }
}

/** Limits on what the peer accepts: a record is small, and a local process cannot make it large. */
export const RECORD_LIMITS = { text: 1000, list: 64, bodyBytes: 64 * 1024 } as const;

export class RecordError extends Error {
  override name = 'RecordError';
}

type Json = Record<string, unknown>;

function str(o: Json, key: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length > RECORD_LIMITS.text) throw new RecordError(`${key} must be a string of at most ${RECORD_LIMITS.text} characters`);
  return v;
}

function num(o: Json, key: string, optional = false): number | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RecordError(`${key} must be a whole number`);
  return v;
}

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RecordError(`${what} must be an object`);
  return v as Json;
}

function list<T>(o: Json, key: string, item: (v: unknown) => T): T[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length > RECORD_LIMITS.list) throw new RecordError(`${key} must be a list of at most ${RECORD_LIMITS.list}`);
  return v.map(item);
}

function oneOf<T extends string>(o: Json, key: string, values: readonly T[]): T {
  const v = o[key];
  if (!values.includes(v as T)) throw new RecordError(`${key} must be one of ${values.join(', ')}`);
  return v as T;
}

const STATES: readonly FetchState[] = ['asking', 'transferring', 'committed', 'cached', 'failed'];
const OUTCOMES: readonly AttemptRecord['outcome'][] = ['transferring', 'failed', 'succeeded'];

/** A record as posted by a fetching process, checked field by field; only the known fields are kept. */
export function parseFetchRecord(value: unknown): FetchRecord {
  const o = obj(value, 'the record');
  const digest = str(o, 'digest')!;
  if (!/^[A-Za-z0-9=_]{1,200}$/.test(digest)) throw new RecordError('digest must be a digest');
  return {
    id: str(o, 'id')!,
    digest,
    name: str(o, 'name', true),
    startedAt: num(o, 'startedAt')!,
    updatedAt: num(o, 'updatedAt')!,
    state: oneOf(o, 'state', STATES),
    asked: list(o, 'asked', (v) => str({ v }, 'v')!),
    answered: list(o, 'answered', (v) => {
      const a = obj(v, 'an answer');
      const also = a.also === undefined ? undefined : list(a, 'also', (x) => str({ x }, 'x')!);
      return { peer: str(a, 'peer')!, via: str(a, 'via', true), at: num(a, 'at')!, ...(also ? { also } : {}) };
    }),
    attempts: list(o, 'attempts', (v) => {
      const a = obj(v, 'an attempt');
      return { peer: str(a, 'peer')!, outcome: oneOf(a, 'outcome', OUTCOMES), reason: str(a, 'reason', true), bytes: num(a, 'bytes')!, expected: num(a, 'expected', true) };
    }),
    source: str(o, 'source', true),
    bytes: num(o, 'bytes')!,
    failure: str(o, 'failure', true),
    path: str(o, 'path', true),
  };
}

/** `0share why`'s report: what happened, line by line. */
export function explainFetch(r: FetchRecord): string[] {
  const when = new Date(r.startedAt).toISOString().replace('T', ' ').slice(0, 19);
  const lines = [`${r.digest}${r.name ? ` (${r.name})` : ''}: fetched at ${when} UTC; ${describeState(r)}`];
  lines.push(`  asked: ${r.asked.length ? r.asked.join(', ') : '(nobody: every store already had it, or the query was never sent)'}`);
  if (r.answered.length === 0) lines.push('  answered: nobody');
  for (const a of r.answered) {
    const notes = [...(a.via ? [`found by ${a.via}`] : []), ...(a.also?.length ? [`also at ${a.also.join(', ')}`] : [])];
    lines.push(`  answered: ${a.peer}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  }
  for (const a of r.attempts) {
    const size = a.expected ? `${a.bytes} of ${a.expected} bytes` : `${a.bytes} bytes`;
    const what = a.outcome === 'succeeded' ? 'sent it' : a.outcome === 'failed' ? `failed: ${a.reason ?? 'no reason given'}` : 'was still sending';
    lines.push(`  transfer from ${a.peer}: ${what} (${size})`);
  }
  if (r.source) lines.push(`  the bytes came from ${r.source}${r.path ? `; stored in ${r.path}` : ''}`);
  else if (r.state === 'cached') lines.push(`  nothing was transferred: it was already in ${r.path ?? 'a store'}`);
  return lines;
}

function describeState(r: FetchRecord): string {
  switch (r.state) {
    case 'committed':
      return 'fetched and verified';
    case 'cached':
      return 'already in a store';
    case 'failed':
      return `failed (${r.failure ?? 'unknown reason'})`;
    default:
      return `still in progress (${r.state})`;
  }
}

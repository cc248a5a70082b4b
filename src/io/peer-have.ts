// The swarm's have poller: asks each partial holder which files of the digest it has verified,
// and which its own fetch is writing now (`GET /implementation/<digest>/have?with=fetching`: two
// bitmaps of src/core/have-bitmap.ts), about every `interval` ms, one request at a time per peer,
// and hands each answer on as plain data (two plan-file index lists). A peer that refuses the
// query string (400: a peer from before it) is asked the plain `/have` from then on, and said to
// fetch nothing. A 404 (the partial dir is gone and nothing complete replaced it) says "nothing";
// a peer that cannot be reached, or answers something that is not the bitmaps of the right size,
// is asked again next time. `track` sets which peers are polled (the swarm's usable partial
// holders); `close` stops every timer and request and closes the poller's kept-alive connections
// (one per peer, src/io/connection-pool.ts): the swarm's owner calls it when the swarm ends.
import { formatDigest, type Digest } from '../core/digest.js';
import { decodeHave, haveBytes } from '../core/have-bitmap.js';
import { peerKey, type Peer } from '../machines/types.js';
import { ConnectionPool } from './connection-pool.js';
import { exchange, type Exchange } from './http-exchange.js';

export interface HavePollOptions {
  readonly digest: Digest;
  /** Files and symlinks in the manifest (the plan's files): the bitmap's length in bits. */
  readonly files: number;
  /** ms between the end of one request to a peer and the next. */
  readonly interval: number;
  /** The files `peer` has verified, and those it is fetching, as it says now. */
  readonly onHave: (peer: Peer, files: readonly number[], fetching: readonly number[]) => void;
  /** A request that takes longer than this (ms) is given up. Default: 4 intervals. */
  readonly timeout?: number;
}

export interface HavePoller {
  /** Polls exactly these peers from now on. */
  track(peers: readonly Peer[]): void;
  close(): void;
}

type Answer = { files: readonly number[]; fetching: readonly number[] } | 'plain' | undefined;

/** One `/have` request (`withFetching`: both bitmaps): the answer, 'plain' for a peer that refuses the query, or undefined. */
async function getHave(peer: Peer, digest: Digest, files: number, withFetching: boolean, pool: ConnectionPool, signal: AbortSignal): Promise<Answer> {
  const size = haveBytes(files) * (withFetching ? 2 : 1);
  const path = `/implementation/${formatDigest(digest)}/have${withFetching ? '?with=fetching' : ''}`;
  let ex: Exchange;
  try {
    ex = await exchange({ host: peer.host, port: peer.port, method: 'GET', path, signal, pool });
  } catch {
    return undefined;
  }
  if (ex.status !== 200) {
    ex.close();
    if (ex.status === 404) return { files: [], fetching: [] };
    return ex.status === 400 && withFetching ? 'plain' : undefined;
  }
  const body = Buffer.alloc(size);
  let n = 0;
  try {
    await ex.body((piece) => {
      if (n + piece.length > size) throw new Error('an over-long /have answer');
      n += piece.copy(body, n);
    });
  } catch {
    return undefined;
  } finally {
    ex.close();
  }
  if (n !== size) return undefined;
  const have = decodeHave(body.subarray(0, haveBytes(files)), files);
  const fetching = withFetching ? decodeHave(body.subarray(haveBytes(files)), files) : new Set<number>();
  return have instanceof Error || fetching instanceof Error ? undefined : { files: [...have], fetching: [...fetching] };
}

export function pollHave(opts: HavePollOptions): HavePoller {
  // Kept-alive connections (one per peer: one request at a time; the pool closes one idle for 2 s,
  // before the peer's 5 s), on the swarm's lean HTTP client (Node's costs more CPU per request).
  const pool = new ConnectionPool();
  const polled = new Map<string, { timer?: NodeJS.Timeout; ac?: AbortController; plain?: boolean }>();
  let closed = false;
  const stop = (key: string) => {
    const p = polled.get(key);
    clearTimeout(p?.timer);
    p?.ac?.abort();
    polled.delete(key);
  };
  const poll = (peer: Peer) => {
    const key = peerKey(peer);
    const me = polled.get(key);
    if (!me || closed) return;
    me.timer = undefined;
    const ac = new AbortController();
    me.ac = ac;
    const timeout = setTimeout(() => ac.abort(), opts.timeout ?? opts.interval * 4);
    void getHave(peer, opts.digest, opts.files, !me.plain, pool, ac.signal).then((answer) => {
      clearTimeout(timeout);
      // Stopped or closed meanwhile: nothing more. A request that timed out is just tried again.
      if (polled.get(key) !== me || closed) return;
      me.ac = undefined;
      if (answer === 'plain') me.plain = true;
      else if (answer) opts.onHave(peer, answer.files, answer.fetching);
      if (polled.get(key) === me && !closed) me.timer = setTimeout(() => poll(peer), answer === 'plain' ? 0 : opts.interval);
    });
  };
  return {
    track(peers) {
      if (closed) return;
      const want = new Map(peers.map((p) => [peerKey(p), p]));
      for (const key of [...polled.keys()]) if (!want.has(key)) stop(key);
      for (const [key, peer] of want) {
        if (polled.has(key)) continue;
        polled.set(key, {});
        poll(peer);
      }
    },
    close() {
      closed = true;
      for (const key of [...polled.keys()]) stop(key);
      pool.close();
    },
  };
}

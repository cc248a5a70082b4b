// The swarm's have poller: asks each partial holder which files of the digest it has verified,
// and which its own fetch is writing now (`GET /implementation/<digest>/have?with=fetching`: two
// bitmaps of src/core/have-bitmap.ts), about every `interval` ms, one request at a time per peer,
// and hands each answer on as plain data (two plan-file index lists). A peer that refuses the
// query string (400: a peer from before it) is asked the plain `/have` from then on, and said to
// fetch nothing. A 404 (the partial dir is gone and nothing complete replaced it) says "nothing";
// a peer that cannot be reached, or answers something that is not the bitmaps of the right size,
// is asked again next time. `track` sets which peers are polled (the swarm's usable partial
// holders); `close` stops every timer and request and closes the poller's kept-alive connections
// (one per peer): the swarm's owner calls it when the swarm ends.
import { Agent, request } from 'node:http';
import { formatDigest, type Digest } from '../core/digest.js';
import { decodeHave, haveBytes } from '../core/have-bitmap.js';
import { peerKey, type Peer } from '../machines/types.js';

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
function getHave(peer: Peer, digest: Digest, files: number, withFetching: boolean, agent: Agent, signal: AbortSignal): Promise<Answer> {
  const size = haveBytes(files) * (withFetching ? 2 : 1);
  return new Promise((resolve) => {
    const path = `/implementation/${formatDigest(digest)}/have${withFetching ? '?with=fetching' : ''}`;
    const r = request({ host: peer.host, port: peer.port, path, agent, signal }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        if (res.statusCode === 404) return resolve({ files: [], fetching: [] });
        return resolve(res.statusCode === 400 && withFetching ? 'plain' : undefined);
      }
      const parts: Buffer[] = [];
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        n += chunk.length;
        if (n > size) {
          res.destroy();
          resolve(undefined);
        } else parts.push(chunk);
      });
      res.on('end', () => {
        const body = Buffer.concat(parts);
        if (body.length !== size) return resolve(undefined);
        const have = decodeHave(body.subarray(0, haveBytes(files)), files);
        const fetching = withFetching ? decodeHave(body.subarray(haveBytes(files)), files) : new Set<number>();
        resolve(have instanceof Error || fetching instanceof Error ? undefined : { files: [...have], fetching: [...fetching] });
      });
      res.on('error', () => resolve(undefined));
    });
    r.on('error', () => resolve(undefined));
    r.end();
  });
}

export function pollHave(opts: HavePollOptions): HavePoller {
  // One kept-alive connection per peer (the peer keeps an idle one 5 s; a poll comes every 500 ms).
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
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
    void getHave(peer, opts.digest, opts.files, !me.plain, agent, ac.signal).then((answer) => {
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
      agent.destroy();
    },
  };
}

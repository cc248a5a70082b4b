// The client's timing: the defaults of `--timeout`, `--stall-timeout` and the connect timeout,
// and the machines' timing derived from them. Its own small module, so that the command line and
// `fetch` read the defaults without loading the download code before the first query goes out.
import type { SwarmTiming } from '../machines/swarm.machine.js';
import type { DiscoveryTiming, TransferTiming } from '../machines/types.js';
import type { SharingTiming } from './swarm-sharing.js';

export const DEFAULT_WINDOW = 250;
const DEFAULT_CONNECT_TIMEOUT = 5_000;
export const DEFAULT_STALL_TIMEOUT = 10_000;
/** Bytes a peer must deliver per stall window: 64 KiB per 10 s by default. */
const DEFAULT_MIN_PROGRESS = 64 * 1024;
const SENDS = 3;

export interface TimingOptions {
  /** Discovery window in ms (`--timeout`). */
  timeout?: number;
  connectTimeout?: number;
  stallTimeout?: number;
}

export function discoveryTiming(opts: TimingOptions): DiscoveryTiming {
  const discoveryWindow = opts.timeout ?? DEFAULT_WINDOW;
  // Three sends spread over the window: a lost datagram costs a third of it, not the answer.
  return { discoveryWindow, maxSends: SENDS, retransmit: Math.max(10, Math.floor(discoveryWindow / SENDS)) };
}

/**
 * The least time peers get after the first query when the window was counted from earlier
 * (`windowFrom`): the first send and one resend, with a fifth of an interval to answer the resend
 * (100 ms of the default 250 ms window).
 */
export function listenAfterAsk(opts: TimingOptions): number {
  const t = discoveryTiming(opts);
  return Math.min(t.discoveryWindow, Math.ceil(t.retransmit * 1.2));
}

export function transferTiming(opts: TimingOptions): TransferTiming {
  const stallTimeout = opts.stallTimeout ?? DEFAULT_STALL_TIMEOUT;
  return {
    ...discoveryTiming(opts),
    connectTimeout: opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT,
    stallTimeout,
    minProgress: Math.round((DEFAULT_MIN_PROGRESS * stallTimeout) / DEFAULT_STALL_TIMEOUT),
  };
}

/**
 * The swarm's: the same stall rule per piece request, three requests in flight per peer, and ticks
 * of 250 ms (stall checks and busy peers' return; a unit done or failed, a new peer or its /have
 * dispatch at once).
 */
export function swarmTiming(opts: TimingOptions): SwarmTiming {
  const t = transferTiming(opts);
  return { tick: 250, stallTimeout: t.stallTimeout, minProgress: t.minProgress, busyPause: 500, perPeer: 3 };
}

/**
 * While a swarm runs: the query again after 1, 2, 4, 8 s, then every 4 s (late partial holders
 * are heard), each partial holder's /have every 500 ms.
 */
export const SHARING_TIMING: SharingTiming = { requery: 1000, requeryMax: 4000, havePoll: 500 };

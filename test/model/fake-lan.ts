// An in-memory LAN for the model tests: a controllable cache lookup, a query counter, peers that
// answer on demand, and a download/commit pair whose temp dirs and store entries are tracked so a
// test can assert that nothing partial is left. Time is a SimulatedClock.
import { SimulatedClock } from 'xstate';
import { formatDigest, type Digest } from '../../src/core/digest.js';
import type { DownloadRequest, Peer, Staged, TransferPorts, QueryPorts } from '../../src/machines/types.js';

const GOOD = new TextEncoder().encode('good manifest');
const BAD = new TextEncoder().encode('corrupt manifest');

export const flush = () => new Promise<void>((r) => setImmediate(r));

interface PendingDownload {
  req: DownloadRequest;
  resolve: (s: Staged) => void;
  reject: (e: Error) => void;
  tmpDir?: string;
}

export class FakeLan {
  readonly clock = new SimulatedClock();
  sends = 0;
  readonly tmpDirs = new Set<string>();
  readonly store = new Map<string, string>();
  /** Every peer a download was started from, in order. */
  readonly downloadsFrom: string[] = [];
  private readonly listeners = new Map<string, Set<(p: Peer) => void>>();
  private lookupResult?: { resolve: (p: string | undefined) => void };
  private pending?: PendingDownload;
  private nextTmp = 0;

  readonly ports: TransferPorts & QueryPorts = {
    lookup: () => new Promise((resolve) => (this.lookupResult = { resolve })),
    sendQuery: async () => {
      this.sends++;
    },
    replies: (digest, onPeer) => {
      const key = formatDigest(digest);
      const set = this.listeners.get(key) ?? new Set();
      this.listeners.set(key, set);
      set.add(onPeer);
      return () => set.delete(onPeer);
    },
    download: (req) =>
      new Promise<Staged>((resolve, reject) => {
        const p: PendingDownload = { req, resolve, reject };
        this.pending = p;
        this.downloadsFrom.push(req.peer.host);
        req.signal.addEventListener('abort', () => {
          this.dropTmp(p);
          reject(new Error('aborted'));
        });
      }),
    commit: async ({ digest, staged }) => {
      this.tmpDirs.delete(staged.tmpDir);
      if (staged.manifest !== GOOD) throw new Error('sent data that does not match the digest');
      const path = `/store/${formatDigest(digest)}`;
      this.store.set(formatDigest(digest), path);
      return path;
    },
    discard: async (staged) => {
      this.tmpDirs.delete(staged.tmpDir);
    },
  };

  /** Number of replies listeners currently subscribed (0 once every machine has stopped). */
  get listening(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  async answerLookup(path: string | undefined): Promise<void> {
    this.lookupResult!.resolve(path);
    await flush();
  }

  async reply(host: string, digest: Digest): Promise<void> {
    for (const l of [...(this.listeners.get(formatDigest(digest)) ?? [])]) l({ host, port: 38339 });
    await flush();
  }

  async advance(ms: number): Promise<void> {
    this.clock.increment(ms);
    await flush();
    await flush();
  }

  private current(): PendingDownload {
    if (!this.pending) throw new Error('no download in progress');
    return this.pending;
  }

  private startStreaming(bytes: number): PendingDownload {
    const p = this.current();
    p.tmpDir = `/store/tmp-${this.nextTmp++}`;
    this.tmpDirs.add(p.tmpDir);
    p.req.onConnected();
    p.req.onProgress(bytes);
    return p;
  }

  private dropTmp(p: PendingDownload): void {
    if (p.tmpDir) this.tmpDirs.delete(p.tmpDir);
  }

  /** The peer answers 503. */
  async refuse(): Promise<void> {
    this.current().reject(new Error('is busy (HTTP 503), try later'));
    this.pending = undefined;
    await flush();
  }

  /** The connection closes after some data. */
  async drop(): Promise<void> {
    const p = this.startStreaming(100);
    await flush();
    this.dropTmp(p);
    p.reject(new Error('closed the connection after 100 bytes'));
    this.pending = undefined;
    await flush();
  }

  /** The peer sends a complete archive whose contents do not match the digest. */
  async corrupt(): Promise<void> {
    const p = this.startStreaming(100);
    p.resolve({ tmpDir: p.tmpDir!, manifest: BAD, bytes: 100 });
    this.pending = undefined;
    await flush();
    await flush();
  }

  async good(): Promise<void> {
    const p = this.startStreaming(100);
    await flush();
    p.req.onProgress(200);
    p.resolve({ tmpDir: p.tmpDir!, manifest: GOOD, bytes: 200 });
    this.pending = undefined;
    await flush();
    await flush();
  }

  /** The peer sends a little and then nothing, for longer than the stall timeout. */
  async stall(stallTimeout: number): Promise<void> {
    this.startStreaming(10);
    await flush();
    this.pending = undefined;
    await this.advance(stallTimeout);
  }
}

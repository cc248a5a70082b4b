// Downloads one implementation from one peer: `GET /implementation/<digest>` asking for plain tar
// (a gzip answer, as from the 2008 peer, is detected by the extractor), streamed straight into
// the safe extractor in a fresh temp dir of the store, hashing as it goes. Reports CONNECTED and
// byte progress; turns every failure into an error whose message says what the peer did; removes
// the temp dir on any failure or abort. On success the caller owns the returned temp dir.
import { formatDigest } from '../core/digest.js';
import { quoteNetworkText } from '../core/quote.js';
import { LocalFailure } from '../machines/ports.js';
import type { DownloadRequest, Staged } from '../machines/types.js';
import { ConnectError, exchange, type Exchange } from './http-exchange.js';
import { ExtractError, extractTar, type PushSource } from './tar-extract.js';
import { makeTmpDir, removeTree } from './store-add.js';
import { trackTmpDir, untrackTmpDir } from './tmp-registry.js';

export interface DownloadOptions extends DownloadRequest {
  /** The store whose `tmp-*` dir receives the tree (the user store). */
  readonly store: string;
  /** Cap on the file bytes written (the extractor's default when absent). */
  readonly maxBytes?: number;
}

/** Why a peer's HTTP answer is not an implementation, in words for the user. */
function statusReason(status: number, retryAfter?: string): string {
  if (status === 503) {
    if (!retryAfter) return 'is busy (HTTP 503), try later';
    return `is busy (HTTP 503), try later (it suggests ${/^[0-9]{1,6}$/.test(retryAfter) ? `in ${retryAfter} s` : `Retry-After: ${quoteNetworkText(retryAfter)}`})`;
  }
  if (status === 404) return 'does not have it (HTTP 404), although it said it had';
  if (status === 400) return 'rejected the request (HTTP 400)';
  return `answered HTTP ${status} instead of the implementation`;
}

function connectReason(err: ConnectError, port: number): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `refused the connection to TCP port ${port}: open TCP ${port} in its firewall, or check that 0share is running there`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `is unreachable (${err.code}); check the route to it`;
    case 'ETIMEDOUT':
      return `did not accept the connection (${err.code}): check the firewall (TCP ${port})`;
    default:
      return `could not be reached: ${err.message}`;
  }
}

/** Opens the download; resolves once the peer answered 200, rejects with the reason otherwise. */
async function open(req: DownloadRequest): Promise<Exchange> {
  const { peer, digest, signal } = req;
  let ex: Exchange;
  try {
    ex = await exchange({ host: peer.host, port: peer.port, method: 'GET', path: `/implementation/${formatDigest(digest)}`, headers: { 'X-0share-Encoding': 'tar' }, signal });
  } catch (err) {
    if (signal.aborted) throw new Error('aborted');
    if (err instanceof ConnectError) throw new Error(connectReason(err, peer.port));
    throw new Error(`closed the connection after 0 bytes (${(err as Error).message})`);
  }
  if (ex.status === 200) return ex;
  ex.close();
  throw new Error(statusReason(ex.status, ex.headers.get('retry-after')));
}

/** Progress reports at most this often (each is a machine event; per chunk they cost ~10% CPU). */
const PROGRESS_INTERVAL_MS = 50;

/**
 * The exchange's body as the extractor's push source, counting what arrives from the peer and
 * noting a network error. `onProgress` gets the first piece, then at most one report per
 * PROGRESS_INTERVAL_MS, and the total at the end; `onBytes` gets every count.
 */
function counted(ex: Exchange, onBytes: (total: number) => void, onProgress: (total: number) => void, onNetError: (err: unknown) => void): PushSource {
  let total = 0;
  let last = -Infinity;
  return {
    body: (onData) =>
      ex
        .body((piece) => {
          total += piece.length;
          onBytes(total);
          const now = performance.now();
          if (now - last >= PROGRESS_INTERVAL_MS) {
            last = now;
            onProgress(total);
          }
          return onData(piece);
        })
        .then(
          () => onProgress(total),
          (err: unknown) => {
            onNetError(err);
            throw err;
          },
        ),
    close: () => ex.close(),
  };
}

/** What went wrong while receiving: the peer's doing, or (LocalFailure) this machine's. */
function receiveError(err: unknown, netError: unknown, bytes: number, signal: AbortSignal): Error {
  if (signal.aborted) return new Error('aborted');
  // Writing here failed (no space, no permission): every peer would fail the same way. (The
  // extractor then closes the connection itself, so a network error may follow; it is not the cause.)
  if (err instanceof ExtractError && err.code === 'io' && (netError === undefined || err.cause !== netError)) {
    return new LocalFailure(`could not write it here: ${err.message}`);
  }
  if (netError !== undefined) return new Error(`closed the connection after ${bytes} bytes (${(netError as Error).message})`);
  return new Error(receiveReason(err, bytes));
}

function receiveReason(err: unknown, bytes: number): string {
  if (err instanceof ExtractError) {
    if (err.code === 'truncated') return `closed the connection after ${bytes} bytes (the archive was truncated)`;
    if (err.code === 'limit') return `sent too much: ${err.message}`;
    return `sent a bad archive: ${err.message}`;
  }
  return `failed during the transfer after ${bytes} bytes: ${(err as Error).message}`;
}

export async function downloadImplementation(opts: DownloadOptions): Promise<Staged> {
  const ex = await open(opts);
  let tmpDir: string;
  try {
    tmpDir = await makeTmpDir(opts.store);
  } catch (err) {
    ex.close();
    throw new LocalFailure(`could not create a temp dir in ${opts.store}: ${(err as Error).message}`);
  }
  trackTmpDir(tmpDir);
  const announced = Number(ex.headers.get('x-0share-size'));
  opts.onConnected(Number.isSafeInteger(announced) && announced >= 0 ? announced : undefined);
  let bytes = 0;
  let netError: unknown;
  try {
    const source = counted(
      ex,
      (total) => (bytes = total),
      (total) => opts.onProgress(total),
      (err) => (netError = err),
    );
    const result = await extractTar(source, tmpDir, { alg: opts.digest.alg, maxBytes: opts.maxBytes, signal: opts.signal });
    if (opts.signal.aborted) throw new Error('aborted');
    return { tmpDir, manifest: result.manifest, bytes };
  } catch (err) {
    ex.close();
    await removeTree(tmpDir).catch(() => undefined);
    untrackTmpDir(tmpDir);
    throw receiveError(err, netError, bytes, opts.signal);
  }
}

/** Removes a staged tree that will not be committed. */
export async function discardStaged(staged: Staged): Promise<void> {
  await removeTree(staged.tmpDir);
  untrackTmpDir(staged.tmpDir);
}

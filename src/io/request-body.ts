// Reads an HTTP request's body into memory, up to a cap: the peer's POST routes (a swarm
// client's piece list, a local fetch record) take small bodies only. A body declared or found
// larger than the cap is not read further.
import type { IncomingMessage } from 'node:http';

/** The body of `msg`, or undefined when it is (or says it is) larger than `max` bytes; stops at `signal`. */
export async function readBody(msg: IncomingMessage, max: number, signal?: AbortSignal): Promise<Buffer | undefined> {
  if (Number(msg.headers['content-length'] ?? 0) > max) return undefined;
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of msg as AsyncIterable<Buffer>) {
    if (signal?.aborted) throw new Error('aborted');
    n += chunk.length;
    if (n > max) return undefined;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

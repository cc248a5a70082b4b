// Asks a peer about itself: `GET /stats` on its HTTP port (the JSON of its status page), of which
// `0share peers` reads the version and the implementation count. Bounded in time and size.
import { request } from 'node:http';
import type { Peer } from '../machines/types.js';
import type { PeerInfo } from '../machines/peers.machine.js';

/** Largest /stats body read (it lists recent requests; the fields needed come first). */
const MAX_BODY = 1024 * 1024;

export function describePeer(peer: Peer, timeoutMs = 2_000): Promise<PeerInfo> {
  return new Promise((resolve, reject) => {
    const req = request({ host: peer.host, port: peer.port, path: '/stats', agent: false, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET /stats answered HTTP ${res.statusCode}${res.statusCode === 404 ? ' (an older peer)' : ''}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy(new Error('GET /stats: the answer is too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        try {
          const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: unknown; implementations?: unknown };
          resolve({
            version: typeof doc.version === 'string' ? doc.version : undefined,
            implementations: typeof doc.implementations === 'number' ? doc.implementations : undefined,
          });
        } catch {
          reject(new Error('GET /stats: the answer is not JSON'));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET /stats: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(err));
    req.end();
  });
}

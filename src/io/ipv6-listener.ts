// Dual stack for the HTTP server: a TCP listener on [::] (IPv6 only, so the IPv4 listener is
// untouched) that hands each connection to the existing http.Server, which then applies the same
// limits, access checks and sessions as to IPv4 connections.
import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { Logger } from './logger.js';

/** Listens on [::]:port; undefined (logged) when this machine has no IPv6. */
export async function listenIpv6(http: HttpServer, port: number, log: Logger): Promise<{ close(): Promise<void> } | undefined> {
  const server: Server = createServer((socket) => http.emit('connection', socket));
  try {
    server.listen({ port, host: '::', ipv6Only: true });
    await once(server, 'listening');
  } catch (err) {
    log.info(`No IPv6 HTTP listener (${(err as Error).message}): serving IPv4 only`);
    return undefined;
  }
  server.on('error', (err) => log.warn({ err }, `HTTP (IPv6) listener error: ${err.message}`));
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

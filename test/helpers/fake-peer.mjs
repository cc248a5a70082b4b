#!/usr/bin/env node
// A lying 0share peer for the fault tests (plain Node, run inside a test namespace). It answers
// every UDP query claiming to hold all the digests asked for, and answers every
// GET /implementation/<digest> according to --mode:
//   wrong       a valid tar of a different tree (digest mismatch)
//   traversal   an entry named ../…/SENTINEL/pwned-dotdot
//   absolute    an entry named SENTINEL/pwned-absolute (an absolute path)
//   hardlink    a hard link to SENTINEL/precious, then data written to it
//   symlink     a symlink pointing at SENTINEL, then a file written through it
//   longname    a file whose (pax) name is 1 MiB long, with an escape character in it
//   truncated   the first half of the honest tar of --tree, then a clean end of the response
//   dropped     the first half of the honest tar of --tree, then the connection is reset
//   endless     a file header claiming 8 GiB, then zeros for ever
//   drip        the honest tar of --tree, one byte every --drip-ms (default 2000)
//   refuse      500 Internal Server Error
//   honest      the honest tar of --tree (checks the fake peer itself)
// Each request is logged to stdout as `GET <path> from <address>`; `ready` once listening.
import dgram from 'node:dgram';
import http from 'node:http';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const opts = { port: '38339', 'drip-ms': '2000' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
const mode = opts.mode;
const port = Number(opts.port);

/** One 512-byte ustar header. */
function header({ name, type = '0', mode = 0o644, size = 0, mtime = 1_600_000_000, linkname = '' }) {
  const h = Buffer.alloc(512);
  const put = (off, len, s) => h.write(s, off, len, 'utf8');
  const oct = (off, len, n) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, 100, name);
  oct(100, 8, mode);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, mtime);
  h.fill(' ', 148, 156);
  put(156, 1, type);
  put(157, 100, linkname);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** A pax extended header ('x') carrying one record. */
function paxEntry(key, value) {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body);
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  const data = Buffer.from(`${len}${body}`);
  return [header({ name: 'PaxHeader', type: 'x', size: data.length }), data, pad(data.length)];
}

function pad(n) {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function fileEntry(name, data, mode = 0o644) {
  const buf = Buffer.from(data);
  return [header({ name, mode, size: buf.length }), buf, pad(buf.length)];
}

const END = Buffer.alloc(1024);

/** The honest tar of a tree: dirs, files (with exec bits) and symlinks, sorted, no .manifest. */
function tarOfTree(root) {
  const parts = [];
  const walk = (rel) => {
    for (const n of readdirSync(rel ? join(root, rel) : root).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === '.manifest') continue;
      const p = join(root, r);
      const st = lstatSync(p);
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isDirectory()) {
        parts.push(header({ name: `${r}/`, type: '5', mode: 0o755, mtime }));
        walk(r);
      } else if (st.isSymbolicLink()) {
        parts.push(header({ name: r, type: '2', linkname: readlinkSync(p), mtime }));
      } else {
        const data = readFileSync(p);
        parts.push(header({ name: r, mode: st.mode & 0o111 ? 0o755 : 0o644, size: data.length, mtime }), data, pad(data.length));
      }
    }
  };
  walk('');
  parts.push(END);
  return Buffer.concat(parts);
}

function body() {
  const sentinel = opts.sentinel ?? '/nonexistent-sentinel';
  switch (mode) {
    case 'wrong':
      return Buffer.concat([...fileEntry('README', 'not the implementation you asked for\n'), END]);
    case 'traversal':
      return Buffer.concat([...fileEntry('ok', 'fine\n'), ...fileEntry(`../../../../../../../../../..${sentinel}/pwned-dotdot`, 'escaped\n'), END]);
    case 'absolute':
      return Buffer.concat([...fileEntry('ok', 'fine\n'), ...fileEntry(`${sentinel}/pwned-absolute`, 'escaped\n'), END]);
    case 'hardlink':
      return Buffer.concat([header({ name: 'precious', type: '1', linkname: `${sentinel}/precious` }), ...fileEntry('precious', 'overwritten\n'), END]);
    case 'symlink':
      return Buffer.concat([header({ name: 'evil', type: '2', linkname: sentinel }), ...fileEntry('evil/pwned-symlink', 'escaped\n'), END]);
    case 'longname':
      return Buffer.concat([...paxEntry('path', `x\u001b[31m${'a'.repeat(1024 * 1024)}`), ...fileEntry('ignored', 'data\n'), END]);
    default:
      return tarOfTree(opts.tree);
  }
}

const server = http.createServer((req, res) => {
  process.stdout.write(`${req.method} ${req.url} from ${req.socket.remoteAddress}\n`);
  if (!/^\/implementation\/[^/]+$/.test(req.url.split('?')[0])) {
    res.writeHead(404).end();
    return;
  }
  if (mode === 'refuse') {
    res.writeHead(500).end('no\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  if (mode === 'endless') {
    res.write(header({ name: 'huge', size: 0o77777777777 }));
    const zeros = Buffer.alloc(64 * 1024);
    const pump = () => {
      while (res.write(zeros)) if (res.destroyed) return;
    };
    res.on('drain', pump);
    pump();
    return;
  }
  const data = body();
  if (mode === 'truncated' || mode === 'dropped') {
    res.write(data.subarray(0, Math.floor(data.length / 2)), () => {
      if (mode === 'truncated') res.end();
      else res.socket?.resetAndDestroy?.() ?? res.socket?.destroy();
    });
    return;
  }
  if (mode === 'drip') {
    let i = 0;
    const t = setInterval(() => {
      if (res.destroyed || i >= data.length) {
        clearInterval(t);
        res.end();
        return;
      }
      res.write(data.subarray(i, i + 1));
      i++;
    }, Number(opts['drip-ms']));
    res.on('close', () => clearInterval(t));
    return;
  }
  res.end(data);
});

const udp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
udp.on('message', (msg, rinfo) => {
  const lines = msg.toString('latin1').split('\n');
  if (lines[0] !== '0share' || lines.length < 2) return;
  process.stdout.write(`QUERY from ${rinfo.address}\n`);
  udp.send(Buffer.from(['0share-reply', ...lines.slice(1).filter(Boolean)].join('\n')), rinfo.port, rinfo.address);
});

let up = 0;
const ready = () => {
  if (++up === 2) process.stdout.write('ready\n');
};
server.listen(port, '0.0.0.0', ready);
udp.bind(port, ready);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));

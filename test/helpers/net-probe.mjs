#!/usr/bin/env node
// Independent probes of a 0share peer, run inside a test namespace (plain Node, no 0share code):
//   udp-query HOST PORT TIMEOUT_MS DIGEST…  send the 2008 query datagram (retransmitted every
//       200 ms), print one JSON line per reply {from, text}; exit 0 if any reply came, else 1.
//       HOST may be IPv6 (`fe80::1%eth0`, `ff02::95c3%eth0`).
//   http-get URL [OUTFILE]   GET the URL (plain tar requested), print JSON {status, headers,
//       bytes, sha256}; the body goes to OUTFILE when given.
//   listen IFACE   count what discovery might send here: UDP 38339 (IPv4, and IPv6 with the
//       group ff02::95c3 joined on IFACE) and mDNS (224.0.0.251:5353); prints "ready", then one
//       JSON line {port, from, text} per datagram.
import dgram from 'node:dgram';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { networkInterfaces } from 'node:os';

const [mode, ...args] = process.argv.slice(2);

function udpQuery([host, port, timeout, ...digests]) {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const msg = Buffer.from(['0share', ...digests].join('\n'), 'ascii');
  let replies = 0;
  sock.on('message', (buf, rinfo) => {
    replies++;
    process.stdout.write(JSON.stringify({ from: rinfo.address, port: rinfo.port, text: buf.toString('latin1') }) + '\n');
  });
  sock.bind(0, () => {
    if (!host.includes(':')) sock.setBroadcast(true);
    const send = () => sock.send(msg, Number(port), host, () => {});
    send();
    const retry = setInterval(send, 200);
    setTimeout(() => {
      clearInterval(retry);
      sock.close();
      process.exitCode = replies > 0 ? 0 : 1;
    }, Number(timeout));
  });
}

function httpGet([url, outFile]) {
  const req = http.get(url, { headers: { 'X-0share-Encoding': 'tar' }, agent: false }, (res) => {
    const hash = createHash('sha256');
    const out = outFile ? createWriteStream(outFile) : undefined;
    let bytes = 0;
    res.on('data', (d) => {
      bytes += d.length;
      hash.update(d);
      out?.write(d);
    });
    res.on('end', () => {
      const done = () =>
        process.stdout.write(JSON.stringify({ status: res.statusCode, headers: res.headers, bytes, sha256: hash.digest('hex') }) + '\n');
      if (out) out.end(done);
      else done();
    });
    res.on('error', (e) => {
      process.stdout.write(JSON.stringify({ status: res.statusCode, error: e.message, bytes }) + '\n');
      process.exitCode = 1;
    });
  });
  req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
  req.on('error', (e) => {
    process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
    process.exitCode = 1;
  });
}

function listen([iface]) {
  const report = (port) => (buf, rinfo) =>
    process.stdout.write(JSON.stringify({ port, from: rinfo.address, text: buf.toString('latin1').slice(0, 200) }) + '\n');
  const bound = [];
  const open = (type, port, host, group, groupIface) =>
    new Promise((resolve) => {
      const s = dgram.createSocket({ type, reuseAddr: true });
      s.on('message', report(port));
      s.bind(port, host, () => {
        if (group) s.addMembership(group, groupIface);
        bound.push(s);
        resolve();
      });
    });
  Promise.all([
    open('udp4', 38339, '0.0.0.0'),
    open('udp4', 5353, '0.0.0.0', '224.0.0.251', networkInterfaces()[iface]?.find((a) => a.family === 'IPv4')?.address),
    open('udp6', 38339, '::', 'ff02::95c3', `::%${iface}`),
  ]).then(() => process.stdout.write('ready\n'));
}

if (mode === 'udp-query') udpQuery(args);
else if (mode === 'listen') listen(args);
else if (mode === 'http-get') httpGet(args);
else {
  process.stderr.write(`net-probe: unknown mode ${mode}\n`);
  process.exitCode = 2;
}

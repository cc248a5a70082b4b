#!/usr/bin/env node
// Independent probes of a 0share peer, run inside a test namespace (plain Node, no 0share code):
//   udp-query HOST PORT TIMEOUT_MS DIGEST…  send the 2008 query datagram (retransmitted every
//       200 ms), print one JSON line per reply {from, text}; exit 0 if any reply came, else 1.
//   http-get URL [OUTFILE]   GET the URL (plain tar requested), print JSON {status, headers,
//       bytes, sha256}; the body goes to OUTFILE when given.
import dgram from 'node:dgram';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';

const [mode, ...args] = process.argv.slice(2);

function udpQuery([host, port, timeout, ...digests]) {
  const sock = dgram.createSocket('udp4');
  const msg = Buffer.from(['0share', ...digests].join('\n'), 'ascii');
  let replies = 0;
  sock.on('message', (buf, rinfo) => {
    replies++;
    process.stdout.write(JSON.stringify({ from: rinfo.address, port: rinfo.port, text: buf.toString('latin1') }) + '\n');
  });
  sock.bind(0, () => {
    sock.setBroadcast(true);
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

if (mode === 'udp-query') udpQuery(args);
else if (mode === 'http-get') httpGet(args);
else {
  process.stderr.write(`net-probe: unknown mode ${mode}\n`);
  process.exitCode = 2;
}

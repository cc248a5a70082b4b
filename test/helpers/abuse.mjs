#!/usr/bin/env node
// Abusive clients for the fault tests (plain Node, run inside a test namespace). Each mode prints
// one JSON line with what it observed:
//   conns URL N [ADDR,…]        N concurrent GETs at once, spread over these local source
//                               addresses; counts statuses, Retry-After, errors
//   slowloris HOST PORT N MS    N connections trickling a request header a byte a second for MS ms;
//                               counts how many the server closed
//   datagrams HOST PORT N DIGEST  N datagrams (random bytes, oversized, malformed text, and about
//                               one in ten a valid query for DIGEST); counts the replies
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';

const [mode, ...args] = process.argv.slice(2);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function conns([url, n, from]) {
  const sources = from ? from.split(',') : [undefined];
  const total = Number(n);
  const statuses = {};
  const errors = {};
  let retryAfter = 0;
  let bytes = 0;
  let done = 0;
  const finish = () => {
    if (++done === total) print({ total, statuses, errors, retryAfter, bytes });
  };
  for (let i = 0; i < total; i++) {
    const req = http.get(url, { agent: false, localAddress: sources[i % sources.length], headers: { 'X-0share-Encoding': 'tar' } }, (res) => {
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      if (res.headers['retry-after'] !== undefined) retryAfter++;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', finish);
      res.on('error', (e) => {
        errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
        finish();
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (e) => {
      errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
      finish();
    });
  }
}

function slowloris([host, port, n, ms]) {
  const request = Buffer.from('GET /implementation/sha256new_AAAA HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(4096));
  let closedByServer = 0;
  let opened = 0;
  let connectErrors = 0;
  const sockets = [];
  let stopping = false;
  for (let i = 0; i < Number(n); i++) {
    const s = net.connect(Number(port), host);
    let pos = 0;
    let timer;
    let connected = false;
    s.on('connect', () => {
      connected = true;
      opened++;
      timer = setInterval(() => {
        if (pos < request.length) s.write(request.subarray(pos, ++pos));
      }, 1000);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      if (stopping) return;
      if (connected) closedByServer++;
      else connectErrors++;
    });
    s.resume();
    sockets.push(s);
  }
  setTimeout(() => {
    stopping = true;
    const stillOpen = sockets.filter((s) => !s.destroyed).length;
    print({ requested: Number(n), opened, closedByServer, connectErrors, stillOpen });
    for (const s of sockets) s.destroy();
    process.exit(0);
  }, Number(ms));
}

function datagrams([host, port, n, digest]) {
  const sock = dgram.createSocket('udp4');
  let replies = 0;
  let replyBytes = 0;
  let validQueries = 0;
  let sent = 0;
  let sendErrors = 0;
  const total = Number(n);
  sock.on('message', (m) => {
    replies++;
    replyBytes += m.length;
  });
  const make = (i) => {
    switch (i % 10) {
      case 0:
        validQueries++;
        return Buffer.from(`0share\n${digest}`);
      case 1:
        return randomBytes(randomInt(1401, 9000)); // oversized
      case 2:
        return Buffer.from(`0share\n${randomBytes(40).toString('base64')}`); // bad digest
      case 3:
        return Buffer.from(`0share-reply\n${digest}`); // a reply sent to a server
      case 4:
        return Buffer.alloc(0);
      case 5:
        return Buffer.from(`0share\n${digest}\n`.repeat(100)); // repeated, oversized
      case 6:
        return Buffer.concat([Buffer.from('0share\n'), randomBytes(randomInt(1, 300))]); // binary
      default:
        return randomBytes(randomInt(1, 1400));
    }
  };
  sock.bind(0, () => {
    sock.setBroadcast(true);
    let i = 0;
    const burst = () => {
      for (let k = 0; k < 100 && i < total; k++, i++) sock.send(make(i), Number(port), host, (err) => (err ? sendErrors++ : sent++));
      if (i < total) setTimeout(burst, 2);
      else
        setTimeout(() => {
          print({ total, sent, sendErrors, validQueries, replies, replyBytes });
          sock.close();
        }, 1500);
    };
    burst();
  });
}

if (mode === 'conns') conns(args);
else if (mode === 'slowloris') slowloris(args);
else if (mode === 'datagrams') datagrams(args);
else {
  process.stderr.write(`abuse: unknown mode ${mode}\n`);
  process.exitCode = 2;
}

'use strict';
// Chapter 6's child processes. The parent starts this script in one of two
// roles:
//
//   client <requestPath> <replyDir> <n>   connects to the parent's FifoServer
//                    (its reply FIFO in replyDir), sends n requests at once
//                    without waiting for any reply, checks that each reply is
//                    for its own pid and the request it answers, prints what
//                    it got (JSON) on stdout, closes (which removes its reply
//                    FIFO) and exits
//   server <path>    a FifoServer at path that sends every request back; says
//                    {pid, ppid} on stdout once it listens, and closes when
//                    its stdin ends (the parent closes it, or dies)

const { FifoClient, FifoServer } = require('../../dist');
const { runChild } = require('./util');

// Neither role ever outlives the tour by much: each gives up after this long.
const LIFETIME_MS = 10000;

async function client(requestPath, replyDir, n) {
  setTimeout(() => process.exit(3), LIFETIME_MS).unref();
  const fifo = await FifoClient.connect(requestPath, { replyDir, timeoutMs: LIFETIME_MS });
  try {
    const requests = Array.from({ length: n }, (_, i) => ({ pid: process.pid, seq: i + 1 }));
    // All n are written before the first reply comes back: they are in flight together.
    const replies = await Promise.all(requests.map((r) => fifo.request(r, { timeoutMs: LIFETIME_MS })));
    for (const [i, reply] of replies.entries()) {
      if (reply?.pid !== process.pid || reply?.seq !== i + 1) throw new Error(`request ${i + 1} got the reply ${JSON.stringify(reply)}`);
    }
    process.stdout.write(`${JSON.stringify({ pid: process.pid, ppid: process.ppid, replyPath: fifo.replyPath, replies })}\n`);
  } finally {
    fifo.close();
  }
}

function server(path) {
  const lifetime = setTimeout(() => process.exit(3), LIFETIME_MS);
  lifetime.unref();
  const echo = FifoServer.listen(path, (data) => data);
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => {
    echo.close().then(() => clearTimeout(lifetime));
  });
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ppid: process.ppid })}\n`);
}

function main(role, ...args) {
  if (role === 'client' && args.length === 3 && Number(args[2]) > 0) return client(args[0], args[1], Number(args[2]));
  if (role === 'server' && args.length === 1) return server(args[0]);
  console.error('This is a child of the tour; run `posix-ipc tour` instead.');
  process.exitCode = 2;
  return undefined;
}

runChild(module, main);

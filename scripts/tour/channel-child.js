'use strict';
// Chapter 7's child: the other end of the ping-pong. It attaches to the two
// channels its parent passed as descriptors 3 (ping, it receives) and 4 (pong,
// it sends), says who it is, and sends every ping back until "stop".
//
//   node channel-child.js sync    receiveSyncInto: spins, then sleeps on a futex
//   node channel-child.js async   for await: sleeps in the event loop

const { Channel } = require('../../dist');
const { runChild } = require('./util');

// However long a child waits for its parent: should the parent die, the child
// gives up rather than lingering.
const STALL_MS = 10000;

async function main(mode) {
  const ping = Channel.fromFd(3);
  const pong = Channel.fromFd(4);
  pong.sendSync(`child pid ${process.pid} (ppid ${process.ppid})`);
  const buf = Buffer.alloc(64);
  if (mode === 'sync') {
    for (;;) {
      const n = ping.receiveSyncInto(buf, { timeoutMs: STALL_MS });
      if (buf.toString('latin1', 0, n) === 'stop') break;
      pong.sendSync(buf.subarray(0, n), { timeoutMs: STALL_MS });
    }
  } else {
    for (;;) {
      const msg = await ping.receive({ timeoutMs: STALL_MS });
      if (msg.toString() === 'stop') break;
      await pong.send(msg, { timeoutMs: STALL_MS });
    }
  }
  ping.close();
  pong.close();
}

runChild(module, main);

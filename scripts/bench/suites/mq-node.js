'use strict';
// Node contenders of the mq suite (run as child processes): POSIX message
// queues through MessageQueue, either with the blocking sync calls
// (sendSync/receiveSync) or with the event-loop ones (await send/receive).
// It mirrors mq.c role for role: same queues (created by the suite, 64-byte
// messages), same message (64 bytes, sequence number in the first four bytes,
// checked by the receiving side), same WARMUP untimed messages, same timing
// points and the same placement record. The channel suite runs it too, with
// 64 KiB messages as well (SIZE): a message longer than the queues'
// messageSize goes as pieces of that size, one queue message each, as a user
// under the default /proc/sys/fs/mqueue/msgsize_max (8 KiB) does.
//
// Usage: node mq-node.js MODE ROLE Q1 Q2 WARMUP COUNT CHUNK [SIZE]
//   MODE  sync | async
//   ROLE  ping | pong | produce | consume (see mq.c)
//   SIZE  bytes per message (default 64)
// Prints one JSON line: {"rtt_ns":[...]} (ping), {"chunk_ns":[...],
// "chunk_bytes":[...]} (consume), and every role {"placement":{...}}.

const { awaitingRoles, blockingRoles, printResult, runAsScript } = require('../lib/contender-node');

const DEFAULT_SIZE = 64;

/** Bytes per queue message: the queues' messageSize (set in main). */
let piece = DEFAULT_SIZE;

/** `msg` into `q`: one queue message, or a piece per queue message. */
function sendSync(q, msg) {
  if (msg.length <= piece) return q.sendSync(msg);
  for (let at = 0; at < msg.length; at += piece) q.sendSync(msg.subarray(at, at + piece));
}

async function send(q, msg) {
  if (msg.length <= piece) return q.send(msg);
  for (let at = 0; at < msg.length; at += piece) await q.send(msg.subarray(at, at + piece));
}

/** The next `size`-byte message from `q`: the queue message itself, or its pieces put together in `buf`. */
function receiveSync(q, buf) {
  if (buf.length <= piece) return q.receiveSync().data;
  for (let at = 0; at < buf.length; at += piece) q.receiveSync().data.copy(buf, at);
  return buf;
}

async function receive(q, buf) {
  if (buf.length <= piece) return (await q.receive()).data;
  for (let at = 0; at < buf.length; at += piece) (await q.receive()).data.copy(buf, at);
  return buf;
}

/**
 * The roles per mode are the shared loops (lib/contender-node.js: the sync
 * ones make no promises at all, the async ones await every call; consume
 * counts msg/s per chunk). Each returns the JSON result of the role.
 */
const MODES = {
  sync: {
    label: 'sync',
    code: 'q.sendSync(msg) / q.receiveSync()',
    ...blockingRoles(sendSync, receiveSync),
  },

  async: {
    label: 'async',
    code: 'await q.send(msg) / await q.receive()',
    ...awaitingRoles(send, receive),
  },
};

// Which queue each role opens for what, as mq.c does.
const ACCESS = {
  ping: ['write', 'read'],
  pong: ['read', 'write'],
  produce: ['write', null],
  consume: ['read', null],
};

async function main(argv) {
  if (argv.length < 7 || argv.length > 8 || !Object.hasOwn(MODES, argv[0]) || !Object.hasOwn(ACCESS, argv[1])) {
    process.stderr.write(`usage: mq-node.js ${Object.keys(MODES).join('|')} ${Object.keys(ACCESS).join('|')} Q1 Q2 WARMUP COUNT CHUNK [SIZE]\n`);
    return 2;
  }
  const [modeId, role, name1, name2] = argv;
  const [warmup, count, chunk, size = DEFAULT_SIZE] = argv.slice(4).map(Number);
  if (!(size >= 4 && warmup >= 0 && count > 0 && chunk > 0 && count % chunk === 0)) {
    process.stderr.write('bad arguments\n');
    return 2;
  }
  // Required here, so that the suite module can read MODES without the library.
  const { MessageQueue } = require('../../../dist');
  const [a1, a2] = ACCESS[role];
  const q1 = MessageQueue.open(name1, { access: a1 });
  const q2 = a2 === null ? null : MessageQueue.open(name2, { access: a2 });
  piece = q1.messageSize;
  if (size % piece !== 0) {
    process.stderr.write(`SIZE ${size} is not a multiple of the queues' messageSize ${piece}\n`);
    return 2;
  }
  try {
    const mode = MODES[modeId];
    // ping sends on q1 and hears the echo on q2; pong the other way round.
    const run = {
      ping: () => mode.ping(q2, q1, size, warmup, count),
      pong: () => mode.pong(q1, q2, size, warmup, count),
      produce: () => mode.produce(q1, size, warmup, count),
      consume: () => mode.consume(q1, size, warmup, count, chunk),
    };
    const result = await run[role]();
    return printResult(result, { mode: modeId, role });
  } finally {
    q1.close();
    q2?.close();
  }
}

runAsScript(module, main);

module.exports = { MODES };

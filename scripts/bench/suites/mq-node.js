'use strict';
// Node contenders of the mq suite (run as child processes): POSIX message
// queues through MessageQueue, either with the blocking sync calls
// (sendSync/receiveSync) or with the event-loop ones (await send/receive).
// It mirrors mq.c role for role: same queues (created by the suite, 64-byte
// messages), same message (64 bytes, sequence number in the first four bytes,
// checked by the receiving side), same WARMUP untimed messages, same timing
// points and the same placement record.
//
// Usage: node mq-node.js MODE ROLE Q1 Q2 WARMUP COUNT CHUNK
//   MODE  sync | async
//   ROLE  ping | pong | produce | consume (see mq.c)
// Prints one JSON line: {"rtt_ns":[...]} (ping), {"chunk_ns":[...]} (consume),
// and every role {"placement":{...}}.

const { awaitingRoles, blockingRoles, isMessage, printResult, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const MESSAGE_SIZE = 64;

/**
 * The roles per mode: ping, pong and produce are the shared loops
 * (lib/contender-node.js: the sync ones make no promises at all, the async
 * ones await every call); consume counts msg/s per chunk. Each returns the
 * JSON result of the role.
 */
const MODES = {
  sync: {
    label: 'sync',
    code: 'q.sendSync(msg) / q.receiveSync()',

    ...blockingRoles((q, msg) => q.sendSync(msg), (q) => q.receiveSync().data),

    consume(q1, warmup, count, chunk) {
      const chunks = new Float64Array(count / chunk);
      const where = new Placement();
      let verified = true;
      let t0 = 0n;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) {
          where.start();
          t0 = process.hrtime.bigint();
        }
        if (!isMessage(q1.receiveSync().data, MESSAGE_SIZE, i)) verified = false;
        const done = i + 1 - warmup;
        if (done > 0 && done % chunk === 0) {
          const t1 = process.hrtime.bigint();
          chunks[done / chunk - 1] = Number(t1 - t0);
          t0 = t1;
        }
      }
      return { chunk_ns: Array.from(chunks), verified, placement: where.end() };
    },
  },

  async: {
    label: 'async',
    code: 'await q.send(msg) / await q.receive()',

    ...awaitingRoles((q, msg) => q.send(msg), async (q) => (await q.receive()).data),

    async consume(q1, warmup, count, chunk) {
      const chunks = new Float64Array(count / chunk);
      const where = new Placement();
      let verified = true;
      let t0 = 0n;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) {
          where.start();
          t0 = process.hrtime.bigint();
        }
        if (!isMessage((await q1.receive()).data, MESSAGE_SIZE, i)) verified = false;
        const done = i + 1 - warmup;
        if (done > 0 && done % chunk === 0) {
          const t1 = process.hrtime.bigint();
          chunks[done / chunk - 1] = Number(t1 - t0);
          t0 = t1;
        }
      }
      return { chunk_ns: Array.from(chunks), verified, placement: where.end() };
    },
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
  if (argv.length !== 7 || !Object.hasOwn(MODES, argv[0]) || !Object.hasOwn(ACCESS, argv[1])) {
    process.stderr.write(`usage: mq-node.js ${Object.keys(MODES).join('|')} ${Object.keys(ACCESS).join('|')} Q1 Q2 WARMUP COUNT CHUNK\n`);
    return 2;
  }
  const [modeId, role, name1, name2] = argv;
  const [warmup, count, chunk] = argv.slice(4).map(Number);
  if (!(warmup >= 0 && count > 0 && chunk > 0 && count % chunk === 0)) {
    process.stderr.write('bad arguments\n');
    return 2;
  }
  // Required here, so that the suite module can read MODES without the library.
  const { MessageQueue } = require('../../../dist');
  const [a1, a2] = ACCESS[role];
  const q1 = MessageQueue.open(name1, { access: a1 });
  const q2 = a2 === null ? null : MessageQueue.open(name2, { access: a2 });
  try {
    const mode = MODES[modeId];
    // ping sends on q1 and hears the echo on q2; pong the other way round.
    const run = {
      ping: () => mode.ping(q2, q1, MESSAGE_SIZE, warmup, count),
      pong: () => mode.pong(q1, q2, MESSAGE_SIZE, warmup, count),
      produce: () => mode.produce(q1, MESSAGE_SIZE, warmup, count),
      consume: () => mode.consume(q1, warmup, count, chunk),
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

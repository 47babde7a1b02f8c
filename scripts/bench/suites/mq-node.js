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

const { isMessage, message, printResult, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const MESSAGE_SIZE = 64;


/**
 * The roles, written out once per mode so that neither pays for the other:
 * the sync loops make no promises at all, the async ones await every call.
 * Each returns the JSON result of the role.
 */
const MODES = {
  sync: {
    label: 'sync',
    code: 'q.sendSync(msg) / q.receiveSync()',

    // Round trips: message i out on q1, its echo back on q2.
    ping(q1, q2, warmup, count) {
      const rtt = new Float64Array(count);
      const msg = message(MESSAGE_SIZE);
      const where = new Placement();
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        const t0 = process.hrtime.bigint();
        q1.sendSync(msg);
        const echo = q2.receiveSync();
        const t1 = process.hrtime.bigint();
        if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
        if (!isMessage(echo.data, MESSAGE_SIZE, i)) verified = false;
      }
      return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
    },

    pong(q1, q2, warmup, count) {
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        q2.sendSync(q1.receiveSync().data);
      }
      return { placement: where.end() };
    },

    produce(q1, warmup, count) {
      const msg = message(MESSAGE_SIZE);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        q1.sendSync(msg);
      }
      return { placement: where.end() };
    },

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

    async ping(q1, q2, warmup, count) {
      const rtt = new Float64Array(count);
      const msg = message(MESSAGE_SIZE);
      const where = new Placement();
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        const t0 = process.hrtime.bigint();
        await q1.send(msg);
        const echo = await q2.receive();
        const t1 = process.hrtime.bigint();
        if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
        if (!isMessage(echo.data, MESSAGE_SIZE, i)) verified = false;
      }
      return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
    },

    async pong(q1, q2, warmup, count) {
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        await q2.send((await q1.receive()).data);
      }
      return { placement: where.end() };
    },

    async produce(q1, warmup, count) {
      const msg = message(MESSAGE_SIZE);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        await q1.send(msg);
      }
      return { placement: where.end() };
    },

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
    const result = await (q2 === null ? mode[role](q1, warmup, count, chunk) : mode[role](q1, q2, warmup, count));
    return printResult(result, { mode: modeId, role });
  } finally {
    q1.close();
    q2?.close();
  }
}

runAsScript(module, main);

module.exports = { MODES };

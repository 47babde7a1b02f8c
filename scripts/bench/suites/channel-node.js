'use strict';
// Node contenders of the channel suite (run as child processes): Channel, the
// shared-memory ring, with its calls that return when they are done
// (spinning, or blocking in sync mode). The async contender (await send() /
// receive()) is pipe-node.js's dgram mode over `channel:NAME` endpoints.
// Ping, pong, produce and consume are lib/contender-node.js's blockingRoles, the
// consumer lean enough for tens of millions of messages a second: a sequence
// check and a clock mark every CHUNK messages, as channel.c (bench.h) does.
// Same channels (created by the suite, opened here by name), same messages
// (SIZE bytes of 0x5a, the sequence number in the first four), same WARMUP
// untimed messages and the same placement record as channel.c.
//
// Usage: node channel-node.js MODE ROLE IN OUT SIZE WARMUP COUNT CHUNK
//   MODE  sync       trySend (ping, spinning while full) or sendSync / receiveSyncInto
//                    (spins 50 µs, then sleeps on a futex): one call per message
//         copy       as sync, received with receiveSync(): a new Buffer per message (the
//                    everyday call; copied into a pool, as Buffer.allocUnsafe does)
//         zero-copy  reserve() + commit() / tryReceiveView(), spinning while full or empty
//         batch      trySendMany(source, lengths) / receiveManyInto(target, lengths): up
//                    to BATCH messages back to back per call, nothing allocated; spinning
//                    (ping and pong: trySend / receiveManyInto, one message at a time)
//   ROLE  ping | pong | produce | consume (see bench.h)
//   IN, OUT  channel names (- when the role does not use it)
// Prints one JSON line: {"rtt_ns":[...]} (ping), {"chunk_ns":[...],
// "chunk_bytes":[...]} (consume), and every role {"placement":{...}}.

const { Tally, blockingRoles, message, printResult, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const BATCH = 1024;

/** Sends one message, retrying at once while the ring is full (the busy-poll). */
function trySendSpin(ch, msg) {
  while (!ch.trySend(msg));
}

/** The roles of the sync modes: sendSync, but trySend spinning for ping; `receive(ch, buf)` -> the message. */
function syncRoles(receive) {
  return { ...blockingRoles((ch, msg) => ch.sendSync(msg), receive), ping: blockingRoles(trySendSpin, receive).ping };
}

/**
 * The modes. A function makes each mode's roles, so that a process builds
 * only its own: the calls through `send` and `receive` stay monomorphic.
 */
const MODES = {
  sync: {
    label: 'sync',
    code: 'ch.trySend(msg) (ping) or ch.sendSync(msg) / ch.receiveSyncInto(buf): one native call per message, nothing allocated; spins 50 µs, then sleeps on a futex',
    roles() {
      // Into the caller's buffer of the message's size: a longer message would throw EMSGSIZE, a shorter one fails the
      // check.
      const receive = (ch, buf) => {
        const n = ch.receiveSyncInto(buf);
        return n === buf.length ? buf : buf.subarray(0, n);
      };
      return syncRoles(receive);
    },
  },

  copy: {
    label: 'copy',
    code: 'ch.trySend(msg) (ping) or ch.sendSync(msg) / ch.receiveSync(): a new Buffer per message (copied into a 64 KiB pool, as Buffer.allocUnsafe does), the call most users make; spins 50 µs, then sleeps on a futex',
    roles() {
      const receive = (ch) => ch.receiveSync();
      return syncRoles(receive);
    },
  },

  'zero-copy': {
    label: 'zero-copy',
    code: 'slot = ch.reserve(n); msg.copy(slot.data); slot.commit() / ch.tryReceiveView() (a view into the ring, valid until the next receive); both spin',
    roles() {
      const send = (ch, msg) => {
        let slot;
        while ((slot = ch.reserve(msg.length)) === null);
        msg.copy(slot.data);
        slot.commit();
      };
      const receive = (ch) => {
        let view;
        while ((view = ch.tryReceiveView()) === null);
        return view;
      };
      return blockingRoles(send, receive);
    },
  },

  batch: {
    label: 'batch',
    code: `ch.trySendMany(source, lengths) / ch.receiveManyInto(target, lengths): up to ${BATCH} messages packed back to back in one buffer per native call, nothing allocated; both spin (round trips: trySend / receiveManyInto, one message at a time)`,
    roles() {
      const one = new Uint32Array(1);
      // Ping and pong: a batch of at most one, into the caller's buffer.
      const receive = (ch, buf) => {
        while (ch.receiveManyInto(buf, one) === 0);
        return one[0] === buf.length ? buf : buf.subarray(0, one[0]);
      };
      return {
        ...blockingRoles(trySendSpin, receive),
        produce(output, size, warmup, count) {
          const source = Buffer.concat(Array.from({ length: BATCH }, () => message(size)));
          const lengths = new Uint32Array(BATCH).fill(size);
          const where = new Placement();
          let started = false;
          for (let i = 0; i < warmup + count;) {
            const n = Math.min(BATCH, warmup + count - i);
            for (let k = 0; k < n; k++) source.writeUInt32LE((i + k) >>> 0, k * size);
            // The placement record starts with the batch that reaches past the warm-up.
            if (!started && i + n > warmup) {
              where.start();
              started = true;
            }
            // What did not fit goes again, from where it stopped, spinning while full.
            for (let sent = 0; sent < n;) {
              sent += output.trySendMany(
                sent === 0 ? source : source.subarray(sent * size),
                sent === 0 ? lengths : lengths.subarray(sent),
                n - sent,
              );
            }
            i += n;
          }
          return { placement: where.end() };
        },
        consume(input, size, warmup, count, chunk) {
          const target = Buffer.alloc(BATCH * size);
          const lengths = new Uint32Array(BATCH);
          const tally = new Tally(size, warmup, count, chunk);
          for (let i = 0; i < warmup + count;) {
            const n = input.receiveManyInto(target, lengths);
            for (let k = 0, at = 0; k < n; k++, i++) {
              tally.take(target, at, lengths[k], i);
              at += lengths[k];
            }
          }
          return tally.result();
        },
      };
    },
  },
};

const ROLES = ['ping', 'pong', 'produce', 'consume'];

async function main(argv) {
  if (argv.length !== 8 || !Object.hasOwn(MODES, argv[0]) || !ROLES.includes(argv[1])) {
    process.stderr.write(`usage: channel-node.js ${Object.keys(MODES).join('|')} ${ROLES.join('|')} IN OUT SIZE WARMUP COUNT CHUNK\n`);
    return 2;
  }
  const [modeId, role, inName, outName] = argv;
  const [size, warmup, count, chunk] = argv.slice(4).map(Number);
  if (!(size >= 4 && warmup >= 0 && count > 0 && chunk > 0 && count % chunk === 0)) {
    process.stderr.write('bad arguments\n');
    return 2;
  }
  // Required here, so that the suite module can read MODES without the library.
  const { Channel } = require('../../../dist');
  const input = inName === '-' ? null : Channel.open(inName);
  const output = outName === '-' ? null : Channel.open(outName);
  try {
    const fn = MODES[modeId].roles()[role];
    const result = role === 'ping' || role === 'pong' ? fn(input, output, size, warmup, count) : fn(input ?? output, size, warmup, count, chunk);
    return printResult(result, { mode: modeId, role });
  } finally {
    input?.close();
    output?.close();
  }
}

runAsScript(module, main);

module.exports = { MODES };

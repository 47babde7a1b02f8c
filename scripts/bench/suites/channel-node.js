'use strict';
// Node contenders of the channel suite (run as child processes): Channel, the
// shared-memory ring, with its calls that return when they are done
// (spinning, or blocking in sync mode). The async contender (await send() /
// receive()) is pipe-node.js's dgram mode over `channel:NAME` endpoints.
// Ping, pong and produce are pipe-node.js's blockingRoles; the consumer is
// here, lean enough for tens of millions of messages a second: a sequence
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

const { message, printResult, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');
const { blockingRoles } = require('./pipe-node');

const BATCH = 1024;

/**
 * A consumer's checks and clock, as bench.h's: each message's length and
 * sequence number, and the time after the WARMUP-th and then every CHUNK
 * messages. `take(data, i)` for message i (its bytes at data[at..at+length)).
 */
class Tally {
  constructor(size, warmup, count, chunk) {
    Object.assign(this, { size, warmup, count, chunk, ns: [], verified: true, t0: 0n, where: new Placement() });
    if (warmup === 0) this.start();
  }

  start() {
    this.where.start();
    this.t0 = process.hrtime.bigint();
  }

  take(data, at, length, i) {
    const stamp = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24);
    if (length !== this.size || stamp !== (i | 0)) this.verified = false;
    const done = i + 1 - this.warmup;
    if (done === 0) {
      this.start();
    } else if (done > 0 && done % this.chunk === 0) {
      const t1 = process.hrtime.bigint();
      this.ns.push(Number(t1 - this.t0));
      this.t0 = t1;
    }
  }

  result() {
    return {
      chunk_ns: this.ns,
      chunk_bytes: this.ns.map(() => this.chunk * this.size),
      verified: this.verified,
      placement: this.where.end(),
    };
  }
}

/** The consumer of a mode whose `receive(ch, buf)` returns the next message. */
function consumer(receive) {
  return (input, size, warmup, count, chunk) => {
    const buf = Buffer.alloc(size);
    const tally = new Tally(size, warmup, count, chunk);
    for (let i = 0; i < warmup + count; i++) {
      const data = receive(input, buf);
      tally.take(data, 0, data.length, i);
    }
    return tally.result();
  };
}

/** Sends one message, retrying at once while the ring is full (the busy-poll). */
function trySendSpin(ch, msg) {
  while (!ch.trySend(msg));
}

/** The roles of a mode: `send(ch, msg)`, `receive(ch, buf)` -> the message (in buf, or a view, or a copy). */
function roles(send, receive) {
  return { ...blockingRoles(send, receive), consume: consumer(receive) };
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
      return { ...roles((ch, msg) => ch.sendSync(msg), receive), ping: blockingRoles(trySendSpin, receive).ping };
    },
  },

  copy: {
    label: 'copy',
    code: 'ch.trySend(msg) (ping) or ch.sendSync(msg) / ch.receiveSync(): a new Buffer per message (copied into a 64 KiB pool, as Buffer.allocUnsafe does), the call most users make; spins 50 µs, then sleeps on a futex',
    roles() {
      const receive = (ch) => ch.receiveSync();
      return { ...roles((ch, msg) => ch.sendSync(msg), receive), ping: blockingRoles(trySendSpin, receive).ping };
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
      return roles(send, receive);
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

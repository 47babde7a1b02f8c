'use strict';
// Node contenders of the channel suite (run as child processes): Channel, the
// shared-memory ring, with each of its APIs. It mirrors channel.c role for
// role: same channels (created by the suite, opened here by name), same
// messages (SIZE bytes of 0x5a, the sequence number in the first four,
// checked by the receiving side), same WARMUP untimed messages, same timing
// points and the same placement record.
//
// Usage: node channel-node.js MODE ROLE IN OUT SIZE WARMUP COUNT CHUNK
//   MODE  sync       trySend (spin while full) or sendSync / receiveSyncInto
//                    (spins 50 µs, then sleeps on a futex): one call per message
//         async      await send() / for await (the event loop, woken by the doorbell)
//         zero-copy  reserve() + commit() / tryReceiveView(), spinning while full or empty
//         batch      trySend per message / receiveMany(BATCH), spinning while empty
//   ROLE  ping | pong | produce | consume (see channel.c)
//   IN, OUT  channel names (- when the role does not use it)
// Prints one JSON line: {"rtt_ns":[...]} (ping), {"chunk_ns":[...],
// "chunk_bytes":[...]} (consume), and every role {"placement":{...}}.

const { message, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const BATCH = 1024;

/**
 * The consumer's clock over `count` timed messages after `warmup`: one mark
 * every `chunk` messages (as in channel.c). `tick(i)` after message i.
 */
function clock(warmup, count, chunk, size) {
  const ns = [];
  const bytes = [];
  const where = new Placement();
  let t0 = 0n;
  return {
    where,
    tick(i) {
      if (i + 1 === warmup) {
        where.start();
        t0 = process.hrtime.bigint();
        return;
      }
      const done = i + 1 - warmup;
      if (done > 0 && done % chunk === 0) {
        const t1 = process.hrtime.bigint();
        ns.push(Number(t1 - t0));
        bytes.push(chunk * size);
        t0 = t1;
      }
    },
    result(verified) {
      return { chunk_ns: ns, chunk_bytes: bytes, verified, placement: where.end() };
    },
  };
}

/** The sequence number at the start of `data` (a Buffer). */
function seqOf(data) {
  return data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24);
}

/**
 * ping, pong, produce and consume of a mode whose calls return when they are
 * done (spinning or blocking): `send(ch, msg)` sends, `receive(ch)` returns
 * the next message (a Buffer, valid until the next receive). No promises; one
 * mode per process, so the calls through `send` and `receive` stay
 * monomorphic. Warm-up starts the clock before message `warmup` (as
 * channel.c), so a consume with warmup 0 is timed from its first message.
 */
function blockingRoles(send, receive) {
  return {
    ping(input, output, size, warmup, count) {
      const rtt = new Float64Array(count);
      const msg = message(size);
      const where = new Placement();
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        const t0 = process.hrtime.bigint();
        send(output, msg);
        const echo = receive(input);
        const t1 = process.hrtime.bigint();
        if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
        if (echo.length !== size || seqOf(echo) !== (i | 0)) verified = false;
      }
      return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
    },

    pong(input, output, size, warmup, count) {
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        send(output, receive(input));
      }
      return { placement: where.end() };
    },

    produce(output, size, warmup, count) {
      const msg = message(size);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        send(output, msg);
      }
      return { placement: where.end() };
    },

    consume(input, size, warmup, count, chunk) {
      const c = clock(warmup, count, chunk, size);
      if (warmup === 0) c.tick(-1);
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        const data = receive(input);
        if (data.length !== size || seqOf(data) !== (i | 0)) verified = false;
        c.tick(i);
      }
      return c.result(verified);
    },
  };
}

/** Sends one message, retrying at once while the ring is full (the busy-poll). */
function trySendSpin(ch, msg) {
  while (!ch.trySend(msg));
}

const MODES = {
  sync: {
    label: 'sync',
    code: 'ch.trySend(msg) (ping) or ch.sendSync(msg) / ch.receiveSyncInto(buf): one native call per message; spins 50 µs, then sleeps on a futex',
    roles(size) {
      // Into one buffer of the message's size: nothing allocated per message
      // (a longer message would throw EMSGSIZE, a shorter one fails the check).
      const buf = Buffer.alloc(size);
      const receive = (ch) => {
        const n = ch.receiveSyncInto(buf);
        return n === size ? buf : buf.subarray(0, n);
      };
      return {
        ...blockingRoles((ch, msg) => ch.sendSync(msg), receive),
        ping: blockingRoles(trySendSpin, receive).ping,
      };
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
    code: `ch.trySend(msg) per message / ch.receiveMany(${BATCH}): up to ${BATCH} messages (copies) per native call; both spin`,
    roles() {
      let got = [];
      let next = 0;
      const receive = (ch) => {
        while (next === got.length) {
          got = ch.receiveMany(BATCH);
          next = 0;
        }
        return got[next++];
      };
      return blockingRoles(trySendSpin, receive);
    },
  },

  async: {
    label: 'async',
    code: 'await ch.send(msg) / for await (const msg of ch): the event loop, woken by the doorbell when the consumer sleeps',
    roles() {
      return {
        async ping(input, output, size, warmup, count) {
          const rtt = new Float64Array(count);
          const msg = message(size);
          const where = new Placement();
          let verified = true;
          for (let i = 0; i < warmup + count; i++) {
            if (i === warmup) where.start();
            msg.writeUInt32LE(i, 0);
            const t0 = process.hrtime.bigint();
            await output.send(msg);
            const echo = await input.receive();
            const t1 = process.hrtime.bigint();
            if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
            if (echo.length !== size || seqOf(echo) !== (i | 0)) verified = false;
          }
          return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
        },

        async pong(input, output, size, warmup, count) {
          const where = new Placement();
          let i = 0;
          for await (const msg of input) {
            if (i === warmup) where.start();
            await output.send(msg);
            if (++i === warmup + count) break;
          }
          return { placement: where.end() };
        },

        async produce(output, size, warmup, count) {
          const msg = message(size);
          const where = new Placement();
          for (let i = 0; i < warmup + count; i++) {
            if (i === warmup) where.start();
            msg.writeUInt32LE(i, 0);
            await output.send(msg);
          }
          return { placement: where.end() };
        },

        async consume(input, size, warmup, count, chunk) {
          const c = clock(warmup, count, chunk, size);
          if (warmup === 0) c.tick(-1);
          let verified = true;
          let i = 0;
          for await (const data of input) {
            if (data.length !== size || seqOf(data) !== (i | 0)) verified = false;
            c.tick(i);
            if (++i === warmup + count) break;
          }
          return c.result(verified);
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
    const fn = MODES[modeId].roles(size)[role];
    const args = [size, warmup, count, chunk];
    const result = await (role === 'ping' || role === 'pong' ? fn(input, output, ...args) : fn(input ?? output, ...args));
    process.stdout.write(`${JSON.stringify({ ...result, mode: modeId, role })}\n`);
    if (result.verified === false) {
      process.stderr.write('verification failed: a message arrived out of order or with the wrong size\n');
      return 1;
    }
    return 0;
  } finally {
    input?.close();
    output?.close();
  }
}

runAsScript(module, main);

module.exports = { MODES };

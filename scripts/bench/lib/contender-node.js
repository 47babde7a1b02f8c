'use strict';
// What every Node contender script shares: its messages (as the C contenders
// make them: `size` bytes of 0x5a, the sequence number in the first four) and
// the loops of their ping, pong, produce and consume roles; how it runs as a child process.

const { Placement } = require('./placement-node');

/** A message of `size` bytes; the caller writes its sequence number at offset 0. */
function message(size) {
  return Buffer.alloc(size, 0x5a);
}

/** Whether `data` is message `seq`: `size` bytes, its sequence number first. */
function isMessage(data, size, seq) {
  return data.length === size && data.readUInt32LE(0) === seq >>> 0;
}

/**
 * Prints a role's JSON line (`result` and `extra`, e.g. the mode and role)
 * and returns the exit status: 1 when the messages failed their checks.
 */
function printResult(result, extra) {
  process.stdout.write(`${JSON.stringify({ ...result, ...extra })}\n`);
  if (result.verified !== false) return 0;
  process.stderr.write('verification failed: a message arrived out of order or with the wrong size\n');
  return 1;
}

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

/** What a ping role starts with: its round-trip times, the message it sends, a buffer for the echo, its placement. */
function pingState(size, count) {
  return { rtt: new Float64Array(count), msg: message(size), echo: Buffer.alloc(size), where: new Placement() };
}

/**
 * ping, pong and produce of a contender whose calls return when they are
 * done (blocking or spinning), as the C contenders' bench_run_role:
 * `send(output, msg)` sends one message, `receive(input, buf)` returns the
 * next one's bytes (in `buf`, or in a buffer of its own). No promises
 * anywhere; each process runs one mode, so the calls through `send` and
 * `receive` stay monomorphic.
 */
function blockingRoles(send, receive) {
  return {
    ping(input, output, size, warmup, count) {
      const { rtt, msg, echo, where } = pingState(size, count);
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        const t0 = process.hrtime.bigint();
        send(output, msg);
        const got = receive(input, echo);
        const t1 = process.hrtime.bigint();
        if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
        if (!isMessage(got, size, i)) verified = false;
      }
      return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
    },

    pong(input, output, size, warmup, count) {
      const buf = Buffer.alloc(size);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        send(output, receive(input, buf));
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
      const buf = Buffer.alloc(size);
      const tally = new Tally(size, warmup, count, chunk);
      for (let i = 0; i < warmup + count; i++) {
        const data = receive(input, buf);
        tally.take(data, 0, data.length, i);
      }
      return tally.result();
    },
  };
}

/**
 * The same roles for calls that return promises (the event loop waits):
 * every send and receive is awaited; `msg` is reused once its send settled.
 */
function awaitingRoles(send, receive) {
  return {
    async ping(input, output, size, warmup, count) {
      const { rtt, msg, echo, where } = pingState(size, count);
      let verified = true;
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        const t0 = process.hrtime.bigint();
        await send(output, msg);
        const got = await receive(input, echo);
        const t1 = process.hrtime.bigint();
        if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
        if (!isMessage(got, size, i)) verified = false;
      }
      return { rtt_ns: Array.from(rtt), verified, placement: where.end() };
    },

    async pong(input, output, size, warmup, count) {
      const buf = Buffer.alloc(size);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        await send(output, await receive(input, buf));
      }
      return { placement: where.end() };
    },

    async produce(output, size, warmup, count) {
      const msg = message(size);
      const where = new Placement();
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        msg.writeUInt32LE(i, 0);
        await send(output, msg);
      }
      return { placement: where.end() };
    },

    async consume(input, size, warmup, count, chunk) {
      const buf = Buffer.alloc(size);
      const tally = new Tally(size, warmup, count, chunk);
      for (let i = 0; i < warmup + count; i++) {
        const data = await receive(input, buf);
        tally.take(data, 0, data.length, i);
      }
      return tally.result();
    },
  };
}

/** Runs `main(argv)` when `mod` is the entry point; its result is the exit code. */
function runAsScript(mod, main) {
  if (require.main !== mod) return;
  main(process.argv.slice(2)).then(
    (status) => (process.exitCode = status),
    (err) => {
      process.stderr.write(`${err.stack || err}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { Tally, awaitingRoles, blockingRoles, isMessage, message, pingState, printResult, runAsScript };

'use strict';
// Contender of the pool suite (run as a child process): starts one pool of
// SIZE workers with one library and measures, with that same pool, the four
// cases of pool.js: ROUNDS empty tasks one at a time (round trip, µs), TASKS
// empty tasks with INFLIGHT in flight (tasks/s, one sample per CHUNK
// completions), BULK tasks echoing a BYTES-byte Buffer (ms per task, the
// echo checked byte for byte outside the timing), and BULK echoes of a
// BYTES-byte Buffer over sealed anonymous SharedMemory (this package's Pools
// send it by reference; the other contenders, which cannot, get the same
// bytes in a plain Buffer, so their time is their `bulk` again). WARMUP empty tasks, some
// with every worker busy, come first, so every worker has started and loaded
// pool-task.js before the clock runs.
//
// Usage: node pool-node.js CONTENDER SIZE WARMUP ROUNDS TASKS INFLIGHT CHUNK BYTES BULK
// Prints one JSON line: {"rtt_ns":[...],"tput_ns":[...],"bulk_ns":[...],"bulk_shared_ns":[...],...}.

const { fork } = require('node:child_process');
const path = require('node:path');

const { runAsScript } = require('../lib/contender-node');

const TASKS = path.join(__dirname, 'pool-task.js');
const DIST = path.join(__dirname, '..', '..', '..', 'dist');

/**
 * This package's Pool with `extra` options; each runtime is one entry of
 * CONTENDERS. A pool: `{ run(name, arg) → Promise, close() → Promise }`.
 */
function poolOf(extra) {
  return (size) => {
    const { Pool } = require(DIST);
    const pool = new Pool({ file: TASKS, size, ...extra });
    return { run: (name, arg) => pool.run(arg, { name }), close: () => pool.close() };
  };
}

/**
 * `child_process.fork` + `process.send`, as a user writes it: SIZE children
 * running pool-fork-worker.js, requests handed out round robin (several may
 * wait in one child's pipe), answers matched by id.
 */
function forkPool(size) {
  const pending = new Map();
  let next = 0;
  const children = Array.from({ length: size }, () => {
    const child = fork(path.join(__dirname, 'pool-fork-worker.js'), [], { serialization: 'advanced' });
    child.on('message', ({ id, value }) => {
      pending.get(id)(value);
      pending.delete(id);
    });
    return child;
  });
  return {
    run: (name, arg) =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        children[id % size].send({ id, name, arg });
      }),
    close: () => Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve).disconnect()))),
  };
}

/** The libraries, each `start(size)` → a pool. */
const CONTENDERS = {
  'fork': {
    label: 'fork + process.send',
    code: "child_process.fork(worker, { serialization: 'advanced' }) x size, child.send({ id, name, arg }) round robin, answers by id",
    start: forkPool,
  },
  'pool-process': {
    label: 'Pool (process)',
    code: 'new Pool({ file, size }), await pool.run(arg, { name }): v8-serialized over Channels',
    start: poolOf({}),
    sharedMemory: true,
  },
  'pool-thread': {
    label: 'Pool (thread)',
    code: "new Pool({ file, size, runtime: 'thread' }), await pool.run(arg, { name }): worker_threads, v8-serialized over Channels",
    start: poolOf({ runtime: 'thread' }),
    sharedMemory: true,
  },
  'piscina': {
    label: 'piscina (threads)',
    code: 'new Piscina({ filename, minThreads: size, maxThreads: size }), await piscina.run(arg, { name }): worker threads, structured clone',
    start: (size) => {
      const { Piscina } = require('piscina');
      const pool = new Piscina({ filename: TASKS, minThreads: size, maxThreads: size });
      return { run: (name, arg) => pool.run(arg, { name }), close: () => pool.destroy() };
    },
  },
  'tinypool': {
    label: 'tinypool (child_process)',
    code: "new Tinypool({ filename, runtime: 'child_process', serialization: 'advanced', minThreads: size, maxThreads: size }), await pool.run(arg, { name })",
    start: async (size) => {
      // tinypool is an ES module only.
      const { Tinypool } = await import('tinypool');
      const pool = new Tinypool({
        filename: TASKS, runtime: 'child_process', serialization: 'advanced', minThreads: size, maxThreads: size,
      });
      return { run: (name, arg) => pool.run(arg, { name }), close: () => pool.destroy() };
    },
  },
  'workerpool': {
    label: 'workerpool (process)',
    code: "workerpool.pool(file, { workerType: 'process', forkOpts: { serialization: 'advanced' }, minWorkers: size, maxWorkers: size }), await pool.exec(name, [arg])",
    start: (size) => {
      const workerpool = require('workerpool');
      const pool = workerpool.pool(path.join(__dirname, 'pool-workerpool-worker.js'), {
        workerType: 'process', forkOpts: { serialization: 'advanced' }, minWorkers: size, maxWorkers: size,
      });
      return { run: (name, arg) => pool.exec(name, [arg]), close: () => pool.terminate() };
    },
  },
};

/** Nanoseconds since `t0`. */
const since = (t0) => Number(process.hrtime.bigint() - t0);

/** TASKS empty tasks, INFLIGHT at a time; the time of each CHUNK completions. */
function throughput(pool, tasks, inflight, chunk) {
  return new Promise((resolve, reject) => {
    const ns = [];
    let started = 0;
    let done = 0;
    let t0 = process.hrtime.bigint();
    const launch = () => {
      started++;
      pool.run('empty', null).then(() => {
        done++;
        if (done % chunk === 0) {
          ns.push(since(t0));
          t0 = process.hrtime.bigint();
        }
        if (done === tasks) resolve(ns);
        else if (started < tasks) launch();
      }, reject);
    };
    for (let i = 0; i < Math.min(inflight, tasks); i++) launch();
  });
}

/** Whether `echo` holds the bytes of `buf` (any typed array: the transports differ in what they rebuild). */
function sameBytes(echo, buf) {
  return ArrayBuffer.isView(echo) && Buffer.from(echo.buffer, echo.byteOffset, echo.byteLength).equals(buf);
}

/**
 * The Buffer of the bulk-shared case: over sealed anonymous SharedMemory for a contender that sends such views by
 * reference (`sharedMemory`), a plain Buffer for the others; `close()` after the case.
 */
function sharedBuffer(id, bytes) {
  if (CONTENDERS[id].sharedMemory !== true) return { buf: Buffer.alloc(bytes), close: () => undefined };
  const { SharedMemory } = require(DIST);
  const shm = SharedMemory.anonymous(bytes, { seal: true });
  return { buf: Buffer.from(shm.buffer), close: () => shm.close() };
}

/** `bulk` echoes of `buf` (written with a pattern first): the time of each, and whether every echo held its bytes. */
async function echoes(pool, buf, bulk) {
  for (let i = 0; i < buf.byteLength; i += 4096) buf[i] = i >>> 12;
  const ns = [];
  let verified = true;
  for (let i = 0; i < bulk; i++) {
    const t0 = process.hrtime.bigint();
    const echo = await pool.run('echo', buf);
    ns.push(since(t0));
    verified &&= sameBytes(echo, buf);
  }
  return { ns, verified };
}

async function main(argv) {
  if (argv.length !== 9 || !Object.hasOwn(CONTENDERS, argv[0])) {
    process.stderr.write(`usage: pool-node.js ${Object.keys(CONTENDERS).join('|')} SIZE WARMUP ROUNDS TASKS INFLIGHT CHUNK BYTES BULK\n`);
    return 2;
  }
  const id = argv[0];
  const [size, warmup, rounds, tasks, inflight, chunk, bytes, bulk] = argv.slice(1).map(Number);
  const pool = await CONTENDERS[id].start(size);
  try {
    for (let i = 0; i < warmup; i++) await Promise.all(Array.from({ length: i % 2 === 0 ? size : 1 }, () => pool.run('empty', null)));

    const rttNs = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = process.hrtime.bigint();
      await pool.run('empty', null);
      rttNs.push(since(t0));
    }

    const tputNs = await throughput(pool, tasks, inflight, chunk);

    const plain = await echoes(pool, Buffer.alloc(bytes), bulk);
    const shared = sharedBuffer(id, bytes);
    let inShared;
    try {
      inShared = await echoes(pool, shared.buf, bulk);
    } finally {
      shared.close();
    }
    const verified = plain.verified && inShared.verified;
    const out = {
      rtt_ns: rttNs, tput_ns: tputNs, bulk_ns: plain.ns, bulk_shared_ns: inShared.ns, verified, contender: id,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (verified) return 0;
    process.stderr.write('verification failed: an echoed Buffer came back with other bytes\n');
    return 1;
  } finally {
    await pool.close();
  }
}

runAsScript(module, main);

module.exports = { CONTENDERS };

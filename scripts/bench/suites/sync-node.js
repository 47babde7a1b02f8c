'use strict';
// Node contenders of the sync suite (run as child processes): Mutex,
// Semaphore and futex from the library, in the segment the suite made, at
// the offsets sync.c uses, role for role as sync.c does (see there).
//
// Usage: node sync-node.js PRIM MODE ROLE SHM WARMUP COUNT CHUNK
//   PRIM  mutex | sem | futex
//   MODE  sync (lockSync, acquireSync, futex.waitSync) |
//         async (await lock(), await acquire(), await futex.wait())
//   ROLE  solo | ping | pong

const { runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

// The layout of the segment, as in sync.c.
const AT = { READY: 0, SEQ: 4, ROUND: 8, T1: 16, WORD_A: 64, WORD_B: 128, SEM_A: 256, SEM_B: 320, MUTEX: 512 };

/** What each primitive does per step, given the segment; sync and async variants. */
const PRIMS = {
  mutex: {
    code: { sync: 'm.lockSync() / m.unlock()', async: 'await m.lock() / m.unlock()' },
    open({ Mutex }, shm, first) {
      const m = Mutex.inside(shm, AT.MUTEX, first ? { init: true } : {});
      const word = new Int32Array(shm.buffer, AT.MUTEX, 1);
      return { m, word };
    },
    solo: { sync: ({ m }) => (m.lockSync(), m.unlock()), async: async ({ m }) => (await m.lock(), m.unlock()) },
    // Ping holds the mutex; pong blocks in lock(); see sync.c.
    ping({ m, word }, i, v) {
      while (Atomics.load(word, 0) >= 0); // until FUTEX_WAITERS (the sign bit) says pong sleeps
      const t0 = process.hrtime.bigint();
      m.unlock();
      while (Atomics.load(v.i32, AT.SEQ / 4) !== i + 1);
      const t1 = v.u64[AT.T1 / 8];
      m.lockSync();
      Atomics.store(v.i32, AT.ROUND / 4, i + 1);
      return Number(t1 - t0);
    },
    pong: {
      sync: ({ m }, i, v) => {
        m.lockSync();
        pongHolds(m, i, v);
      },
      async: async ({ m }, i, v) => {
        await m.lock();
        pongHolds(m, i, v);
      },
    },
    // Ping starts holding the mutex.
    setup: { ping: ({ m }) => m.lockSync() },
  },
  sem: {
    code: { sync: 's.acquireSync() / s.release()', async: 'await s.acquire() / s.release()' },
    open({ Semaphore }, shm, first) {
      const opts = first ? { initial: 0 } : {};
      return { a: Semaphore.inside(shm, AT.SEM_A, opts), b: Semaphore.inside(shm, AT.SEM_B, opts) };
    },
    solo: { sync: ({ a }) => (a.acquireSync(), a.release()), async: async ({ a }) => (await a.acquire(), a.release()) },
    handoff: {
      sync: {
        ping: ({ a, b }) => (a.release(), b.acquireSync()),
        pong: ({ a, b }) => (a.acquireSync(), b.release()),
      },
      async: {
        ping: async ({ a, b }) => (a.release(), await b.acquire()),
        pong: async ({ a, b }) => (await a.acquire(), b.release()),
      },
    },
    // Solo starts with one token to take and give back.
    setup: { solo: ({ a }) => a.release() },
  },
  futex: {
    code: { sync: 'futex.waitSync() / futex.wake()', async: 'await futex.wait() / futex.wake()' },
    open({ futex }, shm) {
      return { futex, a: new Int32Array(shm.buffer, AT.WORD_A, 1), b: new Int32Array(shm.buffer, AT.WORD_B, 1) };
    },
    // The word is 0: the wait returns 'not-equal' without sleeping.
    solo: { sync: ({ futex, a }) => futex.waitSync(a, 0, 1), async: ({ futex, a }) => futex.wait(a, 0, 1) },
    handoff: {
      sync: {
        ping: ({ futex, a, b }, i) => (signal(futex, a, i), awaitSync(futex, b, i)),
        pong: ({ futex, a, b }, i) => (awaitSync(futex, a, i), signal(futex, b, i)),
      },
      async: {
        ping: async ({ futex, a, b }, i) => (signal(futex, a, i), await awaitAsync(futex, b, i)),
        pong: async ({ futex, a, b }, i) => (await awaitAsync(futex, a, i), signal(futex, b, i)),
      },
    },
  },
};

function pongHolds(m, i, v) {
  v.u64[AT.T1 / 8] = process.hrtime.bigint();
  m.unlock();
  Atomics.store(v.i32, AT.SEQ / 4, i + 1);
  while (Atomics.load(v.i32, AT.ROUND / 4) !== i + 1);
}

function signal(futex, word, i) {
  Atomics.store(word, 0, i + 1);
  futex.wake(word, 0);
}

function awaitSync(futex, word, i) {
  let v;
  while ((v = Atomics.load(word, 0)) !== i + 1) futex.waitSync(word, 0, v);
}

async function awaitAsync(futex, word, i) {
  let v;
  while ((v = Atomics.load(word, 0)) !== i + 1) await futex.wait(word, 0, v);
}

async function solo(step, objects, warmup, count, chunk) {
  const out = new Float64Array(count / chunk);
  const where = new Placement();
  let t0 = 0n;
  for (let i = 0; i < warmup + count; i++) {
    if (i === warmup) {
      where.start();
      t0 = process.hrtime.bigint();
    }
    const r = step(objects);
    if (r instanceof Promise) await r;
    const done = i + 1 - warmup;
    if (done > 0 && done % chunk === 0) {
      const t1 = process.hrtime.bigint();
      out[done / chunk - 1] = Number(t1 - t0) / chunk;
      t0 = t1;
    }
  }
  return { op_ns: Array.from(out), placement: where.end() };
}

async function handoff(prim, mode, role, objects, views, warmup, count) {
  const out = new Float64Array(count);
  const where = new Placement();
  for (let i = 0; i < warmup + count; i++) {
    if (i === warmup) where.start();
    let ns;
    if (prim.ping !== undefined) {
      // mutex: ping measures one direction itself.
      if (role === 'ping') ns = prim.ping(objects, i, views);
      else await prim.pong[mode](objects, i, views);
    } else {
      const t0 = process.hrtime.bigint();
      const r = prim.handoff[mode][role](objects, i);
      if (r instanceof Promise) await r;
      ns = Number(process.hrtime.bigint() - t0) / 2;
    }
    if (role === 'ping' && i >= warmup) out[i - warmup] = ns;
  }
  return role === 'ping' ? { handoff_ns: Array.from(out), placement: where.end() } : { placement: where.end() };
}

async function main(argv) {
  const [primId, mode, role, name] = argv;
  const [warmup, count, chunk] = argv.slice(4).map(Number);
  if (argv.length !== 7 || !Object.hasOwn(PRIMS, primId) || !['sync', 'async'].includes(mode) || !['solo', 'ping', 'pong'].includes(role)) {
    process.stderr.write(`usage: sync-node.js ${Object.keys(PRIMS).join('|')} sync|async solo|ping|pong SHM WARMUP COUNT CHUNK\n`);
    return 2;
  }
  const lib = require('../../../dist');
  const prim = PRIMS[primId];
  const shm = lib.SharedMemory.open(name);
  const views = { i32: new Int32Array(shm.buffer), u64: new BigUint64Array(shm.buffer) };
  // Pong attaches once ping has initialised the primitives.
  if (role === 'pong') {
    while (Atomics.load(views.i32, AT.READY / 4) !== 1) await new Promise((resolve) => setImmediate(resolve));
  }
  const objects = prim.open(lib, shm, role !== 'pong');
  prim.setup?.[role]?.(objects);
  let result;
  if (role === 'solo') {
    result = await solo(prim.solo[mode], objects, warmup, count, chunk);
  } else {
    if (role === 'ping') Atomics.store(views.i32, AT.READY / 4, 1);
    result = await handoff(prim, mode, role, objects, views, warmup, count);
  }
  process.stdout.write(`${JSON.stringify({ ...result, prim: primId, mode, role })}\n`);
  return 0;
}

runAsScript(module, main);

module.exports = { PRIMS };

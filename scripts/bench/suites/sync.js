'use strict';
// Suite sync: cross-process synchronisation, C next to the library.
//
// Cases, both measured by every contender run:
//   uncontended  one process takes and gives back, COUNT times: a robust
//                mutex lock+unlock, a semaphore wait+post, a futex wait that
//                finds the value changed (returns at once); ns per pair
//   handoff      two processes: how long until a sleeping waiter runs once
//                the other side lets it (µs). sem and futex: half of a
//                ping-pong round trip; mutex: from unlock() in one process
//                to the lock() that was blocked in the other returning
//                (sync.c explains the protocol)
// Contenders, each its own processes per case and rep:
//   C mutex (baseline), C sem, C futex    sync.c: pthread robust mutex,
//                                         sem_wait/sem_post, futex(2)
//   Node <prim> sync                      lockSync / acquireSync / futex.waitSync
//   Node <prim> async                     await lock() / acquire() / futex.wait()
// Each Node contender's ratios are against the C contender of the same
// primitive. The suite makes a fresh 4096-byte segment per run (the
// primitives are initialised inside it by the first process) and unlinks it
// after the run; resources.js unlinks it at exit or on a signal.

const path = require('node:path');

const { compileC, compileCommand, runTogether } = require('../lib/child');
const { commandOf, pairContender, roundTrip, solo, startRoles } = require('../lib/pair-contender');
const { shmName } = require('../lib/resources');
const { PRIMS } = require('./sync-node');

const C_SOURCE = path.join(__dirname, 'sync.c');
const NODE_SCRIPT = path.join(__dirname, 'sync-node.js');
const C_CODE = {
  mutex: 'pthread_mutex_lock/unlock (robust, process-shared)',
  sem: 'sem_wait/sem_post (process-shared)',
  futex: 'futex(2) FUTEX_WAIT/FUTEX_WAKE (shared)',
};

/** Runs `start(name, signal)` on a fresh zeroed segment, unlinked afterwards. */
async function withSegment(start) {
  const { SharedMemory } = require('../../../dist');
  const name = shmName('sync');
  SharedMemory.create(name, 4096).close();
  try {
    return await runTogether((signal) => start(name, signal));
  } finally {
    SharedMemory.unlink(name);
  }
}

/**
 * A contender: `command(role, shm, warmup, count, chunk)` gives the executable
 * and its arguments for one process; each case runs on a fresh segment.
 */
function contender(spec, command, params) {
  const { warmup, count, chunk, handoffWarmup, handoffCount } = params;
  const handoff = {
    ...roundTrip('handoff', 'hand-off', handoffCount),
    // A hand-off carries no message: nothing to verify; its times are handoff_ns.
    verify: null,
    samples: ([ping]) => ping.handoff_ns.map((ns) => ns / 1000),
  };
  const cases = [
    { ...solo('uncontended', (out) => out.op_ns), numbers: [warmup, count, chunk] },
    { ...handoff, numbers: [handoffWarmup, handoffCount, 1] },
  ];
  return pairContender(spec, cases, (c) =>
    withSegment((name, signal) => startRoles(c, { label: spec.label, command, ends: () => [name] }, signal)));
}

module.exports = {
  id: 'sync',
  title: 'Mutex, Semaphore and futex: uncontended cost and hand-off between processes',
  cases: [
    { id: 'uncontended', label: 'uncontended pair', unit: 'ns', higherIsBetter: false },
    { id: 'handoff', label: 'hand-off', unit: 'µs', higherIsBetter: false },
  ],

  params({ quick }) {
    return quick
      ? { warmup: 1000, count: 20000, chunk: 2000, handoffWarmup: 20, handoffCount: 100 }
      : { warmup: 10000, count: 500000, chunk: 10000, handoffWarmup: 500, handoffCount: 5000 };
  },

  describe({ count, chunk, handoffCount, handoffWarmup }, reps) {
    return (
      `${this.title}; uncontended: ${count} pairs in one process, one sample per ${chunk}; ` +
      `hand-off: two processes (unpinned), ${handoffCount} timed after ${handoffWarmup} warm-up; ${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const bin = compileC(C_SOURCE);
    const list = [];
    for (const prim of Object.keys(PRIMS)) {
      const c = {
        id: `c-${prim}`,
        label: `C ${prim}`,
        group: 'C',
        baseline: prim === 'mutex',
        code: `${C_CODE[prim]}; ${compileCommand(C_SOURCE)}`,
      };
      list.push(contender(c, commandOf(bin, prim), params));
      for (const mode of ['sync', 'async']) {
        const node = { id: `node-${prim}-${mode}`, label: `Node ${prim} ${mode}`, group: 'Node', versus: `c-${prim}`, code: PRIMS[prim].code[mode] };
        list.push(contender(node, commandOf(process.execPath, NODE_SCRIPT, prim, mode), params));
      }
    }
    return list;
  },
};

'use strict';
// Suite pool: this package's Pool next to the worker pools Node users reach
// for, and next to what they write by hand.
//
// Cases, all measured with one pool of SIZE (2) workers per contender run:
//   rtt    an empty task, one at a time: its round trip (µs)
//   tput   TASKS empty tasks with INFLIGHT in flight (tasks/s, one sample
//          per CHUNK completions)
//   bulk   a Buffer of BYTES (64 MiB) echoed back (ms per task)
//   bulk-shared  the same over sealed anonymous SharedMemory, which this
//          package's Pools (process and thread) send by reference, no copy;
//          the other contenders cannot, and echo the same bytes in a plain
//          Buffer (their `bulk` again), as the case's label says
// Contenders, each a fresh process per rep (pool-node.js CONTENDER ...), the
// same tasks (pool-task.js) everywhere:
//   fork + process.send (baseline)   child_process.fork, a hand-written loop
//   Pool (process)                   new Pool({ file, size })
//   Pool (thread)                    new Pool({ file, size, runtime: 'thread' })
//   piscina (threads), tinypool (child_process), workerpool (process)
// The goals (issue #15) compare Pool (process) with the others of the same run.

const path = require('node:path');

const { runJson } = require('../lib/child');
const { CONTENDERS } = require('./pool-node');

const MiB = 1024 * 1024;
const NODE_SCRIPT = path.join(__dirname, 'pool-node.js');
/** The baseline: what a user has without any pool library (README.md says why). */
const BASELINE = 'fork';
const POOL = 'pool-process';

/** A contender's {rtt_ns, tput_ns, bulk_ns, bulk_shared_ns} as samples in the cases' units. */
function toSamples(out, { chunk }, label) {
  if (out.verified !== true) throw new Error(`${label}: an echoed Buffer did not verify`);
  return {
    rtt: out.rtt_ns.map((ns) => ns / 1e3),
    tput: out.tput_ns.map((ns) => (chunk * 1e9) / ns),
    bulk: out.bulk_ns.map((ns) => ns / 1e6),
    'bulk-shared': out.bulk_shared_ns.map((ns) => ns / 1e6),
  };
}

module.exports = {
  id: 'pool',
  title: 'Worker pools: empty-task round trip, tasks/s with many in flight, a large Buffer echoed (plain, in SharedMemory)',
  cases: [
    { id: 'rtt', label: 'round trip, empty task', unit: 'µs', higherIsBetter: false },
    { id: 'tput', label: 'empty tasks, many in flight', unit: 'tasks/s', higherIsBetter: true },
    { id: 'bulk', label: 'Buffer argument echoed', unit: 'ms', higherIsBetter: false },
    {
      id: 'bulk-shared',
      label: 'SharedMemory Buffer echoed (by reference in Pools; a plain Buffer for the others)',
      unit: 'ms',
      higherIsBetter: false,
    },
  ],
  goal: [
    { contender: POOL, cases: ['rtt'], versus: 'piscina', ratio: 1 },
    { contender: POOL, cases: ['rtt'], versus: 'tinypool', ratio: 0.1 },
    { contender: POOL, cases: ['rtt'], versus: 'workerpool', ratio: 0.1 },
    { contender: POOL, cases: ['bulk'], versus: 'piscina', ratio: 0.1 },
    { contender: POOL, cases: ['bulk-shared'], versus: 'piscina', ratio: 0.1 },
  ],

  params({ quick }) {
    return quick
      ? { size: 2, warmup: 20, rounds: 100, tasks: 1000, inflight: 256, chunk: 250, bytes: MiB, bulk: 3 }
      : { size: 2, warmup: 200, rounds: 5000, tasks: 10000, inflight: 256, chunk: 1000, bytes: 64 * MiB, bulk: 10 };
  },

  describe({ size, rounds, tasks, inflight, chunk, bytes, bulk }, reps) {
    const mib = bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} B`;
    return (
      `${this.title}; ${size} workers per pool, a fresh process per contender and rep; round trip: ${rounds} tasks one at a time; ` +
      `${tasks} tasks ${inflight} in flight, a sample per ${chunk}; ${bulk} echoes of ${mib}, then ${bulk} of ${mib} in ` +
      `SharedMemory (a plain Buffer for libraries); ${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const numbers = ['size', 'warmup', 'rounds', 'tasks', 'inflight', 'chunk', 'bytes', 'bulk'].map((k) => String(params[k]));
    return Object.entries(CONTENDERS).map(([id, { label, code }]) => ({
      id,
      label,
      group: id === BASELINE ? 'fork' : id.startsWith('pool-') ? 'posix-ipc' : 'libraries',
      baseline: id === BASELINE,
      note: code,
      run: async () => {
        const out = await runJson(process.execPath, [NODE_SCRIPT, id, ...numbers], { label });
        return toSamples(out, params, label);
      },
    }));
  },
};

'use strict';
// Suite shm-copy: bulk copy bandwidth into and out of a SharedMemory mapping.
//
// Contenders, each a fresh child process per rep:
//   C memcpy (baseline)  shm-copy.c, compiled with the system compiler in this run
//   Node Uint8Array#set  shm-copy-node.js set
//   Node Buffer#copy     shm-copy-node.js buffer-copy
// Each copies SIZE bytes private memory -> shm ("into shm") and shm -> private
// memory ("out of shm"), ITERS timed copies per direction after WARMUP untimed
// ones; one sample is one copy, in GB/s (1e9 bytes per second).

const path = require('node:path');

const { compileC, compileCommand, runJson } = require('../lib/child');
const { shmName } = require('../lib/resources');
const { METHODS } = require('./shm-copy-node');

const MiB = 1024 * 1024;
const C_SOURCE = path.join(__dirname, 'shm-copy.c');
const NODE_SCRIPT = path.join(__dirname, 'shm-copy-node.js');

function bytes(n) {
  return n % MiB === 0 ? `${n / MiB} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`;
}

/** Turns a child's {in_ns, out_ns} into GB/s samples (bytes per ns = GB/s). */
function toSamples(out, size, label) {
  if (out.verified !== true) throw new Error(`${label}: the copied bytes did not verify`);
  return {
    in: out.in_ns.map((ns) => size / ns),
    out: out.out_ns.map((ns) => size / ns),
  };
}

module.exports = {
  id: 'shm-copy',
  title: 'SharedMemory bulk copy bandwidth',
  unit: 'GB/s',
  higherIsBetter: true,
  cases: [
    { id: 'in', label: 'into shm' },
    { id: 'out', label: 'out of shm' },
  ],
  goal: { group: 'Node', ratio: 0.8 },

  params({ quick }) {
    return quick ? { size: 4 * MiB, iters: 5, warmup: 1 } : { size: 64 * MiB, iters: 20, warmup: 3 };
  },

  describe({ size, iters, warmup }, reps) {
    return (
      `${this.title}, ${bytes(size)} per copy, ${iters} timed copies per direction per rep ` +
      `after ${warmup} warm-up, ${reps} reps interleaved (GB/s = 1e9 bytes/s)`
    );
  },

  async prepare({ size, iters, warmup }) {
    const bin = compileC(C_SOURCE);
    const counts = [String(size), String(iters), String(warmup)];
    const c = {
      id: 'c-memcpy',
      label: 'C memcpy',
      group: 'C',
      baseline: true,
      note: `memcpy(3) on shm_open+posix_fallocate+mmap memory; ${compileCommand(C_SOURCE)}`,
      run: async (rep) => toSamples(await runJson(bin, [shmName('shm-copy', 'c', rep), ...counts], { label: 'C memcpy' }), size, 'C memcpy'),
    };
    const node = Object.entries(METHODS).map(([method, { label, code }]) => ({
      id: `node-${method}`,
      label: `Node ${label}`,
      group: 'Node',
      note: code,
      run: async (rep) => {
        const args = [NODE_SCRIPT, method, shmName('shm-copy', method, rep), ...counts];
        return toSamples(await runJson(process.execPath, args, { label: `Node ${label}` }), size, `Node ${label}`);
      },
    }));
    return [c, ...node];
  },
};

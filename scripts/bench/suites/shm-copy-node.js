'use strict';
// Node contender of the shm-copy suite (run as a child process): bulk copies
// into and out of SharedMemory.buffer with one JavaScript copy method. It
// mirrors shm-copy.c step for step: same object setup (SharedMemory.create
// does shm_open + posix_fallocate + mmap MAP_SHARED), private source and
// destination from the same allocator (malloc, via Buffer.allocUnsafeSlow),
// every page written before the first copy, WARMUP untimed copies per
// direction, then ITERS timed copies into the view and ITERS out of it.
//
// Usage: node shm-copy-node.js METHOD NAME SIZE ITERS WARMUP
// Prints one JSON line: {"in_ns":[...],"out_ns":[...],"verified":true,...}.

/**
 * The copy methods, each an honest full copy of `size` bytes (no views, no
 * lazy tricks). `view` is a Uint8Array over the mapping, `buf` a Buffer over
 * the same mapping (Buffer.from(arrayBuffer) does not copy).
 */
const METHODS = {
  'set': {
    label: 'Uint8Array#set',
    code: 'view.set(src) / dst.set(view), view = new Uint8Array(shm.buffer)',
    into: (m) => () => m.view.set(m.src),
    outOf: (m) => () => m.dst.set(m.view),
  },
  'buffer-copy': {
    label: 'Buffer#copy',
    code: 'src.copy(buf) / buf.copy(dst), buf = Buffer.from(shm.buffer)',
    into: (m) => () => m.src.copy(m.buf),
    outOf: (m) => () => m.buf.copy(m.dst),
  },
};

function time(fn, iters) {
  const ns = new Array(iters);
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ns[i] = Number(process.hrtime.bigint() - t0);
  }
  return ns;
}

function main(argv) {
  if (argv.length !== 5 || !Object.hasOwn(METHODS, argv[0])) {
    process.stderr.write(`usage: shm-copy-node.js ${Object.keys(METHODS).join('|')} NAME SIZE ITERS WARMUP\n`);
    return 2;
  }
  const [methodId, name] = argv;
  const [size, iters, warmup] = argv.slice(2).map(Number);
  const method = METHODS[methodId];

  // Required here, so that the suite module can read METHODS without the library.
  const { SharedMemory } = require('../../../dist');
  const shm = SharedMemory.create(name, size);
  try {
    // The mapping keeps the memory; the name is not needed any more.
    shm.unlink();
    const src = Buffer.allocUnsafeSlow(size);
    const dst = Buffer.allocUnsafeSlow(size);
    const view = new Uint8Array(shm.buffer);
    const buf = Buffer.from(shm.buffer);

    // Fault in every page, with contents that differ between the regions
    // (the same bytes as the C side: src[i] = i & 0xff).
    const ramp = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) ramp[i] = i;
    src.fill(ramp);
    dst.fill(0xa5);
    view.fill(0x5a);

    const m = { src, dst, view, buf };
    const copyIn = method.into(m);
    const copyOut = method.outOf(m);
    for (let i = 0; i < warmup; i++) {
      copyIn();
      copyOut();
    }
    const inNs = time(copyIn, iters);
    const outNs = time(copyOut, iters);
    // The bytes made the round trip src -> shm -> dst.
    const verified = dst.equals(src);
    process.stdout.write(`${JSON.stringify({ in_ns: inNs, out_ns: outNs, verified, method: methodId })}\n`);
    if (!verified) {
      process.stderr.write('verification failed: dst differs from src after the copies\n');
      return 1;
    }
    return 0;
  } finally {
    shm.close();
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { METHODS };

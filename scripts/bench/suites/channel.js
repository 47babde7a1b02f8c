'use strict';
// Suite channel: Channel, the shared-memory ring, next to C and to the
// channels Node users have.
//
// Cases, all measured by every contender run, each with a fresh pair of
// processes (and fresh channels) per case and rep:
//   rtt64, rtt64k    round trip: process A sends message i (64 B or 64 KiB),
//                    process B receives it and sends it back, A receives the
//                    echo; one sample is one round trip in µs (lower is better)
//   tput64, tput64k  one way: a producer sends WARMUP + COUNT messages, a
//                    consumer receives them; one sample is the consumer's rate
//                    over CHUNK messages: msg/s for 64 B, MB/s for 64 KiB
// Contenders:
//   C spin (baseline)   channel.c spin: a one-message mailbox in shared memory,
//                       two flags and the payload, both sides spinning: the floor
//   C ring              channel.c ring: the Channel's protocol through include/posix-ipc/ring.h
//   Channel sync        channel-node.js sync: trySend/sendSync / receiveSyncInto
//   Channel sync (copy) channel-node.js copy: trySend/sendSync / receiveSync (a new Buffer each)
//   Channel zero-copy   channel-node.js zero-copy: reserve+commit / tryReceiveView
//   Channel batch       channel-node.js batch: trySendMany / receiveManyInto
//   Channel async       pipe-node.js dgram on channel:NAME endpoints: await send() / receive()
//   Channel async into  pipe-node.js dgram-into on channel:NAME: await send() / receiveInto(buf)
//   Node net            pipe-node.js async over a Unix stream socket (net)
//   process.send        peers-node.js: json and advanced serialization
//   worker postMessage  peers-node.js worker (in-process, two threads)
//   UnixSocket dgram    pipe-node.js dgram / dgram-sync: the library's own
//                       datagram socketPair, async and sync
//   pipe                pipe-node.js sync / async over the library's pipe()
//   MessageQueue        mq-node.js sync / async: the library's POSIX queues
//                       (maxMessages 10); a message longer than
//                       /proc/sys/fs/mqueue/msgsize_max (8 KiB by default,
//                       over which only CAP_SYS_RESOURCE may go) goes as
//                       pieces of that size, as a user's would
// The Channel contenders' ratios are against C ring (the same protocol in C);
// the others' against C spin. The goals name what they compare with.
//
// Placement: the spinning contenders (C spin, C ring, Channel sync, zero-copy,
// batch) run their two processes pinned to two different CPUs (taskset -c),
// both C and Node alike: two spinners sharing one CPU only measure the
// scheduler. The contenders that sleep run unpinned, as in the other suites.
// Every contender's note says where its processes ran and how often they slept,
// and for the pinned pairs what a cache line took to go from one CPU to the
// other and back right before and right after each run (channel.c bounce):
// the hypervisor moves the vCPUs, and that round trip is 80 ns in some
// minutes and 370 in others here. A run whose before and after differ
// straddled two placements; compare contenders whose runs saw the same.
//
// Capacity: every ring contender (C ring and each Channel mode) gets the same
// rings per case: 1 MiB (the default) for the round trips, 16 MiB for one
// way. A ring that fits the L2 caches (1 MiB per core here) keeps every line
// in both cores' caches, so each line the producer writes must first be taken
// out of the consumer's cache: one way at 1 MiB measured half the rate of 16
// MiB (Channel sync 15 vs 29 million msg/s; C ring 35 either way, bound by
// its consumer). Round trips hold one message at a time: the same at 256 KiB
// and 1 MiB.

const fs = require('node:fs');
const path = require('node:path');

const { compileC, compileCommand, runJson, runTogether } = require('../lib/child');
const { oneWay, pairContender, roundTrip } = require('../lib/pair-contender');
const resources = require('../lib/resources');
const { runPair } = require('./pipe');
const { MODES: CHANNEL_MODES } = require('./channel-node');
const { MODES: PEER_MODES } = require('./peers-node');
const { MODES: PIPE_MODES } = require('./pipe-node');
const { MODES: MQ_MODES } = require('./mq-node');
const { withQueues } = require('./mq');

const DIST = path.join(__dirname, '..', '..', '..', 'dist');
const C_SOURCE = path.join(__dirname, 'channel.c');
const CHANNEL_SCRIPT = path.join(__dirname, 'channel-node.js');
const PEERS_SCRIPT = path.join(__dirname, 'peers-node.js');
const PIPE_SCRIPT = path.join(__dirname, 'pipe-node.js');
const MQ_SCRIPT = path.join(__dirname, 'mq-node.js');
const INCLUDE = path.join(__dirname, '..', '..', '..', 'include');
const SMALL = 64;
const BULK = 64 * 1024;
const CAPACITY = { rtt: 1 << 20, tput: 16 << 20 };
const SIZES = { rtt64: SMALL, rtt64k: BULK, tput64: SMALL, tput64k: BULK };

/** The two CPUs a spinning pair is pinned to, or null when fewer than two are allowed. */
function spinCpus() {
  const allowed = /^Cpus_allowed_list:\s*(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  const cpus = allowed.split(',').flatMap((part) => {
    const [lo, hi = lo] = part.split('-').map(Number);
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  });
  return cpus.length >= 2 && cpus.every(Number.isInteger) ? cpus.slice(0, 2) : null;
}

/**
 * Fresh shared memory for one run: `kind` 'ring' makes `count` channels of
 * `capacity` (Channel.create, closed again: the contenders open them by
 * name), 'spin' one plain segment for both mailboxes. Resolves with
 * start(names)'s result and unlinks the names in every case.
 */
async function withSegments(kind, count, capacity, start) {
  const { Channel, SharedMemory } = require(DIST);
  const names = Array.from({ length: count }, (_, i) => resources.shmName('channel', kind, i));
  try {
    for (const name of names) {
      if (kind === 'ring') Channel.create(name, { capacity }).close();
      else SharedMemory.create(name, 4 * BULK).close();
    }
    return await start(names);
  } finally {
    for (const name of names) {
      try {
        SharedMemory.unlink(name);
      } catch (err) {
        // A segment that cannot be unlinked is a leak the run must report, even over start()'s own error.
        // eslint-disable-next-line no-unsafe-finally
        if (err.code !== 'ENOENT') throw err;
      }
    }
  }
}

/** /proc/sys/fs/mqueue/msgsize_max: the longest queue message without CAP_SYS_RESOURCE. */
function msgsizeMax() {
  return Number(fs.readFileSync('/proc/sys/fs/mqueue/msgsize_max', 'utf8'));
}

/**
 * Both sides over named channels: ping sends on the first and hears back on the second; one way uses the first only.
 */
const overNames = (start) => ([there, back]) =>
  runTogether((signal) => [
    start('a', { in: back ?? '-', out: there, fds: {} }, signal),
    start('b', { in: there, out: back ?? '-', fds: {} }, signal),
  ]);

/**
 * How a contender's processes are connected, per case: `link(rtt, spawn,
 * size)` resolves with [sideA, sideB] results, where `spawn(side, ends,
 * signal)` starts one side (a: ping or produce, b: pong or consume) with its
 * endpoint arguments `ends` ({ in, out }) and descriptors `fds`.
 */
const LINKS = {
  // Two channels for a round trip, one for one way.
  ring: (rtt, start) => withSegments('ring', rtt ? 2 : 1, rtt ? CAPACITY.rtt : CAPACITY.tput, overNames(start)),
  // Messages longer than msgsize_max go as pieces of it (mq-node.js).
  mq: (rtt, start, size) => withQueues(rtt ? 2 : 1, Math.min(size, msgsizeMax()), overNames(start)),
  // One segment with both mailboxes.
  spin: (rtt, start) =>
    withSegments('spin', 1, 0, ([seg]) =>
      runTogether((signal) => [
        start('a', { in: rtt ? seg : '-', out: seg, fds: {} }, signal),
        start('b', { in: seg, out: rtt ? seg : '-', fds: {} }, signal),
      ]),
    ),
  // The pipe suite's channels (pipes, a socketPair, a Unix stream socket).
  pipe: (rtt, start) => runPair('pipe', rtt, (link, signal) => [start('a', link.a, signal), start('b', link.b, signal)]),
  'unix-dgram': (rtt, start) => runPair('unix-dgram', rtt, (link, signal) => [start('a', link.a, signal), start('b', link.b, signal)]),
  'unix-stream': (rtt, start) => runPair('unix-stream', rtt, (link, signal) => [start('a', link.a, signal), start('b', link.b, signal)]),
};

/**
 * A contender. Two-process contenders give `link` (a LINKS key) and
 * `command(role, ends, size, warmup, count, chunk)` -> [file, args] for one
 * side; `cpus` pins side a and side b to one CPU each. A contender that starts
 * its other side itself (peers-node.js) gives `solo(kind, size, ...)` instead.
 * `fast` contenders get the long one-way runs (params.fast), the others the
 * short ones (params.slow): the same statistics in a bearable time.
 */
function contender(spec, params) {
  const { label, link, command, solo, cpus = null, bounce = null, fast = false } = spec;
  const counts = (caseId) => (fast ? params.fast : params.slow)[caseId];
  const cases = [
    roundTrip('rtt64', 'rtt64', counts('rtt64').count),
    roundTrip('rtt64k', 'rtt64k', counts('rtt64k').count),
    oneWay('tput64', 'tput64', counts('tput64').count, SMALL),
    oneWay('tput64k', 'tput64k', counts('tput64k').count, 1e6),
  ];
  const where = cpus ? `pinned to CPUs ${cpus[0]}/${cpus[1]}` : 'unpinned';
  return pairContender({ ...spec, where, separator: ';\n      ' }, cases, async ({ id: caseId, kind, roles }) => {
    const size = SIZES[caseId];
    const { warmup, count, chunk = 1 } = counts(caseId);
    const numbers = [size, warmup, count, chunk].map(String);
    if (solo) {
      const out = await runJson(...solo(kind, ...numbers), { label: `${label} ${caseId}` });
      return [out, out, out.placement];
    }
    const start = (side, ends, signal) => {
      const role = roles[side === 'a' ? 0 : 1];
      let [file, args] = command(role, ends, ...numbers);
      if (cpus) [file, args] = ['taskset', ['-c', String(cpus[side === 'a' ? 0 : 1]), file, ...args]];
      return runJson(file, args, { label: `${label} ${role} ${caseId}`, fds: ends.fds, signal });
    };
    const before = cpus && bounce ? await bounce() : null;
    const [a, b] = await LINKS[link](kind === 'rtt', start, size);
    const lineRttNs = before === null ? {} : { lineRttNs: [before, await bounce()] };
    return [a, b, { a: a.placement, b: b.placement, ...lineRttNs }];
  });
}

module.exports = {
  id: 'channel',
  title: 'Channel (shared-memory ring) round trip and one-way throughput, next to C, process.send, net, worker postMessage and the library\'s own sockets',
  cases: [
    { id: 'rtt64', label: 'round trip 64 B', unit: 'µs', higherIsBetter: false },
    { id: 'rtt64k', label: 'round trip 64 KiB', unit: 'µs', higherIsBetter: false },
    { id: 'tput64', label: 'one way 64 B', unit: 'msg/s', higherIsBetter: true },
    { id: 'tput64k', label: 'one way 64 KiB', unit: 'MB/s', higherIsBetter: true },
  ],
  goal: [
    // Sync mode within 1.5x of the C floor, at both sizes.
    { contender: 'channel-sync', cases: ['rtt64', 'rtt64k'], versus: 'c-spin', ratio: 1.5 },
    // ... and at least 50x faster than what Node has (1/50 of their round trip), at 64 B.
    { contender: 'channel-sync', cases: ['rtt64'], versus: 'send-json', ratio: 0.02 },
    { contender: 'channel-sync', cases: ['rtt64'], versus: 'send-advanced', ratio: 0.02 },
    { contender: 'channel-sync', cases: ['rtt64'], versus: 'node-net', ratio: 0.02 },
    // Async mode (receive() or receiveInto(), the better): an event-loop wake like net's, and less copying for big
    // messages.
    { group: 'Channel async', cases: ['rtt64'], versus: 'node-net', ratio: 1.0 },
    { group: 'Channel async', cases: ['rtt64k'], versus: 'node-net', ratio: 0.5 },
    // Throughput: 20 million 64-byte messages/s with one call per message ...
    { contender: 'channel-sync', cases: ['tput64'], value: 20e6 },
    // The everyday copying receive: receive-into plus a pooled allocation, within 2.5x of the C floor (issue #13).
    { contender: 'channel-sync-copy', cases: ['rtt64'], versus: 'c-spin', ratio: 2.5 },
    // ... and 0.3x the C ring with the batch or the zero-copy API (the better of the two).
    { group: 'Channel batch', cases: ['tput64'], versus: 'c-ring', ratio: 0.3 },
  ],

  // Per case, for the spinning contenders (fast) and the others (slow): how
  // many messages are timed after how many warm-up ones, and per how many one
  // throughput sample is taken. The slow ones get fewer, so that a run stays
  // bearable (process.send json takes milliseconds per 64 KiB round trip).
  params({ quick }) {
    const common = { capacity: CAPACITY, messageSizes: [SMALL, BULK] };
    return quick
      ? {
          ...common,
          fast: {
            rtt64: { warmup: 50, count: 250 },
            rtt64k: { warmup: 5, count: 50 },
            tput64: { warmup: 2500, count: 50000, chunk: 5000 },
            tput64k: { warmup: 25, count: 250, chunk: 25 },
          },
          slow: {
            rtt64: { warmup: 20, count: 100 },
            rtt64k: { warmup: 2, count: 10 },
            // Not fewer: a stream consumer reads up to 64 KiB at once, and needs several reads to take a sample.
            tput64: { warmup: 500, count: 3000, chunk: 500 },
            tput64k: { warmup: 5, count: 20, chunk: 5 },
          },
        }
      : {
          ...common,
          fast: {
            rtt64: { warmup: 10000, count: 100000 },
            rtt64k: { warmup: 1000, count: 10000 },
            tput64: { warmup: 100000, count: 4000000, chunk: 200000 },
            tput64k: { warmup: 1000, count: 20000, chunk: 1000 },
          },
          slow: {
            rtt64: { warmup: 1000, count: 10000 },
            rtt64k: { warmup: 100, count: 1000 },
            tput64: { warmup: 5000, count: 100000, chunk: 5000 },
            tput64k: { warmup: 100, count: 2000, chunk: 100 },
          },
        };
  },

  describe({ fast, slow }, reps) {
    const cpus = spinCpus();
    const counts = (p) =>
      `round trip ${p.rtt64.count} / ${p.rtt64k.count} timed after ${p.rtt64.warmup} / ${p.rtt64k.warmup}, ` +
      `one way ${p.tput64.count} / ${p.tput64k.count} after ${p.tput64.warmup} / ${p.tput64k.warmup}, one sample per ${p.tput64.chunk} / ${p.tput64k.chunk}`;
    return (
      `Channel round trip and one-way throughput, 64 B / 64 KiB messages, two processes per run ` +
      `(spinning contenders pinned ${cpus ? `to CPUs ${cpus[0]} and ${cpus[1]}` : 'nowhere: fewer than two CPUs allowed'}, the rest unpinned), ` +
      `rings of ${CAPACITY.rtt / 2 ** 20} MiB for round trips and ${CAPACITY.tput / 2 ** 20} MiB one way; spinning contenders: ${counts(fast)}; the others: ${counts(slow)}; ${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const bin = compileC(C_SOURCE, 'channel', [INCLUDE]);
    const cpus = spinCpus();
    const bounce = async () => (await runJson(bin, ['bounce', String(cpus[0]), String(cpus[1])], { label: 'cache-line bounce' })).line_rtt_ns;
    const c = (mode) => (role, ends, ...numbers) => [bin, [mode, role, ends.in, ends.out, ...numbers]];
    const node = (mode) => (role, ends, ...numbers) =>
      [process.execPath, [CHANNEL_SCRIPT, mode, role, ends.in, ends.out, ...numbers]];
    const pipeNode = (mode, kind = null) => (role, ends, ...numbers) => {
      const end = (name) => (kind === null || name === '-' ? name : `${kind}:${name}`);
      return [process.execPath, [PIPE_SCRIPT, mode, role, end(ends.in), end(ends.out), ...numbers]];
    };
    const peers = (mode) => (kind, ...numbers) => [process.execPath, [PEERS_SCRIPT, mode, kind, ...numbers]];
    // mq-node.js takes the queue ping (or the producer) sends on first, then the one it hears back on.
    const mqNode = (mode) => (role, ends, size, ...numbers) => {
      const [q1, q2] = role === 'ping' || role === 'produce' ? [ends.out, ends.in] : [ends.in, ends.out];
      return [process.execPath, [MQ_SCRIPT, mode, role, q1, q2, ...numbers, size]];
    };
    const specs = [
      {
        id: 'c-spin',
        label: 'C spin',
        group: 'C',
        baseline: true,
        link: 'spin',
        cpus,
        fast: true,
        code: `a one-message mailbox in shared memory (a flag per side on its own cache line, memcpy in and out), both sides spinning; ${compileCommand(C_SOURCE)} -iquote native`,
        command: c('spin'),
      },
      {
        id: 'c-ring',
        label: 'C ring',
        group: 'C',
        link: 'ring',
        cpus,
        fast: true,
        code: 'include/posix-ipc/ring.h: pipc_ring_send / spin on pipc_ring_peek, memcpy out, pipc_ring_release: the Channel\'s protocol in C',
        command: c('ring'),
      },
      { id: 'channel-sync', label: 'Channel sync', group: 'Channel sync', versus: 'c-ring', link: 'ring', cpus, fast: true, code: CHANNEL_MODES.sync.code, command: node('sync') },
      { id: 'channel-sync-copy', label: 'Channel sync (copy)', group: 'Channel sync', versus: 'c-ring', link: 'ring', cpus, fast: true, code: CHANNEL_MODES.copy.code, command: node('copy') },
      {
        id: 'channel-zero-copy',
        label: 'Channel zero-copy',
        group: 'Channel batch',
        versus: 'c-ring',
        link: 'ring',
        cpus,
        fast: true,
        code: CHANNEL_MODES['zero-copy'].code,
        command: node('zero-copy'),
      },
      { id: 'channel-batch', label: 'Channel batch', group: 'Channel batch', versus: 'c-ring', link: 'ring', cpus, fast: true, code: CHANNEL_MODES.batch.code, command: node('batch') },
      {
        id: 'channel-async',
        label: 'Channel async',
        group: 'Channel async',
        versus: 'c-ring',
        link: 'ring',
        code: 'await ch.send(msg) / await ch.receive() (pipe-node.js dgram roles on Channel.open(name)): the event loop, woken by the doorbell when the consumer sleeps',
        command: pipeNode('dgram', 'channel'),
      },
      {
        id: 'channel-async-into',
        label: 'Channel async into',
        group: 'Channel async',
        versus: 'c-ring',
        link: 'ring',
        code: 'await ch.send(msg) / await ch.receiveInto(buf) (pipe-node.js dgram-into roles on Channel.open(name)): as Channel async, each message received into one reused buffer (no allocation)',
        command: pipeNode('dgram-into', 'channel'),
      },
      {
        id: 'node-net',
        label: 'Node net Unix socket',
        group: 'Node',
        link: 'unix-stream',
        code: `net.createServer().listen(path) / net.connect(path): ${PIPE_MODES.async.code}`,
        command: pipeNode('async'),
      },
      ...Object.entries(PEER_MODES).map(([mode, { label }]) => ({
        id: mode,
        label,
        group: 'Node',
        code: `peers-node.js ${mode}: ${label}${mode === 'worker' ? ' (in-process: a worker thread; its note reports the main thread and the worker as a/b)' : ' to a forked child'}`,
        solo: peers(mode),
      })),
      {
        id: 'dgram-async',
        label: 'UnixSocket dgram async',
        group: 'posix-ipc',
        link: 'unix-dgram',
        code: PIPE_MODES.dgram.code,
        command: pipeNode('dgram'),
      },
      {
        id: 'dgram-sync',
        label: 'UnixSocket dgram sync',
        group: 'posix-ipc',
        link: 'unix-dgram',
        code: PIPE_MODES['dgram-sync'].code,
        command: pipeNode('dgram-sync'),
      },
      ...['sync', 'async'].map((mode) => ({
        id: `pipe-${mode}`,
        label: `pipe ${mode}`,
        group: 'posix-ipc',
        link: 'pipe',
        code: `pipe(): ${PIPE_MODES[mode].code}`,
        command: pipeNode(mode),
      })),
      ...['sync', 'async'].map((mode) => ({
        id: `mq-${mode}`,
        label: `MessageQueue ${mode}`,
        group: 'posix-ipc',
        link: 'mq',
        code: `${MQ_MODES[mode].code} (mq-node.js), maxMessages 10; 64 KiB messages as pieces of msgsize_max (${msgsizeMax()} bytes here), a queue message each`,
        command: mqNode(mode),
      })),
    ];
    // The pinned pairs also probe the placement around each run.
    return specs.map((s) => contender(s.cpus ? { ...s, bounce } : s, params));
  },
};

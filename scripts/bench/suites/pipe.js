'use strict';
// Suite pipe: anonymous pipes between two processes.
//
// Cases, all measured by every contender run:
//   rtt    round trip: process A writes message i (64 bytes) on one pipe,
//          process B reads it and writes it back on a second pipe, A reads
//          the echo; one sample is one round trip in µs (lower is better)
//   small  one way, 64-byte messages: a producer writes WARMUP + COUNT
//          messages, one write per message; the consumer reads as much as is
//          there per read; one sample is the consumer's rate over CHUNK
//          messages' worth of bytes, in messages/s (higher is better)
//   bulk   the same with 64 KiB chunks, in MB/s (10^6 bytes/s)
// Contenders, each a fresh pair of child processes per case and rep:
//   C blocking (baseline)  pipe.c stream: read(2)/write(2) on blocking descriptors
//   Node sync              pipe-node.js sync: fs.readSync/fs.writeSync on the
//                          inherited descriptors (the sync path)
//   Node async             pipe-node.js async: PipeEnd.stream() (net.Socket)
//   Node net (reference)   pipe-node.js async over a Node `net` Unix stream
//                          socket instead of two pipes: the event-loop channel
//                          Node users already have, next to which the async
//                          round trips (pipe, datagram) are reported
//   C dgram blocking       pipe.c dgram: send(2)/recv(2) on a blocking
//                          SOCK_DGRAM socketpair, one message per call
//   Node dgram async       pipe-node.js dgram: await send()/receive() on
//                          UnixSocket.fromFd; compared with C dgram blocking.
//   C dgram spin           pipe.c dgram-spin: MSG_DONTWAIT, retried at once
//   C FIFO blocking        pipe.c stream over two FIFOs (path:P): blocking
//                          open(2), then read(2)/write(2), as for pipes
//   Node FIFO sync         pipe-node.js sync over the FIFOs: fs.openSync
//                          (blocking; a Fifo's descriptor is always non-blocking),
//                          fs.readSync/writeSync; compared with C FIFO blocking
//   Node FIFO async        pipe-node.js async: Fifo.openReader/openWriter, then
//                          .stream(); compared with C FIFO blocking
//   Node dgram sync        pipe-node.js dgram-sync: sendSync/receiveSync
//   Node dgram try-spin    pipe-node.js dgram-spin: trySend/tryReceive retried
//                          at once; compared with C dgram spin (busy-polls both:
//                          each side burns a CPU while it waits, like for like)
//   Node sync batch,       pipe-node.js sync-batch over the pipes or FIFOs: the
//   Node FIFO sync batch   sync path, producing BATCH (64) messages per
//                          fs.writevSync (one writev)
//   Node async batch,      pipe-node.js async-batch over the pipes or FIFOs:
//   Node FIFO async batch  write() per message, flushed BATCH (64) at a time
//                          with cork()/uncork() (one writev); compared with C
//                          blocking / C FIFO blocking
//   Node dgram async batch pipe-node.js dgram-batch / dgram-batch-sync:
//   Node dgram sync batch  sendMany/receiveMany (await) or sendManySync/
//                          receiveManySync, one sendmmsg/recvmmsg per batch of
//                          up to 64 (round trips as the per-message modes:
//                          one message in flight); compared with C dgram blocking
//   Node dgram async into, pipe-node.js dgram-into / dgram-into-sync: send()/
//   Node dgram sync into   receiveInto() (await) or sendSync()/receiveIntoSync(),
//                          each message into one reused buffer (no allocation)
//   C batch, C dgram batch pipe.c stream-batch / dgram-batch: what C gains from
//                          the same batching (64 messages per write(2), per
//                          sendmmsg(2)/recvmmsg(2)), shown next to the
//                          straightforward C contenders, which stay the ones
//                          every Node contender is compared with
//   Node async 1 MiB pipe, the same modes given BUFFER (see pipe-node.js): each
//   ... batch 1 MiB pipe,  side sets the pipe's capacity to PIPE_SIZE
//   Node FIFO async (...)  (setPipeSize; the default pipe-max-size, so any user
//                          may) and the consumer reads into one reused buffer
//                          of that size (stream({ onread })); group Node async
//                          / Node FIFO async, compared with the plain C contender
//   Node dgram async (into) each side asks for SO_SNDBUF DGRAM_BUFFER
//   4 MiB SO_SNDBUF        (setSendBufferSize; capped at net.core.wmem_max)
//   C 1 MiB pipe, C FIFO   pipe.c with the same BUFFER: what C gains from the
//   1 MiB, C dgram 4 MiB   same setting, group `C sized`
//
// A contender's ratios are to the suite's baseline (C blocking over pipes),
// or, when it names one (`versus`), to the C contender that does the same
// work over the same channel: Node dgram async vs C dgram blocking, Node
// try-spin vs C spin, C spin vs C dgram blocking. Each Node way of using a
// channel is a group (Node dgram sync: per message and batched); a goal
// holds for a group's best contender, and every member keeps its row.
//
// The two processes of a run are connected by a channel (CHANNELS below).
// For `pipe` the suite creates fresh pipes with the library and places their
// ends in the two processes at fd 3 (and 4) with the library's spawn({ fds });
// it closes its own copies as soon as both run (else no EOF could come), and
// again when the pair has finished or failed. For `unix-dgram` it creates a
// datagram socketPair and places one end in each process at fd 3 (both ways
// over one socket). For `unix-stream` side B listens on a path in the run's
// temp dir and side A connects. For `fifo` the suite makes fresh FIFOs
// (mkfifo, 0600) in the run's temp dir, one per direction, and passes their
// paths (`path:P`); each side opens them itself, and the suite removes them
// when the run is over.
//
// Both processes run unpinned; each reports the CPU it was on when its timed
// part started and ended, its CPU migrations and its voluntary context
// switches (sleeps) in that part, summarised in the contender's note, as in
// the mq suite: the placement decides the round trip (one CPU: two context
// switches; two vCPUs: two cross-CPU wake-ups, tens of µs on a VM).

const fs = require('node:fs');
const path = require('node:path');

const { compileC, compileCommand, runTogether } = require('../lib/child');
const { commandOf, oneWay, pairContender, roundTrip, startRoles } = require('../lib/pair-contender');
const resources = require('../lib/resources');
const stats = require('../lib/stats');
const { BATCH, MODES } = require('./pipe-node');

const DIST = path.join(__dirname, '..', '..', '..', 'dist');
const C_SOURCE = path.join(__dirname, 'pipe.c');
const NODE_SCRIPT = path.join(__dirname, 'pipe-node.js');
const SMALL = 64;
const BULK = 64 * 1024;
// The pipe capacity the sized contenders ask for: /proc/sys/fs/pipe-max-size's
// default, the most an unprivileged process may set.
const PIPE_SIZE = 1024 * 1024;
// The SO_SNDBUF the sized datagram contenders ask for (the kernel doubles it,
// up to twice net.core.wmem_max).
const DGRAM_BUFFER = 4 * 1024 * 1024;

let sockets = 0;
let fifos = 0;

/**
 * How the two sides of a run are connected. open(twoWay) makes a fresh
 * channel and returns { a, b, spawned(), close() }: per side the endpoint
 * arguments (`in`, `out`) and the descriptors to place (`fds`); spawned()
 * runs once both sides have started, close() when the run is over (both
 * idempotent). Side a is ping or produce, side b pong or consume.
 */
const CHANNELS = {
  pipe: {
    open(twoWay) {
      const { pipe } = require(DIST);
      const there = pipe();
      const back = twoWay ? pipe() : null;
      const closeAll = () => {
        for (const p of [there, back]) {
          p?.readEnd.close();
          p?.writeEnd.close();
        }
      };
      return {
        a: { out: 'fd:3', in: back ? 'fd:4' : '-', fds: back ? { 3: there.writeEnd, 4: back.readEnd } : { 3: there.writeEnd } },
        b: { in: 'fd:3', out: back ? 'fd:4' : '-', fds: back ? { 3: there.readEnd, 4: back.writeEnd } : { 3: there.readEnd } },
        spawned: closeAll,
        close: closeAll,
      };
    },
  },
  'unix-dgram': {
    open(twoWay) {
      const { socketPair } = require(DIST);
      const [a, b] = socketPair({ type: 'dgram' });
      const closeAll = () => {
        a.close();
        b.close();
      };
      return {
        a: { out: 'fd:3', in: twoWay ? 'fd:3' : '-', fds: { 3: a } },
        b: { in: 'fd:3', out: twoWay ? 'fd:3' : '-', fds: { 3: b } },
        spawned: closeAll,
        close: closeAll,
      };
    },
  },
  fifo: {
    open(twoWay) {
      const { mkfifo } = require(DIST);
      const there = path.join(resources.tempDir(), `pipe-suite-${fifos}-there.fifo`);
      const back = twoWay ? path.join(resources.tempDir(), `pipe-suite-${fifos}-back.fifo`) : null;
      fifos++;
      const files = [there, back].filter(Boolean);
      for (const file of files) mkfifo(file);
      return {
        a: { out: `path:${there}`, in: back ? `path:${back}` : '-', fds: {} },
        b: { in: `path:${there}`, out: back ? `path:${back}` : '-', fds: {} },
        spawned() {},
        close: () => {
          for (const file of files) fs.rmSync(file, { force: true });
        },
      };
    },
  },
  'unix-stream': {
    open() {
      const file = path.join(resources.tempDir(), `pipe-suite-${sockets++}.sock`);
      const [listen, connect] = [`unix-listen:${file}`, `unix-connect:${file}`];
      return {
        a: { in: connect, out: connect, fds: {} },
        b: { in: listen, out: listen, fds: {} },
        spawned() {},
        close: () => fs.rmSync(file, { force: true }),
      };
    },
  },
};

/**
 * Runs the two sides of one case on a fresh channel and resolves with both
 * results; when either fails, the other is killed (it would wait forever).
 */
async function runPair(channel, twoWay, start) {
  const link = CHANNELS[channel].open(twoWay);
  try {
    return await runTogether((signal) => {
      const sides = start(link, signal);
      link.spawned();
      return sides;
    });
  } finally {
    link.close();
  }
}

/** A number from a /proc file, or 'unknown'. */
function readNumber(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8'));
  } catch {
    return 'unknown';
  }
}

function median(values) {
  return values.length === 0 ? NaN : stats.median(values);
}

/**
 * A contender: `command(role, in, out, size, warmup, count, chunk[, buffer])`
 * gives the executable and its arguments for one side (`buffer`: BUFFER of
 * pipe.c and pipe-node.js, when the contender sets one); `channel` names how
 * the sides are connected, a fresh one per case.
 */
function contender({ channel, command, buffer, ...spec }, params) {
  const p = params;
  const cases = [
    { ...roundTrip('rtt', 'round trip', p.rttCount), numbers: [SMALL, p.rttWarmup, p.rttCount, 1] },
    { ...oneWay('small', `one way ${SMALL} B`, p.smallCount, SMALL), numbers: [SMALL, p.smallWarmup, p.smallCount, p.smallChunk] },
    { ...oneWay('bulk', 'one way 64 KiB', p.bulkCount, 1e6), numbers: [BULK, p.bulkWarmup, p.bulkCount, p.bulkChunk] },
  ];
  const c = pairContender({ ...spec, separator: ';\n      ' }, cases, (k) =>
    runPair(channel, k.kind === 'rtt', (link, signal) => {
      const ends = [link.a, link.b];
      const numbers = [...k.numbers, ...(buffer ? [buffer] : [])];
      const [label, fds] = [spec.label, (i) => ends[i].fds];
      return startRoles(k, { label, command, ends: (i) => [ends[i].in, ends[i].out], numbers, fds }, signal);
    }));
  return Object.assign(c, { channel });
}

/**
 * Adds to `c`'s note its round trip next to `reference`'s, paired per rep
 * (both ran back to back in the same rep): the median of c/reference.
 */
function compareRoundTrip(c, reference) {
  const own = Object.getOwnPropertyDescriptor(c, 'note').get;
  const rttByRep = (x) => x.results.map((r) => median(r.rtt));
  Object.defineProperty(c, 'note', {
    enumerable: true,
    get() {
      const [mine, theirs] = [rttByRep(c), rttByRep(reference)];
      const n = Math.min(mine.length, theirs.length);
      if (n === 0) return own.call(c);
      const perRep = mine.slice(0, n).map((v, i) => v / theirs[i]);
      const range = n > 1 ? ` (per rep ${Math.min(...perRep).toFixed(2)}x..${Math.max(...perRep).toFixed(2)}x)` : '';
      return `${own.call(c)}\n    round trip next to ${reference.label}, same run: ${median(perRep).toFixed(2)}x its time${range}` +
        ` (p50 ${median(mine).toFixed(1)} µs vs ${median(theirs).toFixed(1)} µs)`;
    },
  });
}

module.exports = {
  id: 'pipe',
  title: 'Pipe round trip and one-way throughput, and the same over a datagram socket and over FIFOs',
  cases: [
    { id: 'rtt', label: 'round trip 64 B', unit: 'µs', higherIsBetter: false },
    { id: 'small', label: 'one way 64 B', unit: 'msg/s', higherIsBetter: true },
    { id: 'bulk', label: 'one way 64 KiB', unit: 'MB/s', higherIsBetter: true },
  ],
  // Issue #4: throughput >= 0.5x C, sync latency <= 1.5x C, each for the
  // best Node way on that channel (the group's best contender: per message,
  // or batched), against the straightforward C contender on the same channel
  // (one syscall per message). The per-message rows stay in the table.
  goal: [
    { group: 'Node sync', cases: ['rtt'], ratio: 1.5 },
    { group: 'Node sync', cases: ['small', 'bulk'], ratio: 0.5 },
    { group: 'Node async', cases: ['small', 'bulk'], ratio: 0.5 },
    { group: 'Node dgram sync', cases: ['rtt'], ratio: 1.5 },
    { group: 'Node dgram sync', cases: ['small', 'bulk'], ratio: 0.5 },
    { group: 'Node dgram async', cases: ['small', 'bulk'], ratio: 0.5 },
    { group: 'Node FIFO sync', cases: ['rtt'], ratio: 1.5 },
    { group: 'Node FIFO sync', cases: ['small', 'bulk'], ratio: 0.5 },
    { group: 'Node FIFO async', cases: ['small', 'bulk'], ratio: 0.5 },
  ],

  params({ quick }) {
    return quick
      ? {
        rttWarmup: 50, rttCount: 250,
        // Not fewer: a consumer reading into a 1 MiB buffer needs more than 1 MiB to take a sample.
        smallWarmup: 2000, smallCount: 20000, smallChunk: 2000,
        bulkWarmup: 5, bulkCount: 100, bulkChunk: 10,
      }
      : {
        rttWarmup: 1000, rttCount: 10000,
        smallWarmup: 20000, smallCount: 400000, smallChunk: 20000,
        bulkWarmup: 200, bulkCount: 4000, bulkChunk: 100,
      };
  },

  describe({ rttWarmup, rttCount, smallWarmup, smallCount, smallChunk, bulkWarmup, bulkCount, bulkChunk }, reps) {
    return (
      `${this.title}, two processes per run (unpinned), blocking pipes for C and Node sync, the event loop for Node async and net; ` +
      `a datagram socketPair for C dgram (blocking or spinning) and Node dgram (sendSync/receiveSync, the event loop, or trySend/tryReceive spin); ` +
      `two FIFOs (mkfifo) for C FIFO and Node FIFO sync (blocking opens) and async (Fifo streams); ` +
      `round trip over two pipes, two FIFOs or one socket: ${rttCount} timed after ${rttWarmup} warm-up; ` +
      `one way ${SMALL} B: ${smallCount} messages after ${smallWarmup} warm-up, one msg/s sample per ${smallChunk}; ` +
      `one way 64 KiB: ${bulkCount} chunks after ${bulkWarmup} warm-up, one MB/s sample per ${bulkChunk}; ` +
      `${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const bin = compileC(C_SOURCE);
    const c = (mode) => commandOf(bin, mode);
    const node = (mode) => commandOf(process.execPath, NODE_SCRIPT, mode);
    // A Node contender over the datagram socketPair, next to C dgram blocking.
    const dgram = (id, label, group, mode) => ({ id, label, group, versus: 'c-dgram', channel: 'unix-dgram', code: MODES[mode].code, command: node(mode) });
    const wmemMax = readNumber('/proc/sys/net/core/wmem_max');
    const pipeSized = `each side sets the pipe's capacity to ${PIPE_SIZE} bytes (setPipeSize on the PipeEnd or Fifo: /proc/sys/fs/pipe-max-size ` +
      `is ${readNumber('/proc/sys/fs/pipe-max-size')} here), and the consumer reads into one reused ${PIPE_SIZE}-byte buffer ` +
      `(end.stream({ onread: { buffer, callback } })) instead of a new 64 KiB Buffer per read`;
    const dgramSized = `each side asks for SO_SNDBUF ${DGRAM_BUFFER} (sock.setSendBufferSize; the kernel doubles it, up to twice ` +
      `net.core.wmem_max = ${wmemMax} here)`;
    const sized = (s, what) => ({ ...s, buffer: s.channel === 'unix-dgram' ? DGRAM_BUFFER : PIPE_SIZE, code: `${s.code}; ${what}` });
    const pipeSizedNode = (id, label, group, versus, channel, mode) =>
      sized({
        id, label, group, ...(versus && { versus }), channel, code: MODES[mode].code, command: node(mode),
      }, pipeSized);
    const spec = [
      {
        id: 'c-blocking',
        label: 'C blocking',
        group: 'C',
        baseline: true,
        channel: 'pipe',
        code: `read(2)/write(2) on blocking pipe descriptors; ${compileCommand(C_SOURCE)}`,
        command: c('stream'),
      },
      { id: 'node-sync', label: 'Node sync', group: 'Node sync', channel: 'pipe', code: MODES.sync.code, command: node('sync') },
      { id: 'node-sync-batch', label: 'Node sync batch', group: 'Node sync', channel: 'pipe', code: MODES['sync-batch'].code, command: node('sync-batch') },
      { id: 'node-async', label: 'Node async', group: 'Node async', channel: 'pipe', code: MODES.async.code, command: node('async') },
      { id: 'node-async-batch', label: 'Node async batch', group: 'Node async', channel: 'pipe', code: MODES['async-batch'].code, command: node('async-batch') },
      {
        id: 'c-batch',
        label: 'C batch',
        group: 'C batch',
        channel: 'pipe',
        code: `what C gains from batching the same way: produce writes ${BATCH} messages per write(2); the rest as C blocking`,
        command: c('stream-batch'),
      },
      {
        id: 'node-net-unix',
        label: 'Node net Unix socket',
        group: 'reference',
        channel: 'unix-stream',
        code: `reference, not a pipe: net.createServer().listen(path) / net.connect(path), the async code above`,
        command: node('async'),
      },
      {
        id: 'c-dgram',
        label: 'C dgram blocking',
        group: 'C',
        channel: 'unix-dgram',
        code: 'send(2)/recv(2) on a SOCK_DGRAM socketpair end made blocking (fcntl), one whole message per call',
        command: c('dgram'),
      },
      dgram('node-dgram-async', 'Node dgram async', 'Node dgram async', 'dgram'),
      dgram('node-dgram-async-batch', 'Node dgram async batch', 'Node dgram async', 'dgram-batch'),
      dgram('node-dgram-async-into', 'Node dgram async into', 'Node dgram async', 'dgram-into'),
      dgram('node-dgram-sync', 'Node dgram sync', 'Node dgram sync', 'dgram-sync'),
      dgram('node-dgram-sync-batch', 'Node dgram sync batch', 'Node dgram sync', 'dgram-batch-sync'),
      dgram('node-dgram-sync-into', 'Node dgram sync into', 'Node dgram sync', 'dgram-into-sync'),
      {
        id: 'c-dgram-batch',
        label: 'C dgram batch',
        group: 'C batch',
        versus: 'c-dgram',
        channel: 'unix-dgram',
        code:
          `what C gains from batching the same way: produce sends ${BATCH} per sendmmsg(2), consume takes up to ${BATCH} per ` +
          'recvmmsg(2) (MSG_WAITFORONE), blocking; round trip one message per call as C dgram blocking',
        command: c('dgram-batch'),
      },
      {
        id: 'c-dgram-spin',
        label: 'C dgram spin',
        group: 'spin',
        versus: 'c-dgram',
        channel: 'unix-dgram',
        code: 'busy-poll: send(2)/recv(2) with MSG_DONTWAIT, retried at once on EAGAIN; burns a CPU per side while it waits',
        command: c('dgram-spin'),
      },
      {
        id: 'node-dgram-spin',
        label: 'Node dgram try-spin',
        group: 'spin',
        versus: 'c-dgram-spin',
        channel: 'unix-dgram',
        code: MODES['dgram-spin'].code,
        command: node('dgram-spin'),
      },
      {
        id: 'c-fifo',
        label: 'C FIFO blocking',
        group: 'C',
        channel: 'fifo',
        code: 'blocking open(2) of the FIFO paths, then read(2)/write(2), the C blocking code above',
        command: c('stream'),
      },
      {
        id: 'node-fifo-sync',
        label: 'Node FIFO sync',
        group: 'Node FIFO sync',
        versus: 'c-fifo',
        channel: 'fifo',
        code:
          'fs.openSync(path) (blocking open: a Fifo\'s descriptor is always O_NONBLOCK, so fs.readSync on it would throw EAGAIN), ' +
          'then fs.writeSync/fs.readSync as in Node sync',
        command: node('sync'),
      },
      {
        id: 'node-fifo-sync-batch', label: 'Node FIFO sync batch', group: 'Node FIFO sync', versus: 'c-fifo', channel: 'fifo',
        code: 'fs.openSync(path) as in Node FIFO sync, then the Node sync batch code above', command: node('sync-batch'),
      },
      {
        id: 'node-fifo-async',
        label: 'Node FIFO async',
        group: 'Node FIFO async',
        versus: 'c-fifo',
        channel: 'fifo',
        code: 'await Fifo.openReader(path) / Fifo.openWriter(path), then .stream(): the Node async code above',
        command: node('async'),
      },
      {
        id: 'node-fifo-async-batch', label: 'Node FIFO async batch', group: 'Node FIFO async', versus: 'c-fifo', channel: 'fifo',
        code: 'Fifo.openReader/openWriter, then .stream(): the Node async batch code above', command: node('async-batch'),
      },
      // With larger kernel buffers, as a user who wants throughput would set them.
      pipeSizedNode('node-async-sized', 'Node async 1 MiB pipe', 'Node async', null, 'pipe', 'async'),
      pipeSizedNode('node-async-batch-sized', 'Node async batch 1 MiB pipe', 'Node async', null, 'pipe', 'async-batch'),
      pipeSizedNode('node-fifo-async-sized', 'Node FIFO async 1 MiB', 'Node FIFO async', 'c-fifo', 'fifo', 'async'),
      pipeSizedNode('node-fifo-async-batch-sized', 'Node FIFO async batch 1 MiB', 'Node FIFO async', 'c-fifo', 'fifo', 'async-batch'),
      sized(dgram('node-dgram-async-sized', 'Node dgram async 4 MiB SO_SNDBUF', 'Node dgram async', 'dgram'), dgramSized),
      sized(dgram('node-dgram-async-into-sized', 'Node dgram async into 4 MiB SO_SNDBUF', 'Node dgram async', 'dgram-into'), dgramSized),
      sized(
        { id: 'c-sized', label: 'C 1 MiB pipe', group: 'C sized', channel: 'pipe', code: 'what C gains from the same setting: C blocking', command: c('stream') },
        `each side sets the pipe's capacity to ${PIPE_SIZE} bytes (F_SETPIPE_SZ), the consumer reads up to ${PIPE_SIZE} bytes per read(2)`,
      ),
      sized(
        { id: 'c-fifo-sized', label: 'C FIFO 1 MiB', group: 'C sized', versus: 'c-fifo', channel: 'fifo', code: 'what C gains from the same setting: C FIFO blocking', command: c('stream') },
        `each side sets the FIFO's capacity to ${PIPE_SIZE} bytes (F_SETPIPE_SZ), the consumer reads up to ${PIPE_SIZE} bytes per read(2)`,
      ),
      sized(
        { id: 'c-dgram-sized', label: 'C dgram 4 MiB SO_SNDBUF', group: 'C sized', versus: 'c-dgram', channel: 'unix-dgram', code: 'what C gains from the same setting: C dgram blocking', command: c('dgram') },
        `each side asks for SO_SNDBUF ${DGRAM_BUFFER} (setsockopt; doubled, up to twice net.core.wmem_max = ${wmemMax} here)`,
      ),
    ];
    const contenders = spec.map((s) => contender(s, params));
    const byId = (id) => contenders.find((x) => x.id === id);
    compareRoundTrip(byId('node-async'), byId('node-net-unix'));
    compareRoundTrip(byId('node-dgram-async'), byId('node-net-unix'));
    compareRoundTrip(byId('node-fifo-async'), byId('node-net-unix'));
    compareRoundTrip(byId('node-dgram-async-into'), byId('node-net-unix'));
    return contenders;
  },
};

// The channel suite runs its socket contenders over the same channels.
module.exports.runPair = runPair;

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
//   C blocking (baseline)  pipe.c: read(2)/write(2) on blocking descriptors
//   Node sync              pipe-node.js sync: fs.readSync/fs.writeSync on the
//                          inherited descriptors (the sync path)
//   Node async             pipe-node.js async: PipeEnd.stream() (net.Socket)
//   Node net (reference)   pipe-node.js async over a Node `net` Unix stream
//                          socket instead of two pipes: the event-loop channel
//                          Node users already have, next to which the async
//                          pipe's round trip is reported
//
// The two processes of a run are connected by a channel (CHANNELS below).
// For `pipe` the suite creates fresh pipes with the library and places their
// ends in the two processes at fd 3 (and 4) with the library's spawn({ fds });
// it closes its own copies as soon as both run (else no EOF could come), and
// again when the pair has finished or failed. For `unix-stream` side B listens
// on a path in the run's temp dir and side A connects. A FIFO contender is a
// `fifo` channel (mkfifo, endpoints `path:P`) plus that endpoint kind in
// pipe-node.js and pipe.c; a datagram-socket contender is a channel plus a
// mode of pipe-node.js (it has message boundaries); either is one more entry
// in CONTENDERS.
//
// Both processes run unpinned; each reports the CPU it was on when its timed
// part started and ended, its CPU migrations and its voluntary context
// switches (sleeps) in that part, summarised in the contender's note, as in
// the mq suite: the placement decides the round trip (one CPU: two context
// switches; two vCPUs: two cross-CPU wake-ups, tens of µs on a VM).

const fs = require('node:fs');
const path = require('node:path');

const { compileC, compileCommand } = require('../lib/child');
const resources = require('../lib/resources');
const stats = require('../lib/stats');
const { MODES } = require('./pipe-node');

const DIST = path.join(__dirname, '..', '..', '..', 'dist');
const C_SOURCE = path.join(__dirname, 'pipe.c');
const NODE_SCRIPT = path.join(__dirname, 'pipe-node.js');
const SMALL = 64;
const BULK = 64 * 1024;
const CHILD_TIMEOUT_MS = 120_000;

let sockets = 0;

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
 * Like lib/child.js runJson, but started with the library's spawn, which
 * places `fds` in the child (and nothing else of this process): resolves with
 * the JSON object on the last line of its stdout; rejects on a non-zero exit,
 * a signal, a timeout or output that is not JSON. Aborting `signal` kills it.
 */
function runJsonWithFds(file, args, { label, fds, signal }) {
  return new Promise((resolve, reject) => {
    const { spawn } = require(DIST);
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], fds, signal });
    resources.trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${label}: ${err.message}`));
    });
    child.on('close', (code, how) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${label} ${how ? `was killed by ${how}` : `exited with status ${code}`}${stderr ? `:\n${stderr.trimEnd()}` : ''}`));
        return;
      }
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${label} printed no JSON result; stdout was:\n${stdout}`));
      }
    });
  });
}

/**
 * Runs the two sides of one case on a fresh channel and resolves with both
 * results; when either fails, the other is killed (it would wait forever).
 */
async function runPair(channel, twoWay, start) {
  const link = CHANNELS[channel].open(twoWay);
  const abort = new AbortController();
  try {
    const sides = start(link, abort.signal).map((p) =>
      p.catch((err) => {
        abort.abort();
        throw err;
      }),
    );
    link.spawned();
    return await Promise.all(sides);
  } finally {
    abort.abort();
    link.close();
  }
}

function median(values) {
  return values.length === 0 ? NaN : stats.median(values);
}

/** 'same' CPU or 'split' over two when neither side migrated in its timed part, else 'moved' (as in mq.js). */
function placementOf({ a, b }) {
  const stayed = (p) => p.migrations === 0 && p.cpuStart === p.cpuEnd;
  if (!stayed(a) || !stayed(b)) return 'moved';
  return a.cpuEnd === b.cpuEnd ? 'same' : 'split';
}

/** One line about where a contender's processes ran, per case, over its runs so far (as in mq.js). */
function placementNote(runs, params) {
  const part = (key, label, perMessage, sides) => {
    const pairs = runs.map((r) => r[key]);
    const kinds = pairs.map(placementOf);
    const tally = ['same', 'split', 'moved'].map((k) => `${k} ${kinds.filter((x) => x === k).length}`).join(', ');
    const byRep = kinds.map((k, i) => (k === 'moved' ? `moved(${pairs[i].a.migrations}+${pairs[i].b.migrations})` : k));
    const sleeps = (side) => median(pairs.map((p) => p[side].voluntarySwitches / perMessage)).toFixed(2);
    return `${label}: ${tally} (by rep: ${byRep.join(' ')}), sleeps per message ${sides} ${sleeps('a')}/${sleeps('b')}`;
  };
  return [
    part('rtt', 'round trip', params.rttCount, 'ping/pong'),
    part('small', `one way ${SMALL} B`, params.smallCount, 'producer/consumer'),
    part('bulk', 'one way 64 KiB', params.bulkCount, 'producer/consumer'),
  ].join(';\n      ');
}

function checkVerified(out, label) {
  if (out.verified !== true) throw new Error(`${label}: messages arrived out of order`);
  return out;
}

/** A consumer's marks as rates: `per` bytes per unit (64 per message, 1e6 per MB) per second. */
function rates(out, per) {
  return out.chunk_ns.map((ns, i) => (out.chunk_bytes[i] / per / ns) * 1e9);
}

/**
 * A contender: `command(role, in, out, size, warmup, count, chunk)` gives the
 * executable and its arguments for one side; `channel` names how the sides
 * are connected. Its round-trip medians per rep are kept in `rttByRep` for
 * comparisons between contenders.
 */
function contender({ id, label, group, baseline = false, code, channel, command }, params) {
  const runs = [];
  const rttByRep = [];
  const side = (role, end, size, warmup, count, chunk, signal) => {
    const [file, args] = command(role, end.in, end.out, ...[size, warmup, count, chunk].map(String));
    return runJsonWithFds(file, args, { label: `${label} ${role}`, fds: end.fds, signal });
  };
  return {
    id,
    label,
    group,
    baseline,
    channel,
    code,
    rttByRep,
    runs,
    get note() {
      return runs.length === 0 ? code : `${code}\n    placement (unpinned) ${placementNote(runs, params)}`;
    },
    async run() {
      const p = params;
      const [ping, pong] = await runPair(channel, true, (link, signal) => [
        side('ping', link.a, SMALL, p.rttWarmup, p.rttCount, 1, signal),
        side('pong', link.b, SMALL, p.rttWarmup, p.rttCount, 1, signal),
      ]);
      checkVerified(ping, `${label} ping`);
      const oneWay = (size, warmup, count, chunk) =>
        runPair(channel, false, (link, signal) => [
          side('produce', link.a, size, warmup, count, chunk, signal),
          side('consume', link.b, size, warmup, count, chunk, signal),
        ]);
      const [smallProducer, smallConsumer] = await oneWay(SMALL, p.smallWarmup, p.smallCount, p.smallChunk);
      checkVerified(smallConsumer, `${label} consume ${SMALL} B`);
      const [bulkProducer, bulkConsumer] = await oneWay(BULK, p.bulkWarmup, p.bulkCount, p.bulkChunk);
      checkVerified(bulkConsumer, `${label} consume 64 KiB`);
      runs.push({
        rtt: { a: ping.placement, b: pong.placement },
        small: { a: smallProducer.placement, b: smallConsumer.placement },
        bulk: { a: bulkProducer.placement, b: bulkConsumer.placement },
      });
      const rtt = ping.rtt_ns.map((ns) => ns / 1000);
      rttByRep.push(median(rtt));
      return { rtt, small: rates(smallConsumer, SMALL), bulk: rates(bulkConsumer, 1e6) };
    },
  };
}

/**
 * Adds to `c`'s note its round trip next to `reference`'s, paired per rep
 * (both ran back to back in the same rep): the median of c/reference.
 */
function compareRoundTrip(c, reference) {
  const own = Object.getOwnPropertyDescriptor(c, 'note').get;
  Object.defineProperty(c, 'note', {
    enumerable: true,
    get() {
      const n = Math.min(c.rttByRep.length, reference.rttByRep.length);
      if (n === 0) return own.call(c);
      const perRep = c.rttByRep.slice(0, n).map((v, i) => v / reference.rttByRep[i]);
      const range = n > 1 ? ` (per rep ${Math.min(...perRep).toFixed(2)}x..${Math.max(...perRep).toFixed(2)}x)` : '';
      return `${own.call(c)}\n    round trip next to ${reference.label}, same run: ${median(perRep).toFixed(2)}x its time${range}` +
        ` (p50 ${median(c.rttByRep).toFixed(1)} µs vs ${median(reference.rttByRep).toFixed(1)} µs)`;
    },
  });
}

module.exports = {
  id: 'pipe',
  title: 'Pipe round trip and one-way throughput',
  cases: [
    { id: 'rtt', label: 'round trip 64 B', unit: 'µs', higherIsBetter: false },
    { id: 'small', label: 'one way 64 B', unit: 'msg/s', higherIsBetter: true },
    { id: 'bulk', label: 'one way 64 KiB', unit: 'MB/s', higherIsBetter: true },
  ],
  goal: [
    { contender: 'node-sync', cases: ['rtt'], ratio: 1.5 },
    { contender: 'node-sync', cases: ['small', 'bulk'], ratio: 0.5 },
    { contender: 'node-async', cases: ['small', 'bulk'], ratio: 0.5 },
  ],

  params({ quick }) {
    return quick
      ? { rttWarmup: 200, rttCount: 1000, smallWarmup: 2000, smallCount: 20000, smallChunk: 2000, bulkWarmup: 20, bulkCount: 400, bulkChunk: 40 }
      : { rttWarmup: 1000, rttCount: 10000, smallWarmup: 20000, smallCount: 400000, smallChunk: 20000, bulkWarmup: 200, bulkCount: 4000, bulkChunk: 100 };
  },

  describe({ rttWarmup, rttCount, smallWarmup, smallCount, smallChunk, bulkWarmup, bulkCount, bulkChunk }, reps) {
    return (
      `${this.title}, two processes per run (unpinned), blocking pipes for C and Node sync, the event loop for Node async and net; ` +
      `round trip over two pipes: ${rttCount} timed after ${rttWarmup} warm-up; ` +
      `one way ${SMALL} B: ${smallCount} messages after ${smallWarmup} warm-up, one msg/s sample per ${smallChunk}; ` +
      `one way 64 KiB: ${bulkCount} chunks after ${bulkWarmup} warm-up, one MB/s sample per ${bulkChunk}; ` +
      `${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const bin = compileC(C_SOURCE);
    const node = (mode) => (role, ...args) => [process.execPath, [NODE_SCRIPT, mode, role, ...args]];
    const spec = [
      {
        id: 'c-blocking',
        label: 'C blocking',
        group: 'C',
        baseline: true,
        channel: 'pipe',
        code: `read(2)/write(2) on blocking pipe descriptors; ${compileCommand(C_SOURCE)}`,
        command: (role, ...args) => [bin, [role, ...args]],
      },
      { id: 'node-sync', label: 'Node sync', group: 'Node', channel: 'pipe', code: MODES.sync.code, command: node('sync') },
      { id: 'node-async', label: 'Node async', group: 'Node', channel: 'pipe', code: MODES.async.code, command: node('async') },
      {
        id: 'node-net-unix',
        label: 'Node net Unix socket',
        group: 'reference',
        channel: 'unix-stream',
        code: `reference, not a pipe: net.createServer().listen(path) / net.connect(path), the async code above`,
        command: node('async'),
      },
    ];
    const contenders = spec.map((s) => contender(s, params));
    compareRoundTrip(contenders.find((c) => c.id === 'node-async'), contenders.find((c) => c.id === 'node-net-unix'));
    return contenders;
  },
};

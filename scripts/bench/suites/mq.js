'use strict';
// Suite mq: POSIX message queues between two processes, 64-byte messages.
//
// Cases, both measured by every contender run:
//   rtt         round trip: process A sends message i on q1, process B
//               receives it and sends it back on q2, A receives the echo; one
//               sample is one round trip in µs (lower is better)
//   throughput  one way: a producer sends WARMUP + COUNT messages on one
//               queue, a consumer receives them; one sample is the consumer's
//               rate over CHUNK messages, in messages/s (higher is better)
// Contenders, each a fresh pair of child processes per case and rep:
//   C blocking (baseline)  mq.c: mq_send/mq_receive on blocking descriptors
//   Node sync              mq-node.js sync: sendSync/receiveSync (poll(2) waits)
//   Node async             mq-node.js async: await send()/receive() (uv_poll waits)
// The suite creates the queues (fresh for every run, maxMessages 10 — the
// default /proc/sys/fs/mqueue/msg_max, so no privileges are needed —
// messageSize 64) before it starts the pair, and unlinks them when the pair
// has finished or failed; resources.js unlinks them at exit or on a signal.
// Both processes run unpinned; each reports the CPU it was on when its timed
// part started and ended, its CPU migrations and its voluntary context
// switches (sleeps) in that part, summarised in the contender's note. The
// placement matters more than anything else here: on one CPU a round trip is
// two context switches (a few µs); split over two vCPUs it is two cross-CPU
// wake-ups, which cost tens of µs on a VM for C and Node alike.

const path = require('node:path');

const { compileC, compileCommand, runTogether } = require('../lib/child');
const { commandOf, oneWay, pairContender, roundTrip, startRoles } = require('../lib/pair-contender');
const { mqName } = require('../lib/resources');
const { MODES } = require('./mq-node');

const C_SOURCE = path.join(__dirname, 'mq.c');
const NODE_SCRIPT = path.join(__dirname, 'mq-node.js');
const MESSAGE_SIZE = 64;
const MAX_MESSAGES = 10;

/** Creates a fresh queue for one run (the library is loaded by then). */
function createQueue(name, messageSize) {
  const { MessageQueue } = require('../../../dist');
  MessageQueue.open(name, { create: true, exclusive: true, maxMessages: MAX_MESSAGES, messageSize }).close();
}

function unlinkQueue(name) {
  const { MessageQueue } = require('../../../dist');
  try {
    MessageQueue.unlink(name);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}

/**
 * Fresh queues for one run (`count` of them, maxMessages 10, for messages of
 * `messageSize` bytes), unlinked in every case; resolves with start(names)'s
 * result. The channel suite runs its MessageQueue contenders on them too.
 */
async function withQueues(count, messageSize, start) {
  const names = Array.from({ length: count }, (_, i) => mqName('mq', `q${i + 1}`));
  try {
    for (const name of names) createQueue(name, messageSize);
    return await start(names);
  } finally {
    for (const name of names) unlinkQueue(name);
  }
}

/**
 * Runs the two processes of one case on fresh queues and resolves with both
 * results; when either fails, the other is killed (it would wait forever).
 */
function runPair(queueCount, start) {
  return withQueues(queueCount, MESSAGE_SIZE, (names) => runTogether((signal) => start(names, signal)));
}

/**
 * A contender: `command(role, q1, q2, warmup, count, chunk)` gives the
 * executable and its arguments for one side; each case runs on fresh queues.
 */
function contender(spec, command, params) {
  const { rttWarmup, rttCount, throughputWarmup, throughputCount, chunk } = params;
  const cases = [
    { ...roundTrip('rtt', 'round trip', rttCount), queues: 2, numbers: [rttWarmup, rttCount, 1] },
    { ...oneWay('throughput', 'one way', throughputCount, MESSAGE_SIZE), queues: 1, numbers: [throughputWarmup, throughputCount, chunk] },
  ];
  return pairContender(spec, cases, (c) =>
    runPair(c.queues, ([q1, q2 = '-'], signal) => startRoles(c, { label: spec.label, command, ends: () => [q1, q2] }, signal)));
}

module.exports = {
  id: 'mq',
  title: 'MessageQueue round trip and one-way throughput',
  cases: [
    { id: 'rtt', label: 'round trip', unit: 'µs', higherIsBetter: false },
    { id: 'throughput', label: 'one way', unit: 'msg/s', higherIsBetter: true },
  ],
  goal: [
    { contender: 'node-sync', cases: ['rtt'], ratio: 1.5 },
    { contender: 'node-sync', cases: ['throughput'], ratio: 0.5 },
    { contender: 'node-async', cases: ['throughput'], ratio: 0.3 },
  ],

  params({ quick }) {
    const common = { messageSize: MESSAGE_SIZE, maxMessages: MAX_MESSAGES };
    return quick
      ? { ...common, rttWarmup: 50, rttCount: 250, throughputWarmup: 250, throughputCount: 2500, chunk: 250 }
      : { ...common, rttWarmup: 1000, rttCount: 10000, throughputWarmup: 10000, throughputCount: 200000, chunk: 10000 };
  },

  describe({ rttWarmup, rttCount, throughputWarmup, throughputCount, chunk, maxMessages, messageSize }, reps) {
    return (
      `${this.title}, ${messageSize}-byte messages, queues of ${maxMessages}, two processes per run (unpinned); ` +
      `round trip over two queues: ${rttCount} timed after ${rttWarmup} warm-up; ` +
      `one way: ${throughputCount} messages after ${throughputWarmup} warm-up, one msg/s sample per ${chunk}; ` +
      `${reps} reps interleaved`
    );
  },

  async prepare(params) {
    const bin = compileC(C_SOURCE);
    const c = {
      id: 'c-blocking',
      label: 'C blocking',
      group: 'C',
      baseline: true,
      code: `mq_send(3)/mq_receive(3) on blocking descriptors; ${compileCommand(C_SOURCE)}`,
    };
    const node = Object.entries(MODES).map(([mode, { label, code }]) => [
      { id: `node-${mode}`, label: `Node ${label}`, group: 'Node', code },
      commandOf(process.execPath, NODE_SCRIPT, mode),
    ]);
    return [[c, commandOf(bin)], ...node].map(([spec, command]) => contender(spec, command, params));
  },
};

module.exports.withQueues = withQueues;

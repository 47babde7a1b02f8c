'use strict';
// Chapter 3: message queues. A job queue with priorities served by worker
// processes, the kernel's limits on queues, and a round trip over two queues
// compared with process.send.

const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { MessageQueue } = require('../../dist');
const { sendPingPong, report } = require('./process-send');
const { explain, fact, heading, now, count, exited, withCleanup, watchTheMachine, compare } = require('./util');

const CHILD = path.join(__dirname, 'message-queue-child.js');
const LIMITS = '/proc/sys/fs/mqueue';

// The job queue holds 10 messages (the usual /proc/sys/fs/mqueue/msg_max):
// seven jobs and one stop job per worker fill it exactly.
const CAPACITY = 10;
const MESSAGE_SIZE = 256;
const WORKERS = 3;
const PRIORITY = { urgent: 9, normal: 5, background: 1, stop: 0 };
// [sender, job id, n]: the job is to count the primes below n. Each id
// carries its priority's name, numbered in the order the jobs are sent.
const JOBS = [
  ['parent', 'background-1', 60000],
  ['parent', 'normal-1', 40000],
  ['parent', 'urgent-1', 20000],
  ['parent', 'normal-2', 50000],
  ['producer', 'background-2', 70000],
  ['producer', 'urgent-2', 30000],
  ['producer', 'normal-3', 80000],
];

// Round trips: a warm-up, then the measured ones, cut short after a time
// budget so that the chapter stays quick on a busy machine.
const MQ_WARM_UP = 500;
const MQ_ROUNDS = 5000;
const WARM_UP_BUDGET_NS = 0.3e9;
const BUDGET_NS = 1e9;
// How long the parent waits for a child before it calls the tour failed.
const STALL_MS = 10000;

const priorityOf = (id) => PRIORITY[id.split('-')[0]];

// The chapter's children that have not exited yet.
const running = new Set();

/** Starts the chapter's child in `role`; it talks to the parent through queues only. */
function startChild(role, ...args) {
  const child = spawn(process.execPath, [CHILD, role, ...args], { stdio: 'inherit' });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return { child, exit: exited(child) };
}

/**
 * A promise that never resolves, and rejects as soon as one of `exits`
 * rejects: raced with every wait for a child, so that a crashed child fails
 * the chapter at once rather than after a timeout.
 */
function anyFailure(exits) {
  const failure = Promise.all(exits).then(() => new Promise(() => {}));
  failure.catch(() => {});
  return failure;
}

/** The next message on `queue` (JSON), unless a child fails first. */
async function nextReport(queue, failure) {
  const { data } = await Promise.race([queue.receive({ timeoutMs: STALL_MS }), failure]);
  return JSON.parse(data.toString());
}

/** The error code of opening `name` now: `ENOENT` once it is unlinked. */
function openFailure(name) {
  try {
    MessageQueue.open(name).close();
  } catch (err) {
    return err.code;
  }
  throw new Error(`${name} still exists after mq_unlink`);
}

/**
 * Creates a fresh queue for each `[name, options]`, runs `body` with them,
 * then closes and unlinks every one, whatever happens (also on Ctrl-C), and
 * shows that the names are gone. Should `body` fail, its children are
 * stopped first, rather than left waiting for a parent that has gone.
 */
async function withQueues(specs, body) {
  const queues = [];
  await withCleanup(async () => {
    for (const [name, options] of specs) {
      queues.push(MessageQueue.open(name, { create: true, exclusive: true, ...options }));
    }
    await body(...queues);
  }, () => {
    for (const child of running) child.kill();
    let failure;
    for (const q of queues) {
      q.close();
      try {
        MessageQueue.unlink(q.name);
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
  });
  for (const q of queues) fact(`parent closed and unlinked ${q.name} (opening it now fails: ${openFailure(q.name)})`);
  console.log();
}

function jobMessage(id, n) {
  return JSON.stringify({ id, n, from: process.pid });
}

// `urgent-1 (priority 9), normal-1 (5)`: the word once, so that the list fits a line.
const listJobs = (ids) => ids.map((id, i) => `${id} (${i === 0 ? 'priority ' : ''}${priorityOf(id)})`).join(', ');

/** The workers' reports, in the order the jobs left the queue, printed and checked. */
function printTakes(takes) {
  takes.sort((a, b) => a.take - b.take);
  fact('taken from the job queue, in this order:');
  for (const t of takes) {
    const what = t.stop ? 'exits' : `${count(t.primes)} primes below ${count(t.n)}`;
    fact(`  #${String(t.take).padEnd(3)}${(t.stop ? 'stop' : t.id).padEnd(14)}priority ${t.priority}  ` +
      `from pid ${t.from}  worker pid ${t.pid}: ${what}`);
  }
  const byPriority = takes.every((t, i) => i === 0 || t.priority <= takes[i - 1].priority);
  const fifo = takes.every((t, i) => i === 0 || t.stop || t.priority !== takes[i - 1].priority ||
    Number(t.id.split('-')[1]) > Number(takes[i - 1].id.split('-')[1]));
  fact(`highest priority first: ${byPriority ? 'yes' : 'NO'}; first in, first out within a priority: ${fifo ? 'yes' : 'NO'}`);
}

async function jobQueue() {
  const base = `/posix-ipc-tour-mq-${process.pid}`;
  const specs = [
    [base, { maxMessages: CAPACITY, messageSize: MESSAGE_SIZE }],
    [`${base}-turn`, { maxMessages: 1, messageSize: 16 }],
    [`${base}-results`, { maxMessages: CAPACITY, messageSize: MESSAGE_SIZE }],
  ];
  await withQueues(specs, async (jobs, turn, results) => {
    fact(`parent pid ${process.pid} created ${jobs.name} (maxMessages ${jobs.maxMessages}, messageSize ${jobs.messageSize}),`);
    fact(`  ${turn.name} and ${results.name}`);

    const mine = JOBS.filter(([sender]) => sender === 'parent');
    for (const [, id, n] of mine) await jobs.send(jobMessage(id, n), priorityOf(id), { timeoutMs: STALL_MS });
    fact(`parent pid ${process.pid} sent: ${listJobs(mine.map(([, id]) => id))}`);

    const theirs = JOBS.filter(([sender]) => sender === 'producer').map(([, id, n]) => `${id}:${priorityOf(id)}:${n}`);
    const producer = startChild('producer', jobs.name, results.name, ...theirs);
    await producer.exit;
    const report = results.tryReceive();
    if (report === null) throw new Error(`the producer child pid ${producer.child.pid} exited without a report`);
    const produced = JSON.parse(report.data.toString());
    fact(`child pid ${produced.pid} (ppid ${produced.ppid}) sent: ${listJobs(produced.sent)}; exited`);

    for (let i = 0; i < WORKERS; i++) {
      await jobs.send(JSON.stringify({ stop: true, from: process.pid }), PRIORITY.stop, { timeoutMs: STALL_MS });
    }
    fact(`parent pid ${process.pid} sent ${WORKERS} stop jobs (priority ${PRIORITY.stop}), one per worker`);
    const { currentMessages, maxMessages } = jobs.attributes;
    fact(`the queue holds ${currentMessages} of ${maxMessages} messages, none received yet;` +
      ` one more: trySend() returns ${jobs.trySend('one too many')}`);
    console.log();

    const workers = Array.from({ length: WORKERS }, () => startChild('worker', jobs.name, turn.name, results.name));
    const failure = anyFailure(workers.map((w) => w.exit));
    const ready = [];
    while (ready.length < WORKERS) ready.push(await nextReport(results, failure));
    ready.sort((a, b) => a.pid - b.pid);
    for (const [i, w] of ready.entries()) fact(`worker ${i + 1}: pid ${w.pid} (ppid ${w.ppid}), waiting for its turn`);

    turn.trySend('1');
    fact('parent put take number 1 into the turn queue: the workers start');
    console.log();
    const takes = [];
    while (takes.length < JOBS.length + WORKERS) takes.push(await nextReport(results, failure));
    await Promise.all(workers.map((w) => w.exit));
    printTakes(takes);
    const perWorker = ready.map((w) => `pid ${w.pid} did ${takes.filter((t) => t.pid === w.pid && !t.stop).length}`);
    fact(`jobs per worker: ${perWorker.join(', ')}`);
    console.log();
  });
}

function readLimit(file) {
  try {
    return Number(readFileSync(`${LIMITS}/${file}`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Shows the kernel's limits, and what happens when a queue asks for more than msg_max. */
function limits() {
  const values = ['msg_max', 'msgsize_max', 'msg_default', 'msgsize_default', 'queues_max'].map((f) => [f, readLimit(f)]);
  const shown = values.map(([f, v]) => `${f} ${v === undefined ? '(unreadable)' : count(v)}`);
  fact(`read from ${LIMITS}: ${shown.slice(0, 2).join(', ')},`);
  fact(`  ${shown.slice(2).join(', ')}`);
  const rlimit = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max msgqueue size'));
  const bytes = rlimit?.slice(26).trim().split(/\s+/)[0] ?? 'unknown';
  fact(`RLIMIT_MSGQUEUE (ulimit -q), from /proc/self/limits: ${/^\d+$/.test(bytes) ? `${count(Number(bytes))} bytes` : bytes}`);

  const msgMax = values[0][1];
  if (msgMax === undefined) return;
  const name = `/posix-ipc-tour-mq-${process.pid}-limit`;
  let queue;
  try {
    queue = MessageQueue.open(name, { create: true, exclusive: true, maxMessages: msgMax + 1, messageSize: 16 });
  } catch (err) {
    fact(`MessageQueue.open with maxMessages ${msgMax + 1} fails:`);
    fact(`  ${err.message}`);
    return;
  }
  // Nothing waits in between, so no signal can come before the unlink.
  queue.close();
  MessageQueue.unlink(name);
  fact(`MessageQueue.open with maxMessages ${msgMax + 1} succeeded: this process is privileged (CAP_SYS_RESOURCE,`);
  fact(`  root has it), and the kernel lets it go past msg_max; an ordinary user gets EINVAL.`);
  fact(`parent closed and unlinked ${name} (opening it now fails: ${openFailure(name)})`);
}

/**
 * Timed round trips: the parent sends `payload` on `ping` and waits for the
 * echo on `pong`, both synchronously. Stops early after `budgetNs`.
 */
function queueRoundTrips(ping, pong, payload, rounds, budgetNs) {
  const samples = [];
  const stop = now() + BigInt(budgetNs);
  for (let i = 0; i < rounds; i++) {
    const start = now();
    ping.sendSync(payload, 0, { timeoutMs: STALL_MS });
    pong.receiveSync({ timeoutMs: STALL_MS });
    const end = now();
    samples.push(Number(end - start));
    if (end > stop) break;
  }
  return samples;
}

async function queuePingPong() {
  const base = `/posix-ipc-tour-mq-${process.pid}`;
  const specs = [[`${base}-ping`, { maxMessages: 1, messageSize: 64 }], [`${base}-pong`, { maxMessages: 1, messageSize: 64 }]];
  let samples;
  await withQueues(specs, async (ping, pong) => {
    const { exit } = startChild('echo', ping.name, pong.name);
    const hello = await nextReport(pong, anyFailure([exit]));
    fact(`ping-pong over ${ping.name} and ${pong.name}:`);
    fact(`  parent pid ${process.pid} <-> child pid ${hello.pid} (ppid ${hello.ppid})`);
    const payload = Buffer.from('ping');
    queueRoundTrips(ping, pong, payload, MQ_WARM_UP, WARM_UP_BUDGET_NS);
    samples = queueRoundTrips(ping, pong, payload, MQ_ROUNDS, BUDGET_NS);
    ping.sendSync('stop', 0, { timeoutMs: STALL_MS });
    await exit;
  });
  return samples;
}

async function run() {
  explain(`A message queue is a mailbox kept by the kernel. A process sends a message, up to
    messageSize bytes, with a priority; any process that opens the queue by name receives
    it, whole: never half a message, never two glued together as bytes on a pipe can be.
    The highest priority comes out first, and within one priority the order of sending.`);

  heading('A job queue with priorities', '-');
  explain(`The parent creates a job queue and fills it before any worker exists: some jobs
    it sends itself, some come from a short-lived child that sends its jobs and exits.
    Then it starts ${WORKERS} worker processes, which take jobs until each takes a stop job.
    The stop jobs have priority 0, the lowest, so they come out after every real job.`);
  explain(`The workers take from the queue at the same time, and which of them reports first
    is up to the scheduler. So that the list below shows the order in which jobs left the
    queue, the workers take turns: a second queue holds one message, the number of the
    next take. A worker receives it, receives a job, and sends the number plus one back
    before it starts the work. (A queue with room for one message is a lock.) Results go
    to the parent over a third queue.`);
  await jobQueue();

  explain(`The kernel sorted the jobs: priority ${PRIORITY.urgent} first, then ${PRIORITY.normal}, then
    ${PRIORITY.background}, the stop jobs last, and first in, first out within each priority, whoever
    sent them. The producer's jobs were received after it had exited: the queue and its
    messages belong to the kernel, not to a process, and stay until they are received or
    the queue is unlinked (or the machine reboots).`);
  explain(`Waiting costs nothing. On Linux a queue descriptor (mqd_t) is a file descriptor that
    poll and epoll understand, so await queue.receive() hands it to libuv (uv_poll) and the
    event loop goes on with other work; no thread is parked for it. receiveSync() instead
    blocks the whole thread: fine for a process that has nothing else to do.`);

  heading('Limits', '-');
  explain(`The kernel bounds queues: how many messages one queue holds (msg_max) and how big
    one may be (msgsize_max), how many queues there are (queues_max), and, per user, the
    bytes all their queues may hold (RLIMIT_MSGQUEUE). A full queue makes send() wait and
    trySend() return false, as above.`);
  limits();
  console.log();

  heading('How fast is a round trip?', '-');
  explain(`The parent sends a 4-byte message on one queue and waits for the child's echo on a
    second queue, with sendSync and receiveSync on both sides. For comparison, the same
    ping-pong over process.send.`);
  const machine = watchTheMachine();
  const queue = await queuePingPong();
  const send = await sendPingPong(WARM_UP_BUDGET_NS, BUDGET_NS);
  const load = machine.stop();
  console.log();
  report('message queues, sync', queue);
  report('process.send, IPC channel', send);
  compare(load, queue, send, {
    faster: (r) => `a message-queue round trip was ${r} faster than process.send`,
    slower: (r) => `here process.send was ${r} faster than a message-queue round trip`,
  });
  console.log();

  explain(`Each message-queue round trip is a handful of system calls (mq_send, and
    mq_receive after poll has slept until a message is there) and two wake-ups of a
    sleeping process; the bytes are copied into the kernel and out again. process.send adds JSON encoding and decoding and a pass through each side's
    event loop. Unlike the spinning of the last chapter, nobody burns a CPU while waiting.`);
}

module.exports = { run };

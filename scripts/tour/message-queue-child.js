'use strict';
// Chapter 3's child process. Everything it says to the parent goes through
// message queues; it never writes to stdout. The parent starts it in one of
// three roles:
//
//   producer <jobs> <results> <job>...  sends the jobs ("id:priority:n"),
//                                       reports what it sent, exits
//   worker <jobs> <turn> <results>      takes jobs, one turn at a time, until
//                                       it takes a stop job
//   echo <ping> <pong>                  answers every ping with the same bytes,
//                                       until it receives "stop"

const { MessageQueue } = require('../../dist');
const { runChild } = require('./util');

// However long a child waits for its parent: should the parent die, the child
// gives up rather than lingering.
const STALL_MS = 10000;

/** Counts the primes below `n` by trial division: a few milliseconds of real work. */
function countPrimes(n) {
  let found = 0;
  for (let i = 2; i < n; i++) {
    let prime = true;
    for (let d = 2; d * d <= i; d++) {
      if (i % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) found++;
  }
  return found;
}

/** Opens every queue in `names` with `access`; closes them all after `body`. */
async function withQueues(names, access, body) {
  const queues = [];
  try {
    for (const name of names) queues.push(MessageQueue.open(name, { access }));
    return await body(...queues);
  } finally {
    for (const q of queues) q.close();
  }
}

function producer(jobsName, resultsName, specs) {
  return withQueues([jobsName, resultsName], 'write', (jobs, results) => {
    const sent = [];
    for (const spec of specs) {
      const [id, priority, n] = spec.split(':');
      jobs.sendSync(JSON.stringify({ id, n: Number(n), from: process.pid }), Number(priority), { timeoutMs: STALL_MS });
      sent.push(id);
    }
    results.sendSync(JSON.stringify({ type: 'produced', pid: process.pid, ppid: process.ppid, sent }), 0, { timeoutMs: STALL_MS });
  });
}

/**
 * Takes jobs until a stop job. The turn queue holds one message, the number
 * of the next take: holding it is this worker's turn to take a job, so the
 * numbers give the order in which jobs left the job queue. The worker passes
 * the turn on before it works, so the other workers take the next jobs
 * meanwhile.
 */
async function worker(jobsName, turnName, resultsName) {
  const wait = { timeoutMs: STALL_MS };
  await withQueues([jobsName, turnName, resultsName], 'readwrite', async (jobs, turn, results) => {
    await results.send(JSON.stringify({ type: 'ready', pid: process.pid, ppid: process.ppid }), 0, wait);
    for (;;) {
      const take = Number((await turn.receive(wait)).data);
      const { data, priority } = await jobs.receive(wait);
      await turn.send(String(take + 1), 0, wait);
      const job = JSON.parse(data.toString());
      const report = { type: 'took', take, pid: process.pid, priority, ...job };
      if (job.stop) {
        await results.send(JSON.stringify(report), 0, wait);
        return;
      }
      await results.send(JSON.stringify({ ...report, primes: countPrimes(job.n) }), 0, wait);
    }
  });
}

/** The other end of the round-trip measurement: synchronous on purpose, nothing else to do. */
function echo(pingName, pongName) {
  return withQueues([pingName, pongName], 'readwrite', (ping, pong) => {
    pong.sendSync(JSON.stringify({ pid: process.pid, ppid: process.ppid }), 0, { timeoutMs: STALL_MS });
    for (;;) {
      const { data } = ping.receiveSync({ timeoutMs: STALL_MS });
      if (data.toString() === 'stop') return;
      pong.sendSync(data, 0, { timeoutMs: STALL_MS });
    }
  });
}

async function main(role, ...args) {
  if (role === 'producer' && args.length >= 2) return producer(args[0], args[1], args.slice(2));
  if (role === 'worker' && args.length === 3) return worker(...args);
  if (role === 'echo' && args.length === 2) return echo(...args);
  console.error('This is a child of the tour; run `posix-ipc tour` instead.');
  process.exitCode = 2;
}

runChild(module, main);

'use strict';
// Chapter 1: processes and threads. Starts real child processes and worker
// threads, shows who is whose parent, and times how long each takes to say
// its first word.

const { fork } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { explain, fact, now, since, duration, ratio, median, exited } = require('./util');

const CHILD = path.join(__dirname, 'processes-child.js');
const REPEAT = 5;

// The worker's whole program: report the process it lives in, and its own
// kernel thread id (/proc/thread-self is a link to /proc/<pid>/task/<tid>).
const WORKER_SOURCE = `
const { readlinkSync } = require('node:fs');
const { parentPort, threadId } = require('node:worker_threads');
const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
parentPort.postMessage({ pid: process.pid, ppid: process.ppid, threadId, tid });
`;

/** Forks a child, waits for its first message, then lets it go. */
async function startProcess() {
  const start = now();
  const child = fork(CHILD);
  const exit = exited(child);
  const [hello] = await Promise.race([
    once(child, 'message'),
    exit.then(() => { throw new Error(`child pid ${child.pid} exited before saying hello`); }),
  ]);
  const ns = since(start);
  child.disconnect();
  await exit;
  return { ...hello, ns };
}

/** Starts a worker thread, waits for its first message and for it to end. */
async function startThread() {
  const start = now();
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  // Listen for the exit first: it may come in the same tick as the message.
  const exit = once(worker, 'exit');
  const [hello] = await once(worker, 'message');
  const ns = since(start);
  await exit;
  return { ...hello, ns };
}

async function run() {
  explain(`A process is a running program with its own private memory. The kernel
    numbers each process (its pid) and remembers which process created it (its
    parent, the ppid). A thread is another line of execution inside the same
    process: same pid, same memory. This tour runs as parent pid ${process.pid}.
    It now starts ${REPEAT} child processes (child_process.fork) and ${REPEAT}
    worker threads (new Worker), one at a time, and times each from the call
    until its first message arrives.`);

  const processes = [];
  const threads = [];
  for (let i = 0; i < REPEAT; i++) {
    processes.push(await startProcess());
    threads.push(await startThread());
  }

  for (const [i, p] of processes.entries()) {
    fact(`fork #${i + 1}: child pid ${p.pid} (ppid ${p.ppid}), first message after ${duration(p.ns)}`);
  }
  for (const [i, t] of threads.entries()) {
    fact(`Worker #${i + 1}: thread ${t.threadId} in pid ${t.pid} (kernel thread id ${t.tid}), first message after ${duration(t.ns)}`);
  }
  const processTime = median(processes.map((p) => p.ns));
  const threadTime = median(threads.map((t) => t.ns));
  fact(`median time to first message: process ${duration(processTime)}, thread ${duration(threadTime)}` +
    ` (a process took ${ratio(processTime, threadTime)} as long)`);
  console.log();

  explain(`Every child reports ppid ${process.pid}: the kernel records who started whom. (A child
    whose parent dies first is handed to another parent, init or a "subreaper".) Every
    worker reports pid ${process.pid}: a thread is not a new process, only a new kernel thread
    id inside this one.`);
  explain(`Why a process costs more: the kernel builds a new address space, and a whole new
    Node.js must start in it (fork + exec, then V8 and Node boot from scratch). A Worker
    shares the address space, but still boots its own V8 isolate with its own heap, so it
    costs milliseconds too; a C thread (pthread_create) starts in microseconds. Either way,
    start them once and keep them (a pool).`);
  explain(`The big difference is memory. Threads share it. Processes do not: a child cannot
    see the parent's variables, so every byte between processes goes through the kernel.
    The next chapters are the kernel's ways to do that.`);
}

module.exports = { run };

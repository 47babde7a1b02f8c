'use strict';
// Chapter 2: shared memory. A named object opened by a child, anonymous memory
// passed to a child as a descriptor, and a handoff ping-pong over shared
// memory compared with process.send.

const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { SharedMemory } = require('../../dist');
const { TURN, READY, STOP, readGreeting } = require('./shared-memory-child');
const { sendPingPong, report } = require('./process-send');
const { explain, fact, heading, now, since, exited, withCleanup, watchTheMachine, compare } = require('./util');

const CHILD = path.join(__dirname, 'shared-memory-child.js');

const SIZE = 4096;
// Ping-pong: a warm-up (so V8 has optimized both loops), then the measured
// round trips, cut short after a time budget so the tour stays quick even
// when both processes have to share one CPU.
const SPIN_WARM_UP = 1000;
const SPIN_ROUNDS = 20000;
const WARM_UP_BUDGET_NS = 0.3e9;
const BUDGET_NS = 1.5e9;
const STALL_NS = 10e9;

/** Starts the chapter's child with `args` (its role first); `fd` becomes its descriptor 3. */
function spawnChild(args, fd) {
  const stdio = fd === undefined ? 'inherit' : ['inherit', 'inherit', 'inherit', fd];
  return spawn(process.execPath, [CHILD, ...args], { stdio });
}

async function namedMemory() {
  const name = `/posix-ipc-tour-${process.pid}`;
  const file = `/dev/shm${name}`;
  const shm = SharedMemory.create(name, SIZE);
  await withCleanup(async () => {
    fact(`parent pid ${process.pid} created ${name}, ${shm.size} bytes`);
    fact(`  ${file} exists: ${existsSync(file) ? 'yes' : 'no'}`);
    const child = spawnChild(['named', name]);
    await exited(child);
    const greeting = readGreeting(shm.buffer);
    fact(`child pid ${greeting.pid} (ppid ${greeting.ppid}) opened ${name} by name`);
    fact(`  and wrote "${greeting.text}" into it`);
    fact(`parent pid ${process.pid} reads its own mapping of ${name}: "${greeting.text}"`);
  }, () => {
    shm.close();
    SharedMemory.unlink(name);
  });
  fact(`parent closed and unlinked ${name} (${file} exists: ${existsSync(file) ? 'yes' : 'no'})`);
  console.log();
}

async function anonymousMemory() {
  const shm = SharedMemory.anonymous(SIZE);
  try {
    fact(`parent pid ${process.pid} created ${shm.size} bytes of anonymous memory (its descriptor ${shm.fd} in the parent)`);
    const child = spawnChild(['fd'], shm.fd);
    await exited(child);
    const greeting = readGreeting(shm.buffer);
    fact(`child pid ${greeting.pid} (ppid ${greeting.ppid}) mapped its descriptor 3, wrote "${greeting.text}" and exited`);
    fact(`parent pid ${process.pid} reads the same bytes: "${greeting.text}"`);
  } finally {
    shm.close();
  }
  console.log();
}

/**
 * `rounds` round trips over the TURN word, each timed: store a ping, spin
 * until the pong. Stops early after `budgetNs`; throws if the child stalls.
 */
function spinRoundTrips(word, rounds, budgetNs) {
  const samples = [];
  const stop = now() + BigInt(budgetNs);
  let turn = Atomics.load(word, TURN);
  for (let i = 0; i < rounds; i++) {
    const start = now();
    Atomics.store(word, TURN, turn + 1);
    turn += 2;
    let idle = 0;
    while (Atomics.load(word, TURN) !== turn) {
      if (++idle === 1 << 20) {
        idle = 0;
        if (since(start) > STALL_NS) throw new Error('the ping-pong child stopped answering');
      }
    }
    const end = now();
    samples.push(Number(end - start));
    if (end > stop) break;
  }
  return samples;
}

/** Waits (without blocking the event loop) until the child stores its pid in READY. */
async function untilReady(word, exit) {
  const early = exit.then(() => { throw new Error('the ping-pong child exited before it was ready'); });
  early.catch(() => {});
  const start = now();
  while (Atomics.load(word, READY) === 0) {
    if (since(start) > STALL_NS) throw new Error('the ping-pong child did not start');
    await Promise.race([sleep(1), early]);
  }
  return Atomics.load(word, READY);
}

async function spinPingPong() {
  const shm = SharedMemory.anonymous(SIZE);
  const word = new Int32Array(shm.buffer);
  try {
    const child = spawnChild(['ping-pong'], shm.fd);
    const exit = exited(child);
    let samples;
    try {
      const pid = await untilReady(word, exit);
      fact(`ping-pong over shared memory: parent pid ${process.pid} <-> child pid ${pid} (ppid ${process.pid})`);
      spinRoundTrips(word, SPIN_WARM_UP, WARM_UP_BUDGET_NS);
      samples = spinRoundTrips(word, SPIN_ROUNDS, BUDGET_NS);
    } finally {
      Atomics.store(word, TURN, STOP);
    }
    await exit;
    return samples;
  } finally {
    shm.close();
  }
}

async function run() {
  explain(`Processes have separate memory, so to share bytes they ask the kernel for a
    shared-memory object and each maps it into its own address space: the same physical
    pages then appear in both. Nothing is copied; a store by one process is a load away
    for the other.`);

  heading('Named shared memory', '-');
  explain(`shm_open creates an object with a name. It lives in /dev/shm (a tmpfs, memory that
    looks like files) until it is unlinked, so any process that knows the name, and has
    permission, can open it, even one started later.`);
  await namedMemory();

  heading('Anonymous shared memory', '-');
  explain(`memfd_create makes the same kind of memory without a name: nothing appears in
    /dev/shm, and the only way in is the descriptor. The parent hands it to the child when
    it starts it, as the child's descriptor 3 (spawn's stdio option). The library opens
    all its descriptors close-on-exec, so no other object of the parent leaks into the
    child.`);
  await anonymousMemory();

  heading('Handoff: how fast is a round trip?', '-');
  explain(`The parent stores a number into a shared Int32Array with Atomics.store; the child
    spins on Atomics.load until it sees it, and answers with the next number, which the
    parent spins on in turn. That is one round trip. For comparison, the same ping-pong
    over process.send, Node's built-in channel between a parent and a child it forked.`);
  const machine = watchTheMachine();
  const spin = await spinPingPong();
  const send = await sendPingPong(WARM_UP_BUDGET_NS, BUDGET_NS);
  const load = machine.stop();
  console.log();
  report('shared memory, Atomics spin', spin);
  report('process.send, IPC channel', send);
  compare(load, spin, send, {
    faster: (r) => `a shared-memory round trip was ${r} faster than process.send`,
    slower: (r) => `here process.send was ${r} faster: the two spinning processes took turns on a CPU`,
  });
  console.log();

  explain(`Why spinning on shared memory can be so fast: there is no system call and no copy on the way. The parent's store
    lands in a page the child maps too, and the CPUs' caches carry it to the other core in
    a few hundred nanoseconds. process.send encodes the message as JSON, writes it to a
    Unix socket (a system call), wakes the child's event loop, which decodes it and answers
    the same way.`);
  explain(`The price: both sides spin, and each burns a whole CPU while it waits. With more
    spinners than free CPUs one of them waits for the scheduler's next time slice
    (milliseconds); the p99 shows it. The usual way for JavaScript to sleep until a value
    changes, Atomics.wait, is no help: it only accepts a SharedArrayBuffer (this mapping is
    a plain ArrayBuffer), and V8 keeps its waiters in a list inside one process, so another
    process could never wake it anyway. Sleeping until another process acts needs the
    kernel: futexes, semaphores, message queues.`);
}

module.exports = { run };

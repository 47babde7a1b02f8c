'use strict';
// Chapter 7: robust mutexes and a deadlock. Two processes take two mutexes in
// opposite orders and wait for each other; `posix-ipc locks` shows the cycle
// live, a timeout reveals it, and taking them in one agreed order fixes it.

const { spawn } = require('node:child_process');
const path = require('node:path');
const { createInterface } = require('node:readline');
const { Mutex } = require('../../dist');
const { explain, fact, heading, duration, exited, withCleanup } = require('./util');

const CHILD = path.join(__dirname, 'deadlock-child.js');
// The first child gives up sooner than the second, so the story has one end.
const TIMEOUT_MS = 1000;
const PATIENT_MS = 3 * TIMEOUT_MS;
const ROUNDS = 5;

/** Starts the chapter's child; `next()` resolves its next JSON line. */
function start(args) {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`child pid ${child.pid} ended without saying why`);
    return JSON.parse(value);
  };
  return { child, next, exit: exited(child) };
}

/**
 * Prints what `posix-ipc locks` shows of `pids` once it sees them in a cycle
 * (each waiter records its wait just before it starts), or after half the
 * first child's patience: the command's own module, called in this process,
 * so the picture is taken while the deadlock lasts.
 */
async function showLocks(pids) {
  const { graph, draw, processes } = require('../cli/locks');
  const deadline = Date.now() + TIMEOUT_MS / 2;
  const mine = (line) => pids.some((pid) => line.includes(`pid ${pid} `));
  let lines = [];
  do {
    await new Promise((resolve) => setTimeout(resolve, 10));
    lines = draw(graph(processes())).split('\n').filter(mine);
  } while (!lines.some((l) => l.startsWith('DEADLOCK:')) && Date.now() < deadline);
  fact('$ posix-ipc locks');
  for (const line of lines) fact(`  ${line}`);
}

const owner = (m) => (m.ownerPid === null ? 'nobody' : `pid ${m.ownerPid}`);

async function cycle(names, a, b) {
  const [nameA, nameB] = names;
  const one = start(['cycle', nameA, nameB, String(TIMEOUT_MS)]);
  const two = start(['cycle', nameB, nameA, String(PATIENT_MS)]);
  const [first, second] = await Promise.all([one.next(), two.next()]);
  fact(`child pid ${first.pid} (ppid ${first.ppid}) locked A, and now wants B`);
  fact(`child pid ${second.pid} (ppid ${second.ppid}) locked B, and now wants A`);
  one.child.stdin.end('go\n');
  two.child.stdin.end('go\n');
  await showLocks([first.pid, second.pid]);
  fact(`parent pid ${process.pid} asks who holds what: A is held by ${owner(a)}, B by ${owner(b)}`);
  fact(`so pid ${first.pid} waits for pid ${b.ownerPid}, which waits for pid ${a.ownerPid}: a cycle, nobody can go on`);
  const [gaveUp, patient] = [await one.next(), await two.next()];
  fact(`child pid ${gaveUp.pid}: lock(B, { timeoutMs: ${TIMEOUT_MS} }) ` +
    (gaveUp.code ? `gave up with ${gaveUp.code} after ${duration(gaveUp.after * 1e6)}, and unlocked A` : 'got B'));
  fact(`child pid ${patient.pid}: lock(A, { timeoutMs: ${PATIENT_MS} }) ` +
    (patient.got ? `got A after ${duration(patient.after * 1e6)}, when pid ${gaveUp.pid} let go` : `gave up with ${patient.code}`));
  await Promise.all([one.exit, two.exit]);
  fact(`after both children exited: A is held by ${owner(a)}, B by ${owner(b)}`);
  console.log();
}

async function ordered(names) {
  const workers = [start(['ordered', ...names, String(ROUNDS)]), start(['ordered', ...names, String(ROUNDS)])];
  const reports = await Promise.all(workers.map((w) => w.next()));
  await Promise.all(workers.map((w) => w.exit));
  for (const r of reports) {
    fact(`child pid ${r.pid} (ppid ${r.ppid}) took A then B ${r.rounds} times; its longest wait was ${duration(r.longest * 1e6)}`);
  }
  fact('both finished: with one agreed order there is no cycle, so no deadlock');
  console.log();
}

async function run() {
  explain(`A mutex lets one process at a time into a critical section. This library's Mutex
    is a robust pthread mutex in shared memory: the kernel knows which thread holds it, so if
    the holder dies, even by SIGKILL, the next process to lock it is told (ownerDied) instead of
    waiting forever. It also records the holder's pid, so you can ask who holds what.`);

  const names = ['a', 'b'].map((x) => `/posix-ipc-tour-${process.pid}-${x}`);
  const [a, b] = names.map((n) => Mutex.open(n, { create: true, exclusive: true }));
  await withCleanup(async () => {
    fact(`parent pid ${process.pid} created mutex A (${names[0]}) and B (${names[1]})`);
    console.log();

    heading('Deadlock: two processes, two mutexes, opposite orders', '-');
    explain(`One child locks A and then wants B; the other locks B and then wants A. Each waits
      for a lock the other will only release once it gets the lock it is waiting for. Without
      a timeout they would wait forever. \`posix-ipc locks\` draws who waits for whom while it
      lasts (each waiting process records what it waits for, and the mutex knows its owner),
      and flags the cycle; lock({ timeoutMs }) reveals it too, and the one that gives up
      first breaks it.`);
    await cycle(names, a, b);

    heading('The fix: always lock in the same order', '-');
    explain(`Now both children take A first, then B. Whoever holds A can always get B (the other
      process never holds B without A), so one of them waits a little, and neither forever.`);
    await ordered(names);
  }, () => {
    for (const m of [a, b]) m.close();
    for (const n of names) Mutex.unlink(n);
  });
  fact(`parent closed and unlinked both mutexes`);
  console.log();
}

module.exports = { run };

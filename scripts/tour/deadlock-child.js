'use strict';
// Chapter 7's child process: one of two processes sharing two named mutexes.
// It prints JSON lines on stdout. Two roles:
//
//   cycle <first> <second> <timeoutMs>
//       locks <first>, says so, waits for a "go" line on stdin, then tries
//       <second> with lock({ timeoutMs }); reports how that ended, unlocks all
//       and exits
//   ordered <first> <second> <rounds>
//       <rounds> times: locks <first> then <second>, unlocks both; reports the
//       longest it waited

const { once } = require('node:events');
const { createInterface } = require('node:readline');
const { Mutex } = require('../../dist');
const { runChild } = require('./util');

const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;

async function cycle(a, b, first, second, timeoutMs) {
  await a.lock();
  print({ pid: process.pid, ppid: process.ppid, holding: first });
  await once(createInterface({ input: process.stdin }), 'line');
  const start = process.hrtime.bigint();
  try {
    await b.lock({ timeoutMs: Number(timeoutMs) });
    b.unlock();
    print({ pid: process.pid, got: second, after: ms(start) });
  } catch (err) {
    print({ pid: process.pid, failed: second, code: err.code, after: ms(start) });
  }
  a.unlock();
}

async function ordered(a, b, first, second, rounds) {
  let longest = 0;
  for (let i = 0; i < Number(rounds); i++) {
    const start = process.hrtime.bigint();
    await a.lock({ timeoutMs: 10000 });
    await b.lock({ timeoutMs: 10000 });
    longest = Math.max(longest, ms(start));
    await new Promise((resolve) => setTimeout(resolve, 5)); // the work both locks protect
    b.unlock();
    a.unlock();
  }
  print({ pid: process.pid, ppid: process.ppid, rounds: Number(rounds), longest });
}

async function main(role, first, second, number) {
  if (!['cycle', 'ordered'].includes(role) || number === undefined) {
    console.error('This is a child of the tour; run `posix-ipc tour` instead.');
    process.exitCode = 2;
    return;
  }
  const a = Mutex.open(first);
  const b = Mutex.open(second);
  try {
    await (role === 'cycle' ? cycle : ordered)(a, b, first, second, number);
  } finally {
    a.close();
    b.close();
  }
}

runChild(module, main);

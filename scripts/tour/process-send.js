'use strict';
// The yardstick every chapter measures against: a ping-pong over process.send,
// Node's built-in channel between a parent and a child it forked.

const { fork } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');
const { fact, now, duration, count, percentile, median, exited } = require('./util');

const ECHO = path.join(__dirname, 'processes-child.js');
const SEND_WARM_UP = 200;
const SEND_ROUNDS = 2000;

/** Timed round trips of child.send() and the child's echo, one at a time. */
function sendRoundTrips(child, rounds, budgetNs) {
  return new Promise((resolve, reject) => {
    const samples = [];
    const stop = now() + BigInt(budgetNs);
    let start;
    const ping = () => {
      start = now();
      child.send(samples.length);
    };
    const finish = (err) => {
      child.off('message', onMessage).off('exit', onExit);
      if (err) reject(err);
      else resolve(samples);
    };
    const onMessage = () => {
      const end = now();
      samples.push(Number(end - start));
      if (samples.length < rounds && end < stop) ping();
      else finish(null);
    };
    const onExit = () => finish(new Error(`child pid ${child.pid} exited during the ping-pong`));
    child.on('message', onMessage).on('exit', onExit);
    ping();
  });
}

/** A warmed-up ping-pong with an echoing child; the round-trip times in ns. */
async function sendPingPong(warmUpBudgetNs, budgetNs) {
  const child = fork(ECHO);
  const exit = exited(child);
  try {
    const [hello] = await once(child, 'message');
    fact(`ping-pong over process.send: parent pid ${process.pid} <-> child pid ${hello.pid} (ppid ${hello.ppid})`);
    await sendRoundTrips(child, SEND_WARM_UP, warmUpBudgetNs);
    return await sendRoundTrips(child, SEND_ROUNDS, budgetNs);
  } finally {
    if (child.connected) child.disconnect();
    await exit;
  }
}

/** One line: median and p99 of `samples` (ns). */
function report(what, samples) {
  fact(`${`${what}:`.padEnd(29)} median round trip ${duration(median(samples))}, p99 ${duration(percentile(samples, 99))}` +
    ` (${count(samples.length)} round trips)`);
}

module.exports = { sendPingPong, report };

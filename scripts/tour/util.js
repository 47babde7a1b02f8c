'use strict';
// Helpers shared by the chapters of the tour: printing, timing, statistics,
// and waiting for child processes.

const os = require('node:os');

const WIDTH = 78;

/** Prints a paragraph of explanation, wrapped to WIDTH columns. */
function explain(text) {
  const lines = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  console.log(`${lines.join('\n')}\n`);
}

/** Prints one fact: what just happened, indented so it stands out from the prose. */
function fact(text) {
  console.log(`  ${text}`);
}

/** A chapter title (underlined with '=') or a section title ('-'). */
function heading(title, underline) {
  console.log(`${underline === '=' ? '\n' : ''}${title}\n${underline.repeat(title.length)}\n`);
}

/** The current time of the monotonic clock, in nanoseconds (a BigInt). */
const now = () => process.hrtime.bigint();

/** Nanoseconds elapsed since `start` (a value of now()), as a Number. */
const since = (start) => Number(now() - start);

/** Three significant digits are plenty for a measurement on a shared machine. */
function digits(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A duration in nanoseconds, with a unit that fits: `412 ns`, `48.2 µs`, `51.3 ms`. */
function duration(ns) {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${digits(ns / 1e3)} µs`;
  if (ns < 1e9) return `${digits(ns / 1e6)} ms`;
  return `${digits(ns / 1e9)} s`;
}

/** How many times `slow` is `fast`, e.g. `4.2x`. */
function ratio(slow, fast) {
  return `${digits(slow / fast)}x`;
}

/** `20,000` rather than `20000`. */
const count = (n) => n.toLocaleString('en-US');

/** The p-th percentile (nearest rank) of a list of numbers; p = 50 is the median. */
function percentile(values, p) {
  const sorted = Float64Array.from(values).sort();
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

const median = (values) => percentile(values, 50);

/**
 * A promise that resolves when `child` exits with code 0, and rejects when it
 * fails to start, exits with another code or is killed by a signal. It is
 * marked as handled, so a caller that stops waiting early (because something
 * else failed) does not crash the tour with an unhandled rejection.
 */
function exited(child) {
  const done = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`child pid ${child.pid} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`));
    });
  });
  done.catch(() => {});
  return done;
}

/**
 * Runs `body`, then `cleanup`, whatever happens; `cleanup` also runs if the
 * tour is interrupted (Ctrl-C, SIGTERM) while `body` is pending, so a named
 * object never outlives the tour in /dev/shm.
 */
async function withCleanup(body, cleanup) {
  const onSignal = (signal) => {
    cleanup();
    process.exit(128 + os.constants.signals[signal]);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    return await body();
  } finally {
    process.removeListener('SIGINT', onSignal).removeListener('SIGTERM', onSignal);
    cleanup();
  }
}

/**
 * Runs a chapter's child process: `main(...argv)` when `mod` is the script
 * node was started with; an error is printed and sets exit status 1.
 */
function runChild(mod, main) {
  if (require.main !== mod) return;
  Promise.resolve()
    .then(() => main(...process.argv.slice(2)))
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}

module.exports = {
  explain, fact, heading, now, since, duration, ratio, count, percentile, median, exited, withCleanup, runChild,
};

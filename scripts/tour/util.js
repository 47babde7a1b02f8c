'use strict';
// Helpers shared by the chapters of the tour: printing, timing, statistics,
// and waiting for child processes.

const fs = require('node:fs');
const os = require('node:os');

// Prose is wrapped to WIDTH columns; no line the tour prints is longer than
// LINE_MAX (a fact too long for it goes on, indented, on the next line).
const WIDTH = 78;
const LINE_MAX = 100;

// What an interruption (Ctrl-C, SIGTERM) must undo: the chapter's children
// that have not exited yet (every child the tour waits for goes through
// exited()), and the cleanups of withCleanup() still pending, innermost last.
const children = new Set();
const cleanups = [];
let interrupted = false;

/**
 * `text` as lines of at most `width` columns, cut at spaces; every line after
 * the first starts with `indent`. A command in backticks is never cut, so it
 * can be copied whole; it, or a single word, longer than `width` stays whole.
 */
function wrap(text, width, indent = '') {
  const lines = [];
  let line = '';
  for (const word of text.match(/`[^`]*`\S*|\S+/g) ?? []) {
    const lead = lines.length === 0 ? '' : indent;
    if (line && lead.length + line.length + 1 + word.length > width) {
      lines.push(lead + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push((lines.length === 0 ? '' : indent) + line);
  return lines.join('\n');
}

/** Prints to stdout, unless the tour was interrupted: then it only cleans up, quietly. */
function print(text) {
  if (!interrupted) console.log(text);
}

/** Prints a paragraph of explanation, wrapped to WIDTH columns. */
function explain(text) {
  print(`${wrap(text, WIDTH)}\n`);
}

/**
 * Prints one fact: what just happened, indented so it stands out from the
 * prose. One too long for LINE_MAX (a long temporary directory, say) is cut
 * at spaces, and goes on four columns further in.
 */
function fact(text) {
  const line = `  ${text}`;
  if ([...line].length <= LINE_MAX) return print(line);
  const lead = /^ */.exec(line)[0];
  print(lead + wrap(line, LINE_MAX - lead.length, '    ').replace(/\n/g, `\n${lead}`));
}

/** A chapter title (underlined with '=') or a section title ('-'). */
function heading(title, underline) {
  print(`${underline === '=' ? '\n' : ''}${title}\n${underline.repeat(title.length)}\n`);
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
 * else failed) does not crash the tour with an unhandled rejection. Until it
 * exits, the child is one an interruption of the tour stops.
 */
function exited(child) {
  if (interrupted) child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) {
    children.add(child);
    child.once('exit', () => children.delete(child));
  }
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
 * object never outlives the tour in /dev/shm. It runs once either way.
 */
async function withCleanup(body, cleanup) {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    cleanup();
  };
  cleanups.push(once);
  try {
    return await body();
  } finally {
    cleanups.splice(cleanups.indexOf(once), 1);
    // After an interruption the handler below has cleaned up, or is about to:
    // a second failure here would only be noise.
    if (interrupted) {
      try {
        once();
      } catch {
        // Reported by nobody, on purpose.
      }
    } else {
      once();
    }
  }
}

/** Whether the tour has been interrupted: a chapter's failure after that is no news. */
const wasInterrupted = () => interrupted;

/**
 * Makes Ctrl-C and SIGTERM end the tour quietly: its children are stopped
 * (SIGTERM, then SIGKILL after a second), the pending cleanups run, one line
 * says where the tour was (`where()`), and the exit status is 128 + the
 * signal's number, as a shell reports a process killed by it.
 */
function endQuietlyOnSignals(where) {
  const onSignal = async (signal) => {
    if (interrupted) return;
    interrupted = true;
    const running = [...children];
    for (const child of running) child.kill();
    let timer;
    await Promise.race([
      Promise.all(running.map((child) => new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', resolve);
      }))),
      new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(timer);
    for (const child of children) child.kill('SIGKILL');
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        cleanup();
      } catch {
        // One cleanup failing must not keep the others from running.
      }
    }
    // On a terminal the ^C the terminal echoed (at a prompt, mid-line) gets a line of its own.
    const newline = process.stderr.isTTY ? '\n' : '';
    process.stderr.write(`${newline}posix-ipc tour: interrupted (${signal}) ${where()}; removed what it had made.\n`);
    process.exit(128 + os.constants.signals[signal]);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
}

/**
 * Runs a chapter's child process: `main(...argv)` when `mod` is the script
 * node was started with; an error is printed and sets exit status 1. A child
 * whose parent has gone (the tour was interrupted, or died) ends at once and
 * quietly: whatever failed then failed because the other side left, which is
 * no news to anyone. It looks every 100 ms, and whenever something throws.
 */
function runChild(mod, main) {
  if (require.main !== mod) return;
  const parent = process.ppid;
  const orphaned = () => process.ppid !== parent;
  setInterval(() => {
    if (orphaned()) process.exit(1);
  }, 100).unref();
  // A forked child: its channel closing is its parent going.
  process.once('disconnect', () => setImmediate(() => {
    if (orphaned()) process.exit(1);
  }));
  const fail = (err) => {
    if (orphaned() || err?.code === 'ERR_IPC_CHANNEL_CLOSED') process.exit(1);
    console.error(err);
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  Promise.resolve()
    .then(() => main(...process.argv.slice(2)))
    .catch(fail);
}

// CPU time counters are in clock ticks (USER_HZ), 100 per second on Linux.
const TICKS_PER_SECOND = 100;

/** The CPUs this process may run on, from Cpus_allowed_list in /proc/self/status (`0-3,6`). */
function allowedCpus() {
  const list = /^Cpus_allowed_list:\s*(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  const cpus = [];
  for (const part of list.split(',').filter(Boolean)) {
    const [from, to = from] = part.split('-').map(Number);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** Ticks the CPUs in `cpus` spent busy, from /proc/stat (all but idle and iowait; steal included). */
function busyTicks(cpus) {
  let busy = 0;
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m || !cpus.includes(Number(m[1]))) continue;
    const [user, nice, system, , , irq, softirq, steal = 0] = m[2].trim().split(/\s+/).map(Number);
    busy += user + nice + system + irq + softirq + steal;
  }
  return busy;
}

/** Ticks of CPU a process used (utime + stime + the same of its waited-for children), or 0 once gone. */
function processTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return f[11] + f[12] + f[13] + f[14];
  } catch {
    return 0;
  }
}

/** Ticks used by the tour itself: this process, its running children, and those it has reaped. */
function tourTicks() {
  let ticks = processTicks('self');
  for (const child of children) ticks += processTicks(child.pid);
  return ticks;
}

/**
 * Starts watching how busy the machine is while the tour measures: `stop()`
 * tells how much of the CPUs this tour may run on went to other processes
 * meanwhile ({ share, cpus, busy }). A busy machine can turn a comparison
 * round: a process that spins waits for its turn on a CPU, and looks slow.
 * /proc/stat counts busy ticks per CPU, /proc/<pid>/stat those of the tour's
 * own processes; what is left is everyone else's.
 */
function watchTheMachine() {
  const cpus = allowedCpus();
  const start = now();
  let before;
  try {
    before = { busy: busyTicks(cpus), ours: tourTicks() };
  } catch {
    before = null; // No /proc: nothing to say.
  }
  return {
    stop() {
      if (before === null || cpus.length === 0) return { share: 0, cpus: cpus.length, busy: false };
      const seconds = since(start) / 1e9;
      const others = busyTicks(cpus) - before.busy - (tourTicks() - before.ours);
      const share = Math.max(0, others / (seconds * TICKS_PER_SECOND * cpus.length));
      return { share, cpus: cpus.length, busy: share >= 0.2 };
    },
  };
}

/**
 * Lines saying that the machine was too busy for `claim` (what the numbers
 * would have said) to mean anything: for a comparison measured under `load`
 * (from watchTheMachine) that came out backwards.
 */
function unreliable(load) {
  const pct = Math.min(100, Math.round(load.share * 100));
  return [
    `the measurement is unreliable: other processes used ${pct}% of the ${load.cpus} CPU${load.cpus === 1 ? '' : 's'}` +
      ' this tour may run on',
    '  while it measured, so a slower result here only shows who waited for a CPU;',
    '  run it again when the machine is idle to see the real difference',
  ];
}

/**
 * Prints the comparison of `ours` (round-trip times) with `send`
 * (process.send's): `faster(ratio)` when ours won, `slower(ratio)` when not,
 * or, when the machine was busy meanwhile (`load`) and ours lost, that the
 * measurement says nothing instead of the backwards claim.
 */
function compare(load, ours, send, { faster, slower }) {
  const cpus = `on ${load.cpus} CPU${load.cpus === 1 ? '' : 's'}`;
  if (median(ours) < median(send)) fact(`${faster(ratio(median(send), median(ours)))} (medians), ${cpus}`);
  else if (load.busy) for (const line of unreliable(load)) fact(line);
  else fact(`${slower(ratio(median(ours), median(send)))} (medians), ${cpus}`);
}

module.exports = {
  WIDTH, LINE_MAX, wrap, print, explain, fact, heading, now, since, duration, ratio, count, percentile, median,
  exited, withCleanup, wasInterrupted, endQuietlyOnSignals, runChild, watchTheMachine, unreliable, compare,
};

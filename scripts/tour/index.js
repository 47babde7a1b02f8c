'use strict';
// The student tour: one chapter per kind of IPC, run in order. Each chapter is
// a file here exporting `run()`; a new capability adds its chapter to the list.
// A chapter that fails (a kernel limit, most likely) is explained in one
// paragraph, and the tour goes on with the next one.

const fs = require('node:fs');
const os = require('node:os');
const { createInterface } = require('node:readline');
const { WIDTH, wrap, print, explain, heading, wasInterrupted, endQuietlyOnSignals } = require('./util');

const chapters = [
  { name: 'processes', title: 'Processes and threads', file: './processes' },
  { name: 'shared-memory', title: 'Shared memory', file: './shared-memory' },
  { name: 'message-queue', title: 'Message queues', file: './message-queue' },
  { name: 'pipe', title: 'Pipes: a one-way channel between parent and child', file: './pipe' },
  { name: 'unix-socket', title: 'Unix sockets: passing a descriptor to an unrelated process', file: './unix-socket' },
  { name: 'fifo', title: 'FIFOs: a named pipe, one server and several clients', file: './fifo' },
  { name: 'deadlock', title: 'Mutexes: a deadlock between two processes, and its fix', file: './deadlock' },
  { name: 'channel', title: 'Channel: a ring of messages in shared memory', file: './channel' },
  { name: 'browser', title: 'A browser: one process per tab, and a crash that ends only its own', file: './browser' },
];

/** A value from /proc/sys, or `?` when it cannot be read. */
function sysctl(file) {
  try {
    return fs.readFileSync(`/proc/sys/${file}`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The soft limit of a resource from /proc/self/limits (`Max msgqueue size`), or `?`. */
function rlimit(label) {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(label));
  return line?.slice(26).trim().split(/\s+/)[0] ?? '?';
}

/**
 * What limit an error from the kernel most likely met, and the command that
 * raises it: a sentence, or null for an error the tour knows nothing more about.
 */
function limitAndFix(err) {
  const { code, syscall } = err;
  const shm = ['shm_open', 'posix_fallocate', 'ftruncate', 'memfd_create'].includes(syscall);
  if (syscall === 'mq_open' && code === 'EMFILE') {
    return `Fix: raise RLIMIT_MSGQUEUE, the bytes all of one user's message queues may hold (here
      ${rlimit('Max msgqueue size')}): \`ulimit -q unlimited\` in the shell that starts the tour
      (up to the hard limit), or \`prlimit --msgqueue=unlimited npx posix-ipc tour\`. Should the
      descriptors be what ran out (here ${rlimit('Max open files')}): \`ulimit -n 4096\`.`;
  }
  if (syscall === 'mq_open' && code === 'ENOSPC') {
    return `That is queues_max, how many message queues the machine may have at once (here
      ${sysctl('fs/mqueue/queues_max')}). Fix: remove stale queues (\`ls /dev/mqueue\`, where it is
      mounted), or raise it: \`sudo sysctl -w fs.mqueue.queues_max=1024\`.`;
  }
  if (syscall === 'mq_open' && code === 'EINVAL') {
    return `That is msg_max or msgsize_max (here ${sysctl('fs/mqueue/msg_max')} messages of at most
      ${sysctl('fs/mqueue/msgsize_max')} bytes). Fix: \`sudo sysctl -w fs.mqueue.msg_max=64\`.`;
  }
  if (syscall === 'mq_open' && code === 'ENOSYS') {
    return 'This kernel has no POSIX message queues (CONFIG_POSIX_MQUEUE): no limit to raise.';
  }
  if (shm && code === 'ENOSPC') {
    return `/dev/shm, a tmpfs, is full. Fix: see what fills it (\`df -h /dev/shm; ls -la /dev/shm\`)
      and remove what is stale, or make it larger: \`sudo mount -o remount,size=1G /dev/shm\`.`;
  }
  if (code === 'EMFILE') {
    return `That is RLIMIT_NOFILE, the descriptors one process may have open (here
      ${rlimit('Max open files')}). Fix: \`ulimit -n 4096\` in the shell that starts the tour.`;
  }
  if (code === 'ENFILE') {
    return `That is fs.file-max, the open files of the whole machine (here ${sysctl('fs/file-max')}).
      Fix: end what holds so many, or \`sudo sysctl -w fs.file-max=1000000\`.`;
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return `The tour creates objects in /dev/shm, /dev/mqueue and ${os.tmpdir()}: it must be
      allowed to. Fix: run it where those are writable.`;
  }
  return null;
}

/** Says, in one paragraph on stderr, why chapter `n` stopped, and that the tour goes on. */
function reportFailure(n, chapter, err, last) {
  const kernel = typeof err?.code === 'string' && typeof err.syscall === 'string' && typeof err.errno === 'number';
  const then = last ? 'That was the last chapter.' : 'The tour goes on with the next chapter.';
  let text;
  if (kernel) {
    text = `Chapter ${n} (${chapter.name}) stopped: ${err.message} (err.code '${err.code}',
      err.syscall '${err.syscall}'). ${limitAndFix(err) ?? ''} ${then}`;
  } else {
    text = `Chapter ${n} (${chapter.name}) stopped: ${err?.message ?? String(err)}. ${then}`;
  }
  process.stderr.write(`\n${wrap(text, WIDTH)}\n\n`);
}

/**
 * Waits for Enter (or the end of stdin) before chapter `n`. The terminal
 * stays in its normal mode, so Ctrl-C still sends SIGINT.
 */
function pauseBefore(n, chapter) {
  process.stdout.write(`Press Enter for chapter ${n} (${chapter.name}), Ctrl-C to stop `);
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, terminal: false });
    const done = () => {
      rl.close();
      resolve();
    };
    rl.once('line', done).once('close', done);
  });
}

/**
 * Runs the chapters named in `only` (all when empty), in the tour's order,
 * pausing before each but the first when `pause`. Resolves with whether every
 * chapter ran to its end.
 */
async function run({ only = [], pause = false } = {}) {
  const selected = chapters.filter((c) => only.length === 0 || only.includes(c.name));
  // Load the library first, so that a missing build fails before any chapter starts.
  require('../../dist');

  let current = null;
  endQuietlyOnSignals(() => (current ? `in chapter ${current.n} (${current.chapter.name})` : 'between chapters'));

  print('posix-ipc tour: inter-process communication on Linux, seen from Node.js');
  print(`parent pid ${process.pid} (ppid ${process.ppid}), Node.js ${process.version}, ` +
    `${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`);
  print('');
  explain(`Everything below really happens: real processes, real kernel objects, and numbers
    measured just now on this machine. Run it again and the numbers will move a little.`);

  const failed = [];
  for (const [i, chapter] of selected.entries()) {
    const n = chapters.indexOf(chapter) + 1;
    if (i > 0 && pause) await pauseBefore(n, chapter);
    current = { n, chapter };
    heading(`Chapter ${n}: ${chapter.title}`, '=');
    try {
      await require(chapter.file).run();
    } catch (err) {
      // A child that died of the same Ctrl-C may be seen before the tour's own
      // SIGINT: give the signal a moment to arrive first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (wasInterrupted()) await new Promise(() => {}); // The signal handler exits.
      failed.push(chapter.name);
      reportFailure(n, chapter, err, i === selected.length - 1);
    }
    current = null;
  }
  if (failed.length === 0) print('End of the tour.');
  else print(`End of the tour: ${failed.length} chapter${failed.length === 1 ? '' : 's'} failed (${failed.join(', ')}).`);
  return failed.length === 0;
}

module.exports = { chapters, chapterNames: chapters.map((c) => c.name), run };

'use strict';
// The student tour: one chapter per kind of IPC, run in order. Each chapter is
// a file here exporting `run()`; a new capability adds its chapter to the list.

const os = require('node:os');
const { explain, heading } = require('./util');

const chapters = [
  { name: 'processes', title: 'Processes and threads', file: './processes' },
  { name: 'shared-memory', title: 'Shared memory', file: './shared-memory' },
  { name: 'message-queue', title: 'Message queues', file: './message-queue' },
  { name: 'pipe', title: 'Pipes: a one-way channel between parent and child', file: './pipe' },
  { name: 'unix-socket', title: 'Unix sockets: passing a descriptor to an unrelated process', file: './unix-socket' },
  { name: 'fifo', title: 'FIFOs: a named pipe, one server and several clients', file: './fifo' },
  { name: 'deadlock', title: 'Mutexes: a deadlock between two processes, and its fix', file: './deadlock' },
  { name: 'channel', title: 'Channel: a ring of messages in shared memory', file: './channel' },
];

/** Runs every chapter, or only the one named `only`. */
async function run(only) {
  const selected = chapters.filter((c) => only === undefined || c.name === only);
  if (selected.length === 0) throw new Error(`no chapter '${only}'`);
  // Load the library first, so that a missing build fails before any chapter starts.
  require('../../dist');

  console.log(`posix-ipc tour: inter-process communication on Linux, seen from Node.js`);
  console.log(`parent pid ${process.pid} (ppid ${process.ppid}), Node.js ${process.version}, ` +
    `${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`);
  console.log();
  explain(`Everything below really happens: real processes, real kernel objects, and numbers
    measured just now on this machine. Run it again and the numbers will move a little.`);

  for (const chapter of selected) {
    heading(`Chapter ${chapters.indexOf(chapter) + 1}: ${chapter.title}`, '=');
    await require(chapter.file).run();
  }
  console.log('End of the tour.');
}

module.exports = { chapterNames: chapters.map((c) => c.name), run };

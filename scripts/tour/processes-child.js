'use strict';
// The tour's simplest child process (started with child_process.fork): it
// says who it is, then echoes every message back until the parent hangs up.
// When the parent disconnects, nothing keeps it alive and it exits; should
// the parent die instead, runChild ends it quietly.

const { runChild } = require('./util');

function main() {
  if (typeof process.send !== 'function') {
    console.error('This is a child of the tour; run `posix-ipc tour` instead.');
    process.exitCode = 2;
    return;
  }
  process.send({ pid: process.pid, ppid: process.ppid });
  process.on('message', (message) => process.send(message));
}

runChild(module, main);

'use strict';
// Chapter 2's child process, and the layout of the bytes it shares with the
// parent. The parent starts it in one of three roles:
//
//   named <name>   opens the named object, writes a greeting into it, exits
//   fd             maps the anonymous memory it inherited as descriptor 3,
//                  writes a greeting into it, exits
//   ping-pong      maps descriptor 3 and answers every ping until told to stop

const { SharedMemory } = require('../../dist');
const { runChild } = require('./util');

// A greeting: three Int32 (pid, ppid, text length in bytes), then UTF-8 text.
const GREETING_TEXT = 16;

// Ping-pong: one Int32 word that both sides spin on. The parent stores an odd
// number (ping), the child answers with the next even number (pong). The
// child stores its pid in READY once it listens.
const TURN = 0;
const READY = 1;
const STOP = -1;

function writeGreeting(buffer) {
  const text = `hello from pid ${process.pid}`;
  const { written } = new TextEncoder().encodeInto(text, new Uint8Array(buffer, GREETING_TEXT));
  const header = new Int32Array(buffer, 0, 3);
  header[0] = process.pid;
  header[1] = process.ppid;
  header[2] = written;
}

/** Reads a greeting. Another process wrote it, so its length is checked before use. */
function readGreeting(buffer) {
  const [pid, ppid, length] = new Int32Array(buffer, 0, 3);
  if (length <= 0 || length > buffer.byteLength - GREETING_TEXT) {
    throw new Error(`no greeting in shared memory (length ${length})`);
  }
  return { pid, ppid, text: new TextDecoder().decode(new Uint8Array(buffer, GREETING_TEXT, length)) };
}

/**
 * Answers pings until the parent stores STOP. It spins: Atomics.wait cannot
 * sleep on this memory (see the chapter). Should the parent die without
 * saying STOP, the child notices that its ppid changed and leaves.
 */
function answerPings(word) {
  const parent = process.ppid;
  Atomics.store(word, READY, process.pid);
  let expected = 1;
  let idle = 0;
  for (;;) {
    const turn = Atomics.load(word, TURN);
    if (turn === expected) {
      Atomics.store(word, TURN, turn + 1);
      expected += 2;
      idle = 0;
    } else if (turn === STOP) {
      return;
    } else if (++idle === 1 << 22) {
      idle = 0;
      if (process.ppid !== parent) return;
    }
  }
}

function main(role, name) {
  if (!['named', 'fd', 'ping-pong'].includes(role)) {
    console.error('This is a child of the tour; run `posix-ipc tour` instead.');
    process.exitCode = 2;
    return;
  }
  const shm = role === 'named' ? SharedMemory.open(name) : SharedMemory.fromFd(3);
  try {
    if (role === 'ping-pong') answerPings(new Int32Array(shm.buffer));
    else writeGreeting(shm.buffer);
  } finally {
    shm.close();
  }
}

runChild(module, main);

module.exports = { TURN, READY, STOP, readGreeting };

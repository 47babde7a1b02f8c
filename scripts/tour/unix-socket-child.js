'use strict';
// Chapter 5's other processes. The parent starts this script in one of two
// roles:
//
//   visitor <path>   started through `setsid --fork`, so it is no child of the
//                    parent's and inherits nothing from it (stdin, stdout and
//                    stderr are /dev/null): it knows only the socket path. It
//                    connects, says who it is, asks the kernel who listens,
//                    maps the memory whose descriptor it is sent, writes a
//                    greeting into it, and leaves when the parent hangs up.
//                    Errors go over the socket once connected, and before that
//                    into visitor-error.log next to the socket.
//   echo             a child with a datagram socket as its descriptor 3
//                    (socketPair, placed with spawn's fds): says hello, then
//                    sends every message back until an empty one comes

const fs = require('node:fs');
const path = require('node:path');
const { SharedMemory, UnixSocket } = require('../../dist');
const { runChild } = require('./util');

// Neither role ever outlives the tour by much: each gives up after this long.
const LIFETIME_MS = 10000;

// The greeting in shared memory: its length in bytes (an Int32), then UTF-8 text.
const GREETING_TEXT = 4;

function writeGreeting(buffer, text) {
  const { written } = new TextEncoder().encodeInto(text, new Uint8Array(buffer, GREETING_TEXT));
  new Int32Array(buffer, 0, 1)[0] = written;
}

/** Reads the greeting. Another process wrote it, so its length is checked before use. */
function readGreeting(buffer) {
  const length = new Int32Array(buffer, 0, 1)[0];
  if (length <= 0 || length > buffer.byteLength - GREETING_TEXT) return null;
  return new TextDecoder().decode(new Uint8Array(buffer, GREETING_TEXT, length));
}

/** What descriptor `fd` of this process is: `/dev/null`, `/memfd:posix-ipc (deleted)`, ... */
function target(fd) {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** This process's session id (field 6 of /proc/self/stat). */
function sessionId() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

async function visitor(socketPath) {
  setTimeout(() => process.exit(3), LIFETIME_MS).unref();
  let sock;
  try {
    sock = await UnixSocket.connect({ path: socketPath, type: 'seqpacket', timeoutMs: LIFETIME_MS });
  } catch (err) {
    fs.appendFileSync(path.join(path.dirname(socketPath), 'visitor-error.log'), `${err.stack || err}\n`);
    process.exitCode = 1;
    return;
  }
  try {
    const stdio = [0, 1, 2].map(target);
    const server = sock.peerCredentials;
    await sock.send(JSON.stringify({
      pid: process.pid, ppid: process.ppid, sid: sessionId(), uid: process.getuid(), stdio, server,
    }));

    const offer = await sock.receive({ timeoutMs: LIFETIME_MS });
    if (offer === null || offer.fds.length !== 1) throw new Error('expected one message with one descriptor');
    const [fd] = offer.fds;
    const link = target(fd);
    const shm = SharedMemory.fromFd(fd);
    try {
      const text = `hello from pid ${process.pid}, through my fd ${fd}`;
      writeGreeting(shm.buffer, text);
      await sock.send(JSON.stringify({ fd, link, size: shm.size, said: offer.data.toString(), wrote: text }));
      // Keep the mapping, and so the descriptor, until the parent has looked
      // at /proc/<pid>/fd and hangs up (end of stream).
      while ((await sock.receive({ timeoutMs: LIFETIME_MS })) !== null);
    } finally {
      shm.close();
    }
  } catch (err) {
    process.exitCode = 1;
    await sock.send(JSON.stringify({ error: String(err.stack || err) })).catch(() => {});
  } finally {
    sock.close();
  }
}

async function echo() {
  setTimeout(() => process.exit(3), LIFETIME_MS).unref();
  const sock = UnixSocket.fromFd(3);
  try {
    await sock.send(JSON.stringify({ pid: process.pid, ppid: process.ppid }));
    for (;;) {
      const { data } = await sock.receive();
      if (data.length === 0) return;
      await sock.send(data);
    }
  } finally {
    sock.close();
  }
}

function main(role, ...args) {
  if (role === 'visitor' && args.length === 1) return visitor(args[0]);
  if (role === 'echo' && args.length === 0) return echo();
  console.error('This is a process of the tour; run `posix-ipc tour` instead.');
  process.exitCode = 2;
  return undefined;
}

runChild(module, main);

module.exports = { readGreeting };

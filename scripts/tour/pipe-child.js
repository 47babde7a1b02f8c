'use strict';
// Chapter 4's child process. The parent starts it in one of three roles:
//
//   hello            writes a few lines into the write end it inherited as
//                    descriptor 3 (the parent starts it through /bin/sh, which
//                    lists the descriptors first, then execs Node.js)
//   flood <ms> <n>   writes chunks of n bytes into descriptor 3 for ms
//                    milliseconds with blocking writes, then prints what it
//                    wrote (JSON) on stdout and exits
//   send <ms> <n>    (forked, with an IPC channel) sends strings of n
//                    characters with process.send for ms milliseconds, then
//                    what it sent (an object), and disconnects

const fs = require('node:fs');
const { inherited } = require('../../dist');
const { runChild } = require('./util');

/** What a descriptor of this process is: `pipe:[1234]`, `anon_inode:[eventfd]`, a path. */
function target(fd) {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null; // closed meanwhile: the one readdirSync used to list the others
  }
}

/** Whether descriptor `fd` is close-on-exec (the O_CLOEXEC bit of its flags in /proc/self/fdinfo). */
function closeOnExec(fd) {
  const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1];
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}

/**
 * This process's descriptors from 4 up, which Node.js opened itself: how
 * many, how many of them are close-on-exec, and their kinds (`5 pipe, 3 eventpoll`).
 */
function ownDescriptors() {
  const kinds = new Map();
  let n = 0;
  let cloexec = 0;
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    const link = fd > 3 ? target(fd) : null;
    if (link === null) continue;
    const kind = /^anon_inode:\[?([^\]]+)\]?$/.exec(link)?.[1] ?? (link.startsWith('pipe:') ? 'pipe' : link.startsWith('socket:') ? 'socket' : 'file');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    n++;
    if (closeOnExec(fd)) cloexec++;
  }
  return { n, cloexec, kinds: [...kinds].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${c} ${k}`).join(', ') };
}

function hello() {
  const end = inherited(3);
  const link = target(3);
  const own = ownDescriptors();
  const out = end.stream();
  out.write(`hello from pid ${process.pid} (ppid ${process.ppid}), through my fd 3: ${link}, a ${end.direction} end\n`);
  const cloexec = own.cloexec === own.n ? 'all' : `${own.cloexec} of them`;
  out.write(`Node.js opened ${own.n} more at startup: ${own.kinds}; ${cloexec} close-on-exec\n`);
  out.end('the last line; my write end closes when I exit\n');
}

/** Writes all of `buf` to the blocking descriptor `fd` (a write may be cut short by a signal). */
function writeAll(fd, buf) {
  for (let done = 0; done < buf.length;) done += fs.writeSync(fd, buf, done);
}

function flood(ms, size) {
  const end = inherited(3);
  const chunk = Buffer.alloc(size, 'x');
  const stop = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let bytes = 0;
  try {
    while (process.hrtime.bigint() < stop) {
      writeAll(end.fd, chunk);
      bytes += size;
    }
  } finally {
    end.close();
  }
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ppid: process.ppid, bytes })}\n`);
}

/** Keeps a few messages in flight (each callback sends the next) until the time is up. */
function send(ms, size) {
  const chunk = 'x'.repeat(size);
  const stop = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let inFlight = 0;
  let bytes = 0;
  const pump = () => {
    while (inFlight < 4 && process.hrtime.bigint() < stop) {
      inFlight++;
      bytes += size;
      process.send(chunk, (err) => {
        inFlight--;
        // The channel closed: the parent has gone (interrupted), and nobody is left to tell.
        if (err) process.exit(1);
        if (process.hrtime.bigint() < stop) pump();
        else if (inFlight === 0) {
          process.send({ pid: process.pid, ppid: process.ppid, bytes }, () => process.disconnect());
        }
      });
    }
  };
  pump();
}

function main(role, ...args) {
  const [ms, size] = args.map(Number);
  if (role === 'hello' && args.length === 0) return hello();
  if (role === 'flood' && ms > 0 && size > 0) return flood(ms, size);
  if (role === 'send' && ms > 0 && size > 0 && typeof process.send === 'function') return send(ms, size);
  console.error('This is a child of the tour; run `posix-ipc tour` instead.');
  process.exitCode = 2;
}

runChild(module, main);

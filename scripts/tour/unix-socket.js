'use strict';
// Chapter 5: Unix sockets. A process that is no child of the parent's finds
// it by a socket path alone; the kernel says who it is (peerCredentials); the
// parent hands it anonymous shared memory as a descriptor (SCM_RIGHTS), which
// arrives under another number in the other process's table; datagrams keep
// their boundaries where a stream does not; and a datagram round trip between
// parent and child, compared with process.send.

const { spawn: nodeSpawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { SharedMemory, UnixSocket, socketPair, spawn } = require('../../dist');
const { readGreeting } = require('./unix-socket-child');
const { sendPingPong, report } = require('./process-send');
const { explain, fact, heading, now, since, duration, exited, withCleanup, watchTheMachine, compare } = require('./util');

const CHILD = path.join(__dirname, 'unix-socket-child.js');

const SIZE = 4096;
// The three messages of the boundaries demo.
const WORDS = ['one', 'two', 'three'];
// Round trips: a warm-up, then the measured ones, cut short after a time
// budget so that the chapter stays quick on a busy machine.
const DGRAM_WARM_UP = 300;
const DGRAM_ROUNDS = 5000;
const WARM_UP_BUDGET_NS = 0.15e9;
const BUDGET_NS = 0.4e9;
// How long the parent waits for another process before it calls the tour failed.
const STALL_MS = 10000;
// How long the visitor may take to exit once the parent hangs up.
const EXIT_MS = 2000;

/** `promise`, or a rejection naming `what` after STALL_MS. */
function within(promise, what) {
  let timer;
  const stall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the tour waited ${STALL_MS / 1000} s for ${what}`)), STALL_MS);
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
}

/** `srw------- (0600)`: the type and permission bits of a file, as ls shows them. */
function modeOf(file) {
  const { mode } = fs.statSync(file);
  const type = (mode & 0o170000) === 0o140000 ? 's' : (mode & 0o170000) === 0o040000 ? 'd' : '-';
  const bits = [...'rwxrwxrwx'].map((c, i) => (mode & (0o400 >> i) ? c : '-')).join('');
  return `${type}${bits} (${(mode & 0o777).toString(8).padStart(4, '0')})`;
}

/** A process's state letter from /proc/<pid>/stat (R, S, Z, ...), or null when it is gone. */
function processState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return null;
  }
}

/** Whether process `pid` is still this chapter's visitor (pids are reused). */
function isVisitor(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(CHILD);
  } catch {
    return false;
  }
}

/** Waits until process `pid` has exited (gone, or a zombie its new parent has yet to reap); false on timeout. */
async function gone(pid, ms) {
  const stop = Date.now() + ms;
  for (;;) {
    const state = processState(pid);
    if (state === null || state === 'Z') return true;
    if (Date.now() > stop) return false;
    await sleep(2);
  }
}

/** The next message on `sock` as JSON; a visitor's error report is thrown. */
async function nextReport(sock, who) {
  const message = await within(sock.receive(), who);
  if (message === null) throw new Error(`${who} hung up`);
  const report = JSON.parse(message.data.toString());
  if (report.error) throw new Error(`${who} failed: ${report.error}`);
  return report;
}

/** `/dev/null` for three of the same, else each. */
function listStdio(stdio) {
  return stdio.every((t) => t === stdio[0]) ? `all ${stdio[0]}` : stdio.join(', ');
}

/**
 * Listens on a seqpacket socket in a private directory, starts a process that
 * only knows its path, and runs `body` with the connection; then hangs up,
 * waits for the process to leave, and removes everything, whatever happens
 * (also on Ctrl-C).
 */
async function withVisitor(body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `posix-ipc-tour-${process.pid}-`));
  const socketPath = path.join(dir, 'tour.sock');
  let server = null;
  let conn = null;
  let visitor = null;
  await withCleanup(async () => {
    server = UnixSocket.listen({ path: socketPath, type: 'seqpacket' });
    fact(`parent pid ${process.pid} listens on ${socketPath} (seqpacket)`);
    const uid = process.getuid();
    fact(`  the socket file is ${modeOf(socketPath)}, its directory ${modeOf(dir)}: ${uid === 0 ? 'only root' : `only uid ${uid} (and root)`} may connect`);

    // No descriptor of the parent's goes along: /dev/null on 0, 1 and 2, and the path as an argument.
    const launcher = nodeSpawn('setsid', ['--fork', process.execPath, CHILD, 'visitor', socketPath], { stdio: 'ignore' });
    await within(exited(launcher), `setsid pid ${launcher.pid}`);
    fact(`parent ran: setsid --fork node ${path.basename(CHILD)} visitor .../${path.basename(socketPath)}`);
    fact(`  setsid (pid ${launcher.pid}) started the process in a new session and exited at once`);

    try {
      conn = await server.accept({ timeoutMs: STALL_MS });
    } catch (err) {
      let log = '';
      try {
        log = fs.readFileSync(path.join(dir, 'visitor-error.log'), 'utf8').trim();
      } catch {
        // It wrote nothing.
      }
      throw new Error(`no process connected to ${socketPath}: ${err.message}${log ? `\nthe visitor logged:\n${log}` : ''}`);
    }
    visitor = conn.peerCredentials.pid;
    await body(conn);

    conn.close();
    const start = now();
    const left = await gone(visitor, EXIT_MS);
    fact(`parent hung up: process pid ${visitor} ${left ? `saw the end of the stream and exited ${duration(since(start))} later` : `was still there after ${EXIT_MS} ms`}`);
    server.close();
    fact(`server.close() removed the socket file (${socketPath} exists: ${fs.existsSync(socketPath) ? 'yes' : 'no'})`);
  }, () => {
    conn?.close();
    server?.close();
    if (visitor !== null && processState(visitor) !== null && processState(visitor) !== 'Z' && isVisitor(visitor)) process.kill(visitor, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  console.log();
}

/** The visitor introduces itself; the kernel's peerCredentials next to what it says. */
async function meet(conn) {
  const creds = conn.peerCredentials;
  const hello = await nextReport(conn, `process pid ${creds.pid}`);
  fact(`process pid ${hello.pid} (ppid ${hello.ppid}, session ${hello.sid}) connected; its stdin, stdout and stderr: ${listStdio(hello.stdio)}`);
  fact(`  its parent is ${hello.ppid === process.pid ? 'the tour itself (unexpected)' : `pid ${hello.ppid}, not the tour (pid ${process.pid})`}`);
  const kernel = 'the kernel says (peerCredentials):';
  fact(`${'it says:'.padEnd(kernel.length)} "I am pid ${hello.pid}, uid ${hello.uid}"`);
  const same = creds.pid === hello.pid && creds.uid === hello.uid;
  fact(`${kernel} pid ${creds.pid}, uid ${creds.uid}, gid ${creds.gid}: ${same ? 'it told the truth' : 'it LIED'}`);
  const server = hello.server;
  fact(`it asked the kernel in turn who listens: pid ${server.pid}, uid ${server.uid}, gid ${server.gid}` +
    `${server.pid === process.pid ? ': the parent' : ' (not the parent?)'}`);
  return hello;
}

/** The parent sends anonymous memory's descriptor; the visitor maps it and writes; both tables are shown. */
async function handOver(conn, pid) {
  const shm = SharedMemory.anonymous(SIZE);
  try {
    const mine = fs.readlinkSync(`/proc/self/fd/${shm.fd}`);
    const { dev, ino } = fs.fstatSync(shm.fd);
    fact(`parent pid ${process.pid} made ${shm.size} bytes of anonymous memory, as its fd ${shm.fd}`);
    fact(`  its fd ${shm.fd} -> ${mine}, inode ${ino}`);
    fact(`  (no name: nothing in /dev/shm, no path anywhere)`);
    const offer = 'write your greeting here';
    await conn.send(offer, { fds: [shm.fd] });
    fact(`parent sent "${offer}" with fds: [${shm.fd}]`);

    const got = await nextReport(conn, `process pid ${pid}`);
    fact(`process pid ${pid} got "${got.said}" and, with it, the descriptor as its fd ${got.fd}`);
    fact(`  its fd ${got.fd} -> ${got.link}`);
    fact(`  it ran SharedMemory.fromFd(${got.fd}), ${got.size} bytes, and wrote "${got.wrote}"`);
    const greeting = readGreeting(shm.buffer);
    fact(`parent pid ${process.pid} reads its own mapping: "${greeting ?? '(nothing)'}"`);

    const theirs = `/proc/${pid}/fd/${got.fd}`;
    let link;
    let stat;
    try {
      link = fs.readlinkSync(theirs);
      stat = fs.statSync(theirs);
    } catch (err) {
      // A hardened kernel (Yama ptrace_scope, /proc mounted with hidepid) may not let us look.
      fact(`${theirs}: the parent may not look (${err.code}), so the two tables cannot be compared here`);
      return;
    }
    const same = stat.dev === dev && stat.ino === ino;
    const ours = `/proc/${process.pid}/fd/${shm.fd}`;
    const width = Math.max(theirs.length, ours.length);
    fact(`${theirs.padEnd(width)} -> ${link}, inode ${stat.ino}`);
    fact(`${ours.padEnd(width)} -> ${mine}, inode ${ino} (the parent's)`);
    fact(`${same ? 'one memfd' : 'NOT the same memfd'}: descriptor ${shm.fd} in one table, descriptor ${got.fd} in the other` +
      `${shm.fd === got.fd ? ' (the same number by chance)' : ''}`);
  } finally {
    shm.close();
  }
}

/** Three sends on a datagram socketPair and on a stream one, and what the receiver gets. */
async function boundaries() {
  const quote = (list) => list.map((w) => `"${w}"`).join(' ');
  for (const type of ['dgram', 'stream']) {
    const [a, b] = socketPair({ type });
    try {
      for (const word of WORDS) await a.send(word);
      const got = [];
      for (let m = b.tryReceive(); m !== null; m = b.tryReceive()) got.push(m.data.toString());
      fact(`${`${type} socketPair:`.padEnd(18)} ${WORDS.length} sends ${quote(WORDS)}, ${got.length} receive${got.length === 1 ? '' : 's'}: ${quote(got)}`);
    } finally {
      a.close();
      b.close();
    }
  }
  console.log();
}

/** Timed round trips: send a 4-byte datagram, await the echo. Stops early after `budgetNs`. */
async function datagramRoundTrips(sock, rounds, budgetNs) {
  const samples = [];
  const ping = Buffer.alloc(4);
  const stop = now() + BigInt(budgetNs);
  for (let i = 0; i < rounds; i++) {
    ping.writeUInt32LE(i);
    const start = now();
    await sock.send(ping);
    const { data } = await sock.receive();
    const end = now();
    if (data.length !== 4 || data.readUInt32LE(0) !== i) throw new Error(`echo ${i} came back as ${data.toString('hex')}`);
    samples.push(Number(end - start));
    if (end > stop) break;
  }
  return samples;
}

/**
 * A warmed-up datagram ping-pong with an echoing child; the round-trip times
 * in ns. The child is stopped and the sockets closed whatever happens (also
 * on Ctrl-C: a datagram socket gives the child no notice that the parent has
 * gone).
 */
async function datagramPingPong() {
  const [mine, theirs] = socketPair({ type: 'dgram' });
  let child;
  return withCleanup(async () => {
    child = spawn(process.execPath, [CHILD, 'echo'], { stdio: 'inherit', fds: { 3: theirs } });
    theirs.close(); // The child has its own copy now.
    const exit = exited(child);
    // Should the child die, closing ours ends the wait (it rejects with ERR_IPC_CLOSED).
    child.once('exit', () => mine.close());
    try {
      const hello = await nextReport(mine, `child pid ${child.pid}`);
      fact(`ping-pong over a datagram socketPair: parent pid ${process.pid} <-> child pid ${hello.pid} (ppid ${hello.ppid})`);
      await within(datagramRoundTrips(mine, DGRAM_WARM_UP, WARM_UP_BUDGET_NS), `child pid ${child.pid}`);
      const samples = await within(datagramRoundTrips(mine, DGRAM_ROUNDS, BUDGET_NS), `child pid ${child.pid}`);
      await mine.send(Buffer.alloc(0)); // An empty datagram: stop.
      await within(exit, `child pid ${child.pid}`);
      return samples;
    } catch (err) {
      if (err.code === 'ERR_IPC_CLOSED') throw new Error(`child pid ${child.pid} exited during the ping-pong`);
      throw err;
    }
  }, () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill();
    mine.close();
    theirs.close();
  });
}

async function run() {
  explain(`A Unix socket is a channel between processes on one machine, made with the same
    calls as a network socket. A listening socket has an address, here a path in the file
    system, so any process that knows the path, and may write to the socket file, can
    connect to it: related or not, started before or after. Unlike a pipe it goes both
    ways, it can keep message boundaries (the datagram and seqpacket types), the kernel can
    tell each side who is at the other end, and it can carry descriptors.`);

  heading('A process that knows only a path', '-');
  explain(`The parent listens on a seqpacket socket (connections, like a stream, but every
    send is one message) in a directory that only its owner can enter, with the socket
    file's mode 0600. Then it starts a process that owes it nothing: setsid --fork runs it
    in a new session, and setsid itself exits at once, so the process is an orphan that
    pid 1 (or the nearest subreaper) adopts. Its stdin, stdout and stderr are /dev/null, it
    gets no descriptor of the parent's, and it is told just the path.`);
  await withVisitor(async (conn) => {
    const hello = await meet(conn);
    console.log();
    explain(`What a process writes about itself is just bytes: anyone could claim any pid. The
      credentials are the kernel's word: it noted the pid, uid and gid of each side when the
      connection was made (SO_PEERCRED), and neither side can change them. A server can
      decide by uid whom to serve. They are as of connect(): a pid may be reused once its
      process has exited.`);

    heading('Handing over a descriptor', '-');
    explain(`A descriptor is a small number that indexes one process's table of open files; the
      number means nothing in another process. Sent with a message (SCM_RIGHTS, the fds
      option of send), it is not the number that travels: the kernel takes the open file the
      number stands for and installs a reference to it in the receiver's table, at the
      lowest number free there. A descriptor is a capability: whoever holds one can use the
      object, as far as it was opened (read, write), whatever its name or permissions. The parent shows it with anonymous shared
      memory (memfd_create), which has no name at all: a process can only get it as a
      descriptor, from a parent at start or over a socket.`);
    await handOver(conn, hello.pid);
    console.log();
    explain(`/proc/<pid>/fd lists a process's table, each entry a link to what it refers to:
      both point at the same memfd (same inode) under different numbers. The links are also
      a door: a process allowed to inspect the holder (the same user, or root: the rules of
      ptrace) can open /proc/<pid>/fd/<n> and get a descriptor of its own for the memory
      (pidfd_getfd(2) is the other such door). Any other process can do nothing with it.`);
  });

  heading('Messages keep their boundaries', '-');
  explain(`A datagram socket (and a seqpacket one) delivers each send as one message, whole:
    three sends are three receives, however long the receiver waits. A stream socket, like
    a pipe, carries bytes only, and the receiver gets whatever has arrived: here all three
    words at once. (Both ends are in the parent; between processes it is the same.)`);
  await boundaries();

  heading('How fast is a round trip?', '-');
  explain(`The parent creates a pair of connected datagram sockets (socketPair) and gives one
    to a child as its descriptor 3; the child echoes every 4-byte message back. Both sides
    await send() and receive(), so the event loop goes on between messages. For comparison,
    the same ping-pong over process.send.`);
  const machine = watchTheMachine();
  const dgram = await datagramPingPong();
  const send = await sendPingPong(WARM_UP_BUDGET_NS, BUDGET_NS);
  const load = machine.stop();
  console.log();
  report('datagram socket, async', dgram);
  report('process.send, IPC channel', send);
  compare(load, dgram, send, {
    faster: (r) => `a datagram round trip was ${r} faster than process.send`,
    slower: (r) => `here process.send was ${r} faster than a datagram round trip`,
  });
  console.log();

  explain(`process.send runs over a Unix socket too (a stream socketpair made at fork). It
    turns each message into JSON text, and the receiver scans the text for line ends and
    parses it. A datagram is handed over as it is: a sendmsg on one side, a recvmsg on the
    other (the library peeks at its length first), with no framing and no parsing. Both wait the same way, in the event loop (epoll), so both pay
    for waking it up: a few µs when the two processes share a CPU, tens of µs when the
    other process sleeps on another virtual CPU.`);
}

module.exports = { run };

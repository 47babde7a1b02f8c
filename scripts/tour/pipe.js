'use strict';
// Chapter 4: pipes. A pipe's write end handed to a child as its descriptor 3,
// and nothing else of the parent; lines read to EOF, and why EOF waits for
// every write end; backpressure; the throughput from child to parent,
// compared with process.send.

const { fork } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { pipe, spawn, SharedMemory } = require('../../dist');
const { explain, fact, heading, now, since, duration, ratio, count, exited } = require('./util');

const CHILD = path.join(__dirname, 'pipe-child.js');

// The first child starts as a shell that lists the descriptors of its own
// process, then replaces itself with Node.js (exec: same process, same pid,
// same descriptors). ls runs in a process of its own and reads the shell's
// /proc/<pid>/fd, so the directory it opens to do so is not in the list.
// Node.js could not list them itself: it opens a dozen of its own at startup.
const SHELL = '/bin/sh';
const LIST_THEN_EXEC = 'ls /proc/$$/fd && exec "$@"';

// How long the parent watches for an EOF that must not come yet.
const NO_EOF_MS = 100;
// Backpressure: writes of one page, so each goes into the pipe whole or not at all.
const PAGE = 4096;
// Throughput: chunks of 64 KiB for half a second, through a pipe and through process.send.
const CHUNK = 64 * 1024;
const FLOOD_MS = 500;
// How long the parent waits for a child before it calls the tour failed.
const STALL_MS = 10000;

/** What descriptor `fd` of this process is: `pipe:[1234]`, `/memfd:posix-ipc (deleted)`, ... */
function target(fd) {
  return fs.readlinkSync(`/proc/self/fd/${fd}`);
}

/** This process's descriptors, in order, without the one used to list them. */
function openDescriptors() {
  const fds = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      target(name);
      fds.push(Number(name));
    } catch {
      // The directory readdirSync had open, closed by now.
    }
  }
  return fds.sort((a, b) => a - b);
}

/** Whether descriptor `fd` of this process is close-on-exec (O_CLOEXEC in /proc/self/fdinfo). */
function closeOnExec(fd) {
  const flags = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1];
  return (parseInt(flags, 8) & 0o2000000) !== 0;
}

/** `promise`, or a rejection naming `what` after STALL_MS. */
function within(promise, what) {
  let timer;
  const stall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the tour waited ${STALL_MS / 1000} s for ${what}`)), STALL_MS);
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
}

/** A rate in bytes per second: `850 MB/s`, `2.31 GB/s` (1 MB = 10^6 bytes). */
function rate(bytes, ns) {
  const perSecond = (bytes / ns) * 1e9;
  const [value, unit] = perSecond >= 1e9 ? [perSecond / 1e9, 'GB/s'] : [perSecond / 1e6, 'MB/s'];
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${unit}`;
}

/** Kills `child` if it is still running (the chapter failed half-way). */
function stop(child) {
  if (child && child.exitCode === null && child.signalCode === null) child.kill();
}

async function whoGetsWhat() {
  const shm = SharedMemory.anonymous(PAGE);
  const { readEnd, writeEnd } = pipe();
  const [r, w] = [readEnd.fd, writeEnd.fd];
  let child;
  let reader;
  try {
    const pipeId = target(r);
    fact(`parent pid ${process.pid} created a pipe, ${pipeId}: read end fd ${r}, write end fd ${w}`);
    fact(`parent pid ${process.pid} also holds anonymous shared memory: fd ${shm.fd} (${target(shm.fd)})`);
    const mine = openDescriptors();
    const unmarked = mine.filter((fd) => !closeOnExec(fd));
    fact(`the parent has ${mine.length} descriptors open, ${unmarked.length === 0 ? 'every one' : `all but ${unmarked.join(' ')}`} close-on-exec`);

    child = spawn(SHELL, ['-c', LIST_THEN_EXEC, 'sh', process.execPath, CHILD, 'hello'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      fds: { 3: writeEnd },
    });
    const exit = exited(child);
    const closed = once(child, 'close');
    closed.catch(() => {});
    fact(`parent called spawn('${SHELL}', [...], { fds: { 3: writeEnd } }):`);
    fact(`  the child's descriptor 3 is the parent's fd ${w}`);
    if (unmarked.length > 0) {
      // Descriptors this process itself inherited without the mark (from whoever started the tour).
      const still = unmarked.filter((fd) => !closeOnExec(fd));
      fact(`  (fd ${unmarked.join(' ')}: inherited by the parent without the mark; spawn marked ${unmarked.length === 1 ? 'it' : 'them'}` +
        ` close-on-exec first: ${still.length === 0 ? 'done' : `NOT done for ${still.join(' ')}`})`);
    }
    let listing = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (listing += d));

    reader = readEnd.stream().setEncoding('utf8');
    let text = '';
    let eof = false;
    reader.on('data', (d) => (text += d));
    const end = once(reader, 'end').then(() => (eof = true));
    end.catch(() => {});

    await within(Promise.all([exit, closed]), `child pid ${child.pid}`);
    const lines = text.split('\n').filter(Boolean);
    const hello = /^hello from pid (\d+) \(ppid (\d+)\), through my fd 3: (pipe:\[\d+\])/.exec(lines[0] ?? '');
    if (!hello || Number(hello[1]) !== child.pid) throw new Error(`child pid ${child.pid} did not say hello: ${JSON.stringify(text)}`);
    const listed = listing.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
    fact(`child pid ${hello[1]} (ppid ${hello[2]}) started with descriptors ${listed.join(' ')} (listed by its shell,`);
    fact(`  which then exec'd Node.js in the same process)`);
    const extra = listed.filter((fd) => fd > 3);
    if (extra.length === 0) {
      fact(`nothing else of the parent reached the child: not its memfd (fd ${shm.fd}), not the read end (fd ${r}),`);
      fact(`  none of its ${mine.length} descriptors but the one placed at 3`);
    } else {
      fact(`the child got MORE than stdio and descriptor 3: ${extra.join(' ')} leaked from the parent`);
    }
    for (const line of lines) fact(`parent read: "${line}"`);
    fact(`the child's fd 3 is ${hello[3]}, the parent's read end ${pipeId}: ${hello[3] === pipeId ? 'the same pipe' : 'NOT the same pipe'}`);
    console.log();

    await sleep(NO_EOF_MS);
    fact(`child pid ${child.pid} exited; ${NO_EOF_MS} ms later, ` +
      (eof ? `EOF already, though the parent's write end, fd ${w}, is open (unexpected)` : `no EOF yet: the parent's write end, fd ${w}, is still open`));
    const start = now();
    writeEnd.close();
    await within(end, 'EOF');
    fact(`parent closed fd ${w}: EOF ${duration(since(start))} later (read() returns 0 bytes: no write end is left)`);
  } finally {
    stop(child);
    reader?.destroy();
    readEnd.close();
    writeEnd.close();
    shm.close();
  }
  console.log();
}

async function backpressure() {
  const { readEnd, writeEnd } = pipe();
  const writer = writeEnd.stream();
  let reader;
  try {
    const page = Buffer.alloc(PAGE, 'x');
    let writes = 0;
    let more = true;
    while (more && writes < 1024) {
      more = writer.write(page);
      writes++;
    }
    const written = writes * PAGE;
    const inPipe = written - writer.writableLength;
    fact(`nobody reads yet: write() returned false after ${writes} writes of ${count(PAGE)} bytes (${count(written)} bytes)`);
    fact(`the pipe took ${count(inPipe)} bytes (${inPipe / 1024} KiB); the other ${count(writer.writableLength)} wait in Node.js's own buffer`);
    fact(`  (writableHighWaterMark ${count(writer.writableHighWaterMark)})`);

    reader = readEnd.stream();
    let received = 0;
    reader.on('data', (d) => (received += d.length));
    const start = now();
    await within(once(writer, 'drain'), "'drain'");
    fact(`the reader starts: 'drain' ${duration(since(start))} later, the writer may go on`);
    const end = once(reader, 'end');
    writer.end();
    await within(end, 'EOF');
    fact(`the writer ends its stream: the reader got all ${count(received)} bytes, then EOF`);
  } finally {
    writer.destroy();
    reader?.destroy();
    readEnd.close();
  }
  console.log();
}

/** The child's JSON report on its stdout. */
async function report(child) {
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  await once(child.stdout, 'end');
  return JSON.parse(out);
}

/** Bytes of CHUNK through a pipe, child -> parent, for FLOOD_MS: { pid, ppid, bytes, ns }. */
async function pipeFlood() {
  const { readEnd, writeEnd } = pipe();
  let child;
  let reader;
  try {
    child = spawn(process.execPath, [CHILD, 'flood', String(FLOOD_MS), String(CHUNK)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      fds: { 3: writeEnd },
    });
    const exit = exited(child);
    writeEnd.close(); // The child has its own copy now; were this one open, no EOF would ever come.
    reader = readEnd.stream();
    let bytes = 0;
    let first;
    let last;
    reader.on('data', (d) => {
      last = now();
      first ??= last;
      bytes += d.length;
    });
    const [said] = await within(Promise.all([report(child), once(reader, 'end'), exit]), `child pid ${child.pid}`);
    if (said.bytes !== bytes) throw new Error(`child pid ${child.pid} wrote ${said.bytes} bytes, the parent read ${bytes}`);
    return { ...said, bytes, ns: Number(last - first) };
  } finally {
    stop(child);
    reader?.destroy();
    readEnd.close();
    writeEnd.close();
  }
}

/** Strings of CHUNK characters over process.send, child -> parent, for FLOOD_MS: { pid, ppid, bytes, ns }. */
async function sendFlood() {
  const child = fork(CHILD, ['send', String(FLOOD_MS), String(CHUNK)]);
  try {
    const exit = exited(child);
    let bytes = 0;
    let first;
    let last;
    let said;
    child.on('message', (m) => {
      if (typeof m !== 'string') {
        said = m;
        return;
      }
      last = now();
      first ??= last;
      bytes += m.length;
    });
    await within(Promise.all([once(child, 'disconnect'), exit]), `child pid ${child.pid}`);
    if (said?.bytes !== bytes) throw new Error(`child pid ${child.pid} sent ${said?.bytes} characters, the parent got ${bytes}`);
    return { ...said, bytes, ns: Number(last - first) };
  } finally {
    stop(child);
  }
}

async function run() {
  explain(`A pipe is the oldest channel of Unix, the | of the shell: a one-way stream of bytes
    kept by the kernel, with a write end and a read end, each a file descriptor. It has no
    name, so the only way in is a descriptor: a pipe connects a process with the children it
    hands an end to. Bytes come out in the order they went in, but with no boundaries: two
    writes may come out as one read, unlike the messages of the last chapter.`);

  heading('Who gets which descriptor', '-');
  explain(`A child starts with copies of its parent's descriptors, except those marked
    close-on-exec: exec closes them as it loads the new program. The library opens every
    descriptor close-on-exec (pipe2 with O_CLOEXEC), and so does Node.js; spawn's fds option
    then places the ones named, at the numbers named, and clears the mark on those copies
    only. The parent holds a pipe and some shared memory, and gives the child the write end
    as its descriptor 3, nothing more. Descriptor numbers belong to each process: the
    parent's write end has a number of its own, and the child's 3 means the same end.`);
  await whoGetsWhat();
  explain(`A reader sees EOF only when every write end of the pipe is closed, in every
    process: as long as one is open, somebody might still write. The child's copy closed
    when it exited; the parent's own copy, left open above on purpose, held EOF back. So a
    parent closes its copy of an end right after handing it to a child (the next sections
    do), or waits forever.`);

  heading('Backpressure', '-');
  explain(`A pipe holds a limited number of bytes (64 KiB unless changed with F_SETPIPE_SZ).
    When it is full, a blocking write() waits for the reader; a stream's write() keeps the
    bytes in Node.js's buffer and returns false once that passes its high-water mark, the
    signal to wait for 'drain'. Both ends are in the parent here, so the numbers are easy to
    see; between two processes it is the same.`);
  await backpressure();

  heading('How fast?', '-');
  explain(`A child writes ${CHUNK / 1024} KiB chunks into the pipe for ${FLOOD_MS / 1000} s with blocking writes
    (fs.writeSync); the parent reads them as a stream and counts. For comparison, a forked
    child sends strings of ${count(CHUNK)} characters with process.send for as long.`);
  const viaPipe = await pipeFlood();
  const viaSend = await sendFlood();
  fact(`pipe: child pid ${viaPipe.pid} (ppid ${viaPipe.ppid}) wrote ${count(viaPipe.bytes / CHUNK)} chunks,` +
    ` ${count(viaPipe.bytes)} bytes: ${rate(viaPipe.bytes, viaPipe.ns)}`);
  fact(`process.send: child pid ${viaSend.pid} (ppid ${viaSend.ppid}) sent ${count(viaSend.bytes / CHUNK)} strings,` +
    ` ${count(viaSend.bytes)} characters: ${rate(viaSend.bytes, viaSend.ns)}`);
  const pipeRate = viaPipe.bytes / viaPipe.ns;
  const sendRate = viaSend.bytes / viaSend.ns;
  if (pipeRate > sendRate) fact(`the pipe carried ${ratio(pipeRate, sendRate)} as many bytes per second as process.send`);
  else fact(`here process.send carried ${ratio(sendRate, pipeRate)} as many bytes per second as the pipe`);
  console.log();

  explain(`Through a pipe every byte is copied twice, into the kernel's pipe buffer by write()
    and out of it by read(), ${CHUNK / 1024} KiB per system call, and nothing else happens to it. The
    pipe holds one chunk, so writer and reader mostly take turns, each waking the other.
    process.send turns each message into JSON text, writes it to a Unix socket, and the
    receiver scans the text for line ends and parses it back into a string. A pipe carries
    only bytes; what they mean, and where one message ends, is up to the two programs.`);
}

module.exports = { run };

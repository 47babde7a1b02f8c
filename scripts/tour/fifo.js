'use strict';
// Chapter 6: FIFOs. A named pipe made in a private directory (its type `p`
// and mode 0600, as ls shows them); a shell writes into it with a plain
// redirection and Node.js reads; then the classic server: one well-known
// request FIFO, three client processes each with a reply FIFO of its own,
// all their requests in flight at once; and a request/reply round trip,
// compared with process.send.

const { spawn: nodeSpawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Fifo, FifoClient, FifoServer, mkfifo } = require('../../dist');
const { sendPingPong, report } = require('./process-send');
const { explain, fact, heading, now, duration, exited, withCleanup, watchTheMachine, compare } = require('./util');

const CHILD = path.join(__dirname, 'fifo-child.js');

const CLIENTS = 3;
const REQUESTS = 3;
// Round trips: a warm-up, then the measured ones, cut short after a time
// budget so that the chapter stays quick on a busy machine.
const FIFO_WARM_UP = 50;
const FIFO_ROUNDS = 300;
const WARM_UP_BUDGET_NS = 0.1e9;
const BUDGET_NS = 0.25e9;
// How long the server holds the first requests back, waiting for all of them.
const GATHER_MS = 3000;
// How long the parent waits for a child before it calls the tour failed.
const STALL_MS = 10000;

/** `promise`, or a rejection naming `what` after STALL_MS. */
function within(promise, what) {
  let timer;
  const stall = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the tour waited ${STALL_MS / 1000} s for ${what}`)), STALL_MS);
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
}

/** A file's type letter and permission bits as ls shows them: `prw-------`. */
function modeString(mode) {
  const kind = mode & 0o170000;
  const type = kind === 0o010000 ? 'p' : kind === 0o040000 ? 'd' : kind === 0o140000 ? 's' : '-';
  return type + [...'rwxrwxrwx'].map((c, i) => (mode & (0o400 >> i) ? c : '-')).join('');
}

/** One line of `ls -ln` for `file`, and its mode in octal: `prw------- 1 1000 1000 0 jobs.fifo (0600)`. */
function lsLine(file) {
  const st = fs.lstatSync(file);
  return `${modeString(st.mode)} ${st.nlink} ${st.uid} ${st.gid} ${st.size} ${path.basename(file)} (${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
}

/** Kills `child` if it is still running (the chapter failed half-way). */
function stop(child) {
  if (child && child.exitCode === null && child.signalCode === null) child.kill();
}

/** A child's stdout, once it has ended, as JSON lines. */
async function jsonLines(child) {
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  await once(child.stdout, 'end');
  return out.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** The first line a child writes on stdout, as JSON. */
function firstLine(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      child.stdout.off('data', onData);
      resolve(JSON.parse(out.slice(0, newline)));
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stdout.once('end', () => reject(new Error(`child pid ${child.pid} said nothing`)));
  });
}

/** A shell writes two lines into the FIFO with `> path`; Node.js reads them to EOF. */
async function shellWriter(dir) {
  const file = path.join(dir, 'jobs.fifo');
  mkfifo(file);
  fact(`parent pid ${process.pid} called mkfifo('${file}')`);
  fact(`ls -ln ${dir}:`);
  fact(`  ${lsLine(file)}`);
  fact(`  ${lsLine(dir).replace(/ \S+ \((\d+)\)$/, ' . ($1)')}`);
  const reader = (await Fifo.openReader(file)).stream().setEncoding('utf8');
  let child;
  try {
    let text = '';
    reader.on('data', (d) => (text += d));
    const end = once(reader, 'end');
    end.catch(() => {});
    const script = '{ echo "hello from pid $$ (ppid $PPID)"; echo "two lines, one open"; } > "$1"';
    fact('parent opened it for reading (that does not wait for a writer), then ran:');
    fact(`  sh -c '${script}' sh ${path.basename(file)}`);
    child = nodeSpawn('/bin/sh', ['-c', script, 'sh', file], { stdio: 'inherit' });
    await within(Promise.all([exited(child), end]), `child pid ${child.pid}`);
    const lines = text.split('\n').filter(Boolean);
    const hello = /^hello from pid (\d+) \(ppid (\d+)\)$/.exec(lines[0] ?? '');
    if (!hello || Number(hello[1]) !== child.pid) throw new Error(`child pid ${child.pid} did not say hello: ${JSON.stringify(text)}`);
    fact(`child pid ${hello[1]} (ppid ${hello[2]}), the shell, opened the FIFO by its path and wrote with echo`);
    fact('  (a shell builtin: no program of ours)');
    for (const line of lines) fact(`parent read: "${line}"`);
    fact(`then EOF: the shell's redirection closed the only write end when its { ... } ended`);
  } finally {
    stop(child);
    reader.destroy();
    Fifo.unlink(file);
  }
  fact(`parent removed it with Fifo.unlink: ${path.basename(file)} exists: ${fs.existsSync(file) ? 'yes' : 'no'}`);
  console.log();
}

/**
 * A FifoServer in the parent and CLIENTS client processes, each sending
 * REQUESTS requests at once. The server holds the replies back until every
 * request has arrived (or GATHER_MS), so all are in flight together, and
 * lists the directory then: the request FIFO and one reply FIFO per client.
 */
async function serverAndClients(dir) {
  const requestPath = path.join(dir, 'calc.fifo');
  const total = CLIENTS * REQUESTS;
  const arrivals = [];
  let gathered;
  const all = new Promise((resolve) => (gathered = resolve));
  const gatherTimer = setTimeout(() => gathered(), GATHER_MS);
  const clientErrors = [];
  let listing = [];
  const server = FifoServer.listen(requestPath, async (data) => {
    arrivals.push(data);
    const served = arrivals.length;
    if (served === total) {
      listing = fs.readdirSync(dir).sort().map((name) => lsLine(path.join(dir, name)));
      gathered();
    }
    await all;
    return { pid: data.pid, seq: data.seq, served, by: process.pid };
  });
  server.on('clientError', (err) => clientErrors.push(err));
  const children = [];
  try {
    fact(`parent pid ${process.pid} listens: FifoServer.listen('${requestPath}')`);
    fact(`  ${lsLine(requestPath)}`);
    for (let i = 0; i < CLIENTS; i++) {
      children.push(nodeSpawn(process.execPath, [CHILD, 'client', requestPath, dir, String(REQUESTS)], { stdio: ['ignore', 'pipe', 'inherit'] }));
    }
    fact(`parent started ${CLIENTS} client processes; each sends ${REQUESTS} requests at once with FifoClient.request()`);
    const reports = await within(Promise.all(children.map(async (child) => {
      const [said] = await Promise.all([jsonLines(child), exited(child)]);
      if (said.length !== 1) throw new Error(`child pid ${child.pid} reported ${JSON.stringify(said)}`);
      return said[0];
    })), `the ${CLIENTS} clients`);
    clearTimeout(gatherTimer);

    const letter = new Map(reports.map((r, i) => [r.pid, String.fromCharCode(65 + i)]));
    fact(`the server held every reply until all ${arrivals.length} requests had come: ${arrivals.length === total ? 'all in flight at once' : `only ${arrivals.length} came in ${GATHER_MS} ms`}`);
    if (listing.length > 0) {
      fact('ls -ln of the directory then: the request FIFO and one reply FIFO per client');
      for (const line of listing) fact(`  ${line}`);
    }
    fact(`the server read them in this order: ${arrivals.map((a) => `${letter.get(a.pid) ?? '?'}${a.seq}`).join(' ')}` +
      ` (client letter, request number)`);
    const line = `{"id":1,"reply":"${reports[0].replyPath}","data":{"pid":${reports[0].pid},"seq":1}}\n`;
    fact(`each request is one line of about ${Buffer.byteLength(line)} bytes, at most PIPE_BUF (${Fifo.PIPE_BUF}): one write(), never mixed`);
    for (const r of reports) {
      const got = r.replies.map((x) => `${x.seq} (served #${x.served})`).join(', ');
      fact(`client ${letter.get(r.pid)}: child pid ${r.pid} (ppid ${r.ppid}), reply FIFO ${path.basename(r.replyPath)}`);
      fact(`  replies to ${got}`);
    }
    const mine = reports.every((r) => r.replies.every((x, i) => x.pid === r.pid && x.seq === i + 1));
    fact(`every reply went into its own client's reply FIFO, matched to its request: ${mine ? 'yes' : 'NO'};`);
    fact(`  undeliverable or garbled lines: ${clientErrors.length}`);
    const left = reports.filter((r) => fs.existsSync(r.replyPath)).length;
    fact(`each client's close() removed its reply FIFO: ${left === 0 ? 'none left' : `${left} LEFT`}`);
    const closing = now();
    await within(server.close(), 'server.close()');
    fact(`server.close() ${duration(Number(now() - closing))}: ${path.basename(requestPath)} exists: ${fs.existsSync(requestPath) ? 'yes' : 'no'};` +
      ` ${dir} now holds ${fs.readdirSync(dir).length} files`);
  } finally {
    clearTimeout(gatherTimer);
    gathered();
    for (const child of children) stop(child);
    server[Symbol.dispose]();
  }
  console.log();
}

/** Timed round trips of client.request() to an echoing FifoServer child. Stops early after `budgetNs`. */
async function requestRoundTrips(client, rounds, budgetNs) {
  const samples = [];
  const stopAt = now() + BigInt(budgetNs);
  for (let i = 0; i < rounds; i++) {
    const start = now();
    const echo = await client.request(i);
    const end = now();
    if (echo !== i) throw new Error(`request ${i} came back as ${JSON.stringify(echo)}`);
    samples.push(Number(end - start));
    if (end > stopAt) break;
  }
  return samples;
}

/** A warmed-up request/reply ping-pong with a FifoServer child; the round-trip times in ns. */
async function fifoPingPong(dir) {
  const requestPath = path.join(dir, 'echo.fifo');
  const child = nodeSpawn(process.execPath, [CHILD, 'server', requestPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exit = exited(child);
  let client = null;
  try {
    const hello = await within(firstLine(child), `child pid ${child.pid}`);
    client = await FifoClient.connect(requestPath, { replyDir: dir, timeoutMs: STALL_MS });
    fact(`FIFO request/reply: parent pid ${process.pid} (FifoClient) <-> child pid ${hello.pid} (ppid ${hello.ppid}) (FifoServer)`);
    await within(requestRoundTrips(client, FIFO_WARM_UP, WARM_UP_BUDGET_NS), `child pid ${child.pid}`);
    return await within(requestRoundTrips(client, FIFO_ROUNDS, BUDGET_NS), `child pid ${child.pid}`);
  } finally {
    client?.close();
    child.stdin.end();
    await within(exit, `child pid ${child.pid}`).catch((err) => {
      stop(child);
      throw err;
    });
  }
}

async function run() {
  explain(`A FIFO, or named pipe, is a pipe with a name: mkfifo makes an entry in the file
    system, and any process that may open that path, related or not, can write into it or
    read from it, with the plain open, read and write of files. The bytes never touch the
    disk: the kernel keeps them in a pipe buffer, as for the pipes of chapter 4, and the
    entry is only a meeting point. Like a pipe, it is one way and has no message
    boundaries; unlike a pipe, it outlives every process that had it open, until unlinked.`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `posix-ipc-tour-${process.pid}-`));
  await withCleanup(async () => {
    heading('A name in the file system', '-');
    explain(`The parent makes a FIFO in a directory that only its owner may enter, with mode 0600:
      ls shows its type as p. Then a shell, which knows nothing of Node.js, writes into it with a
      redirection, and the parent reads what it wrote. A reader sees EOF once the last writer
      has closed.`);
    await shellWriter(dir);

    heading('One server, several clients', '-');
    explain(`The classic pattern: a server reads requests from one well-known FIFO, and each
      client makes a reply FIFO of its own and names it in every request. Many writers may share
      the request FIFO because the kernel writes at most PIPE_BUF bytes (4096 on Linux) into a
      FIFO whole: each request is one such write, one line, so two clients' lines never mix. The
      replies need no such care: only the server writes into a reply FIFO. Here ${CLIENTS} child
      processes each send ${REQUESTS} requests without waiting for replies in between.`);
    await serverAndClients(dir);

    heading('How fast is a round trip?', '-');
    explain(`A child runs a FifoServer that sends every request back; the parent connects with a
      FifoClient and sends one small request at a time: a JSON line into the request FIFO, a
      JSON line back through its reply FIFO, both processes waiting in the event loop. For
      comparison, the same ping-pong over process.send.`);
    const machine = watchTheMachine();
    const fifo = await fifoPingPong(dir);
    const send = await sendPingPong(WARM_UP_BUDGET_NS, BUDGET_NS);
    const load = machine.stop();
    console.log();
    report('FIFO request/reply, async', fifo);
    report('process.send, IPC channel', send);
    compare(load, fifo, send, {
      faster: (r) => `a FIFO request/reply was ${r} faster than process.send`,
      slower: (r) => `here process.send was ${r} faster than a FIFO request/reply`,
    });
    console.log();
  }, () => fs.rmSync(dir, { recursive: true, force: true }));
  fact(`parent removed ${dir}: exists: ${fs.existsSync(dir) ? 'yes' : 'no'}`);
  console.log();

  explain(`Both carry JSON lines over a kernel channel and wake the event loop on the other side.
    A FIFO request also opens the client's reply FIFO on the server's side (the server closes
    it when no reply is pending), and the server parses each line, while process.send keeps
    one socket open for the life of the child. A FIFO's strengths are elsewhere: a path any
    program can write to, a shell included, with no library and no parent in common.`);
}

module.exports = { run };

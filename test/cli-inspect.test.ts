/**
 * `posix-ipc inspect`, run as a subprocess against objects that other
 * processes made (test/fixtures/cli-inspect-objects.js): a Channel mid-stream,
 * a damaged segment, a Mutex whose owner dies, a semaphore, a queue, a memfd
 * held by a process.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Channel, MessageQueue, Mutex, Semaphore } from '../lib';
import { fixtureChild, leftoverObjects, namesUnlinkedAfterEach, run, type FixtureChild, type RunResult } from './helpers';

const CLI = path.join(__dirname, '..', 'scripts', 'cli.js');

const children: FixtureChild[] = [];
const name = namesUnlinkedAfterEach(Channel.unlink, Mutex.unlink, Semaphore.unlink, (n) => MessageQueue.unlink(n));

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.proc.stdin!.end();
    await child.exit;
  }
  expect(leftoverObjects()).toEqual([]);
});

/** Starts the fixture making an object; resolves with the child and its ready line. */
async function make(...args: string[]): Promise<{ child: FixtureChild; ready: Record<string, unknown> }> {
  const child = fixtureChild('cli-inspect-objects.js', args);
  children.push(child);
  return { child, ready: await child.next() };
}

/** The report of `inspect --json`, loosely typed: the test checks its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Report = any;

/** `posix-ipc inspect ...args`, with its output parsed when it is JSON. */
async function inspect(...args: string[]): Promise<RunResult & { json: Report }> {
  const r = await run(process.execPath, [CLI, 'inspect', ...args]);
  let json: Report = null;
  if (args.includes('--json') && r.code === 0) json = JSON.parse(r.stdout);
  return { ...r, json };
}

test('a Channel mid-stream: depth, producer state and the producer that holds the lane', async () => {
  const n = name();
  const { ready } = await make('channel', n, '5');
  const r = await inspect(n, '--json');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const ch = r.json.object;
  expect(ch).toMatchObject({ kind: 'channel', valid: true, version: 3, lanes: 2, capacity: 4096 });
  // The first message goes to the mailbox, the other four to the ring: 48-byte records.
  expect(ch.lane[0]).toMatchObject({ producer: 'active', producerAttached: true, producerLives: true, mailbox: 40 });
  // Counted: four messages committed to the ring, one through the mailbox (its sequence number).
  expect(ch.lane[0]).toMatchObject({ messages: 4, boxSeq: 1 });
  expect(ch.lane[0].producerPids).toEqual([ready.pid]);
  expect(ch.lane[0].depth).toBe(4 * 48);
  expect(ch.lane[1]).toMatchObject({ producer: 'none', depth: 0, producerAttached: false });
  expect(r.json.holders.map((h: { pid: number }) => h.pid)).toContain(ready.pid);

  const text = await inspect(n.slice(1));
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('Channel version 3: 2 lane(s) of 4096 bytes');
  expect(text.stdout).toMatch(new RegExp(`\\n\\s+0\\s+active/1\\s+yes\\s+${ready.pid}\\s+5\\s+0\\s+192\\s+192\\s+40 B`));
  expect(text.stdout).toContain('the header records no pids');
});

test('a damaged segment (the magic, 2^31 lanes, a huge capacity) is reported, nothing past it read', async () => {
  const n = name();
  await make('garbage', n);
  const r = await inspect(n, '--json');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.json.object).toMatchObject({ kind: 'channel', valid: false, lane: [] });
  expect(r.json.object.problems).toEqual(expect.arrayContaining([
    'lane count 2147483648 outside 1..1024',
    'capacity 4611686018427387904 is not a power of two in 64..1073741824',
  ]));
  const text = await inspect(n);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('DAMAGED or foreign: nothing past it was read');
});

test('a Mutex held by a child names it as owner; once the child is SIGKILLed, owner died', async () => {
  const n = name();
  const { child, ready } = await make('mutex', n);
  const held = await inspect(n, '--offset', '0', '--json');
  expect(held).toMatchObject({ code: 0, stderr: '' });
  expect(held.json.object).toMatchObject({ kind: 'mutex', state: 'locked', ownerPid: ready.pid, ownerTid: ready.pid, ownerAlive: true });

  child.proc.kill('SIGKILL');
  await child.exit;
  const died = await inspect(n, '--offset', '0', '--json');
  expect(died.json.object).toMatchObject({ kind: 'mutex', state: 'owner died', ownerPid: ready.pid, ownerTid: null, ownerAlive: false });
  const text = await inspect(n, '--offset', '0');
  expect(text.stdout).toContain(`Mutex at offset 0: owner died\n  owner: pid ${ready.pid} (dead)`);
});

test("a semaphore's value, and a queue's depth", async () => {
  const s = name();
  await make('semaphore', s, '7');
  const sem = await inspect(`sem.${s.slice(1)}`, '--json');
  expect(sem).toMatchObject({ code: 0, stderr: '' });
  expect(sem.json.object).toMatchObject({ kind: 'semaphore', valid: true, value: 7, waiters: 0, shared: true });

  const q = name();
  await make('queue', q, '3');
  const queue = await inspect(q, '--json');
  expect(queue).toMatchObject({ code: 0, stderr: '' });
  expect(queue.json.object).toMatchObject({ kind: 'queue', depth: 3, maxMessages: 8, messageSize: 64 });
  // Without its slash too, as /dev/shm has no such name.
  expect((await inspect(q.slice(1))).stdout).toContain('Message queue: 3 message(s) queued of 8');
});

test("a memfd Channel held by a process, as PID:FD", async () => {
  const { ready } = await make('memfd', '2');
  const r = await inspect(`${ready.pid}:${ready.fd}`, '--json');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.json.target).toMatch(/memfd:/);
  expect(r.json.object).toMatchObject({ kind: 'channel', valid: true, lanes: 1 });
  expect(r.json.object.lane[0].depth + (r.json.object.lane[0].mailbox ?? 0)).toBeGreaterThan(0);
});

test('a FIFO a child holds: its kind and holder, without waiting for a writer', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-inspect-'));
  try {
    const file = path.join(dir, 'fifo');
    const { ready } = await make('fifo', file);
    const r = await inspect(file, '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.json).toMatchObject({ path: file, mode: '0600', object: { kind: 'fifo' } });
    expect(r.json.holders).toEqual([expect.objectContaining({ pid: ready.pid, fd: ready.fd })]);
    // As PID:FD too: the FIFO the link names, not the link.
    const byFd = await inspect(`${ready.pid}:${ready.fd}`, '--json');
    expect(byFd.json).toMatchObject({ mode: '0600', object: { kind: 'fifo' } });
    expect(byFd.json.holders).toEqual([expect.objectContaining({ pid: ready.pid, fd: ready.fd })]);
  } finally {
    for (const child of children.splice(0)) {
      child.proc.stdin!.end();
      await child.exit;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a name in /dev/shm linking to a FIFO a writer waits on: ls, inspect and top never open it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-inspect-'));
  const link = `/dev/shm/${name().slice(1)}`;
  try {
    const fifo = path.join(dir, 'fifo');
    await run('mkfifo', [fifo]);
    symlinkSync(fifo, link);
    // Its open(O_WRONLY) returns only once someone opens the FIFO for reading: then it says so.
    const writer = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(fifo)}, 'w'); console.log('opened')`]);
    let said = '';
    writer.stdout.on('data', (chunk: Buffer) => (said += chunk));
    const exited = once(writer, 'exit');
    try {
      for (const args of [['ls', '--json'], ['inspect', link, '--json'], ['top', '--once', '--interval', '50']]) {
        const r = await run(process.execPath, [CLI, ...args]);
        expect(r).toMatchObject({ code: 0 });
      }
      const r = await inspect(link, '--json');
      expect(r.json.object).toEqual({ kind: 'symlink' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(said).toBe('');
    } finally {
      writer.kill('SIGKILL');
      await exited;
    }
  } finally {
    rmSync(link, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the decoders never throw on random bytes, and never trust a count they read', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const decode = require('../scripts/cli/decode.js');
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytes(i % 7 === 0 ? 16 : 256 + (i % 5) * 512);
    if (i % 2 === 0) bytes.writeUInt32LE(decode.RING.MAGIC, 0);
    if (i % 4 === 0 && bytes.length >= 40) {
      // A sound geometry over random lanes: the lanes are decoded, and their nonsense reported.
      bytes.writeUInt32LE(3, 4);
      bytes.writeUInt32LE(256, 8);
      bytes.writeUInt32LE(512, 12);
      bytes.writeUInt32LE(8, 16);
      bytes.writeUInt32LE(1, 20);
      bytes.writeBigUInt64LE(64n, 24);
      bytes.writeBigUInt64LE(256n + 512n + 64n, 32);
    }
    const channel = decode.decodeChannel(bytes, bytes.length + (i % 3) * 64);
    expect(['channel', 'unknown']).toContain(channel.kind);
    if (channel.kind === 'channel' && !channel.valid) expect(channel.problems.length).toBeGreaterThan(0);
    expect(['mutex', 'unknown']).toContain(decode.decodeMutex(bytes).kind);
    expect(['semaphore', 'unknown']).toContain(decode.decodeSemaphore(bytes).kind);
  }
  expect(decode.decodeQueueText('garbage')).toMatchObject({ kind: 'queue', valid: false });
  expect(decode.decodeQueueText('QSIZE:12         NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n'))
    .toMatchObject({ valid: true, bytes: 12, notify: 0, signo: 0, notifyPid: 0 });
});

test("a file's name, its link target and its holder's command line cannot forge a line of the report", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-inspect-'));
  try {
    // Another user chose the name and the holder's argv: each holds a newline, a whole line and an escape.
    const forged = '\n  holders: none\nNot an object this package knows (FORGED)\x1b[2J';
    const file = path.join(dir, `held${forged}`);
    writeFileSync(file, 'z');
    const { ready } = await make('file', file, forged);
    const escaped = '\\x0a  holders: none\\x0aNot an object this package knows (FORGED)\\x1b[2J';
    for (const target of [file, `${ready.pid}:${ready.fd}`]) {
      const r = await inspect(target);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const lines = r.stdout.split('\n');
      // The name (or PID:FD and its link target), size, holders, the holder, the kind: five lines, then the end.
      expect(lines).toHaveLength(6);
      expect(lines[0]).toContain(`held${escaped}`);
      expect(lines[2]).toBe('  holders:');
      expect(lines[3]).toMatch(new RegExp(`^    ${ready.pid} \\(fd ${ready.fd}\\) .*held.*FORGED.*FORGED`));
      expect(lines[4]).toBe('Not an object this package knows (first bytes 7a)');
      expect(lines[5]).toBe('');
      // The forged text appears only escaped, and no control character reaches the terminal.
      expect(r.stdout.split(escaped)).toHaveLength(4);
      expect(r.stdout.replaceAll(escaped, '')).not.toContain('FORGED');
      expect([...r.stdout].filter((c) => c !== '\n' && (c < ' ' || c === '\x7f'))).toEqual([]);
    }
    // --json keeps them as they are: JSON escapes them itself.
    const json = await inspect(file, '--json');
    expect(json.json.target).toBe(file);
    expect(json.json.holders[0].command).toContain(forged);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an object that does not exist: exit 1 saying so; a bad --offset: exit 2', async () => {
  const missing = await inspect('pipc-no-such-object');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("'pipc-no-such-object' does not exist");
  const queue = await inspect(`/pipc-${process.pid}-no-such-queue`);
  expect(queue.code).toBe(1);
  expect(queue.stderr).toContain('does not exist');
  expect((await inspect('x', '--offset', '3')).code).toBe(2);
});

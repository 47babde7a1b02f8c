import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Channel, MessageQueue, Mutex, pipe, Semaphore, SharedMemory, spawn } from '../lib';
import { envWithoutSanitizer, fixture, run } from './helpers';

let dir: string;
let lister: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-spawn-'));
  lister = path.join(dir, 'list-fds');
  expect(await run('cc', ['-O2', '-o', lister, fixture('list-fds.c')])).toMatchObject({ code: 0, stderr: '' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs test/fixtures/pipe.js COMMAND in a middle process that inherits fd 20
 * without close-on-exec (Node marks fds 0-15 close-on-exec at startup, and
 * those after up to the first gap: 16-19 are left closed), and resolves with
 * what it prints.
 */
async function middle(command: string): Promise<unknown> {
  const stdio: ('ignore' | 'pipe' | 'inherit')[] = ['ignore', 'pipe', 'inherit'];
  while (stdio.length < 20) stdio.push('ignore');
  stdio.push('pipe');
  const child = nodeSpawn(process.execPath, [fixture('pipe.js'), command, lister], { stdio });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  return JSON.parse(out);
}

/** What descriptors a child started with `fds` has. */
async function childSees(fds: Record<number, number | { fd: number }>): Promise<string> {
  // The lister is a plain C program: it runs without the sanitizer (envWithoutSanitizer says why).
  const child = spawn(lister, [], { stdio: ['ignore', 'pipe', 'inherit'], fds, env: envWithoutSanitizer() });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await once(child, 'close');
  expect(code).toBe(0);
  return out.trim();
}

describe('spawn()', () => {
  test('the child gets exactly stdio plus the listed descriptors, at the listed numbers', async () => {
    const { readEnd, writeEnd } = pipe();
    const shm = SharedMemory.anonymous(4096);
    expect(await childSees({})).toBe('0 1 2');
    expect(await childSees({ 3: readEnd })).toBe('0 1 2 3');
    expect(await childSees({ 5: shm, 9: writeEnd.fd })).toBe('0 1 2 5 9');
    readEnd.close();
    writeEnd.close();
    shm.close();
  });

  test('descriptors the parent itself inherited without close-on-exec do not reach the child', async () => {
    // The middle process spawns the lister: without the close-on-exec step it would see 20.
    expect(await middle('spawnLister')).toEqual({ seen: '0 1 2' });
  });

  test('bad command or args throw before inherited descriptors are made close-on-exec', async () => {
    expect(await middle('badSpawns')).toEqual({
      codes: ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE'],
      before: false,
      afterBad: false,
      // A good spawn does mark it: the check can tell.
      afterGood: true,
    });
  });

  test('validates fds before spawning anything', () => {
    const { readEnd, writeEnd } = pipe();
    expect(() => spawn(lister, [], { fds: { 2: readEnd } })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => spawn(lister, [], { fds: { 3: 'x' as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    readEnd.close();
    expect(() => spawn(lister, [], { fds: { 3: readEnd } })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => spawn(lister, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    writeEnd.close();
  });

  test('a listed descriptor that is not open: Node\'s EBADF, naming the entry', () => {
    const { writeEnd } = pipe();
    // A number no descriptor of this process has (jest's own come and go at low numbers).
    const closed = 900;
    expect(existsSync(`/proc/self/fd/${closed}`)).toBe(false);
    try {
      expect(() => spawn(process.execPath, ['-e', ''], { fds: { 3: writeEnd, 5: closed } })).toThrow(expect.objectContaining({
        code: 'EBADF', errno: -9, syscall: 'spawn', message: `spawn EBADF: options.fds[5] (${closed}) is not an open descriptor`,
      }));
    } finally {
      writeEnd.close();
    }
  });

  test('descriptor numbers are int32 >= 0 before any conversion: 2 ** 32 + 1 is not fd 1', () => {
    const range = expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    for (const bad of [2 ** 32 + 1, 2 ** 32, 2 ** 31, 2 ** 53, -2, 1.5, NaN, Infinity, -Infinity]) {
      expect(() => spawn(lister, [], { fds: { 3: bad } })).toThrow(range);
      expect(() => spawn(lister, [], { fds: { 3: { fd: bad } } })).toThrow(range);
    }
    for (const key of ['3.0', '03', '1e1', '-3', '2', '1024', ' 3']) {
      expect(() => spawn(lister, [], { fds: { [key]: 1 } as never })).toThrow(range);
    }
    const throwing = { get fd(): never { throw new Error('boom'); } };
    expect(() => spawn(lister, [], { fds: { 3: throwing } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const fdsThrowing = { get 3(): never { throw new Error('boom'); } };
    expect(() => spawn(lister, [], { fds: fdsThrowing as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => spawn(lister, new Proxy([], {}))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const revoked = Proxy.revocable([], {});
    revoked.revoke();
    expect(() => spawn(lister, revoked.proxy)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => spawn(lister, [], { stdio: revoked.proxy as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('fork safety: 1,000 children see only stdio and what was passed while a Worker churns objects', async () => {
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const lib = require(workerData.dist);
       let stop = false, rounds = 0;
       parentPort.on('message', () => { stop = true; });
       (async function churn() {
         while (!stop) {
           const name = '/pipc-' + process.pid + '-churn';
           const made = [
             lib.SharedMemory.create(name, 4096, { exclusive: false }),
             lib.SharedMemory.anonymous(4096, { seal: true }),
             lib.MessageQueue.open(name, { create: true }),
             lib.Semaphore.open(name, { create: true, initial: 1 }),
             lib.Mutex.open(name + '-mutex', { create: true }),
             lib.Channel.create({ capacity: 4096 }),
             ...lib.socketPair({ type: 'seqpacket' }),
           ];
           const { readEnd, writeEnd } = lib.pipe();
           made.push(readEnd, writeEnd);
           // Sockets that listen, connect and accept; both ends of a FIFO; a
           // file lock; a named channel with a producer and a consumer (its
           // lock descriptors and doorbell socket).
           // A name per round: a child forked meanwhile holds the last one's
           // listening socket until its exec, so the name may still be taken.
           const abstract = 'pipc-churn-' + process.pid + '-' + rounds;
           const server = lib.UnixSocket.listen({ abstract });
           const client = await lib.UnixSocket.connect({ abstract });
           made.push(server, client, await server.accept());
           const fifo = workerData.dir + '/churn.fifo';
           lib.mkfifo(fifo);
           const reader = await lib.Fifo.openReader(fifo);
           made.push(reader, await lib.Fifo.openWriter(fifo));
           made.push(await lib.lockFile(workerData.dir + '/churn.lock', { create: true }));
           const ch = lib.Channel.create(name + '-ch', { capacity: 4096 });
           ch.trySend('x');
           ch.tryReceive();
           made.push(ch);
           for (const m of made) m.close();
           require('node:fs').rmSync(fifo);
           lib.SharedMemory.unlink(name);
           lib.MessageQueue.unlink(name);
           lib.Semaphore.unlink(name);
           lib.Mutex.unlink(name + '-mutex');
           lib.Channel.unlink(name + '-ch');
           if (++rounds % 50 === 0) await new Promise((r) => setImmediate(r));
         }
         parentPort.postMessage(rounds);
       })();`,
      { eval: true, workerData: { dist: path.join(__dirname, '..', 'dist'), dir } },
    );
    const { readEnd, writeEnd } = pipe();
    const seen = new Map<string, number>();
    const total = 1000;
    let started = 0;
    const lane = async () => {
      while (started < total) {
        started++;
        const s = await childSees({ 3: writeEnd });
        seen.set(s, (seen.get(s) ?? 0) + 1);
      }
    };
    let rounds: number;
    // Listening from the start: a churn that fails rejects this at once.
    const stopped = once(worker, 'message');
    try {
      await Promise.race([Promise.all([lane(), lane(), lane(), lane()]), stopped]);
      worker.postMessage('stop');
      [rounds] = await stopped;
    } finally {
      // Even when a lane fails (or jest gives up), the churn must not outlive
      // the test, nor what a round it broke off had made.
      await worker.terminate();
      readEnd.close();
      writeEnd.close();
      const churned = `/pipc-${process.pid}-churn`;
      for (const unlink of [() => SharedMemory.unlink(churned), () => MessageQueue.unlink(churned), () => Semaphore.unlink(churned), () => Mutex.unlink(`${churned}-mutex`), () => Channel.unlink(`${churned}-ch`)]) {
        try {
          unlink();
        } catch {
          // not made, or already gone
        }
      }
    }
    expect(rounds).toBeGreaterThan(0);
    expect(Object.fromEntries(seen)).toEqual({ '0 1 2 3': total });
    // 1,000 real processes: under the ASan build (its runtime preloaded into
    // each) on a loaded 2-CPU machine this took over two minutes.
  }, 400000);
});

import { spawn as nodeSpawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { pipe, SharedMemory, spawn } from '../lib';
import { fixture, run } from './helpers';

let dir: string;
let lister: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-spawn-'));
  lister = path.join(dir, 'list-fds');
  expect(await run('cc', ['-O2', '-o', lister, fixture('list-fds.c')])).toMatchObject({ code: 0, stderr: '' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What descriptors a child started with `fds` has. */
async function childSees(fds: Record<number, number | { fd: number }>): Promise<string> {
  const child = spawn(lister, [], { stdio: ['ignore', 'pipe', 'inherit'], fds });
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
    // The middle process starts with fd 3 inherited (not close-on-exec), then spawns the lister.
    const middle = nodeSpawn(process.execPath, [fixture('pipe.js'), 'spawnLister', lister], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let out = '';
    middle.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await once(middle, 'close');
    expect(JSON.parse(out)).toEqual({ seen: '0 1 2' });
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
           for (const m of made) m.close();
           lib.SharedMemory.unlink(name);
           lib.MessageQueue.unlink(name);
           lib.Semaphore.unlink(name);
           lib.Mutex.unlink(name + '-mutex');
           if (++rounds % 50 === 0) await new Promise((r) => setImmediate(r));
         }
         parentPort.postMessage(rounds);
       })();`,
      { eval: true, workerData: { dist: path.join(__dirname, '..', 'dist') } },
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
    try {
      await Promise.all([lane(), lane(), lane(), lane()]);
      worker.postMessage('stop');
      [rounds] = await once(worker, 'message');
    } finally {
      // Even when a lane fails (or jest gives up), the churn must not outlive the test.
      await worker.terminate();
      readEnd.close();
      writeEnd.close();
    }
    expect(rounds).toBeGreaterThan(0);
    expect(Object.fromEntries(seen)).toEqual({ '0 1 2 3': total });
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, SharedMemory, futex } from '../lib';
import { binding } from '../lib/binding';
import { fdsOpenedSince, fsReadLatency, leftoverObjects, openFds, run, runNode, threadWaitsStarted, uniqueName } from './helpers';

const made: string[] = [];
const open: SharedMemory[] = [];

/** A fresh shared word pair [futex, arrivals] in a named SharedMemory. */
function shared(): { name: string; word: Int32Array; shm: SharedMemory } {
  const name = uniqueName();
  made.push(name);
  const shm = SharedMemory.create(name, 4096);
  open.push(shm);
  return { name, word: new Int32Array(shm.buffer, 0, 2), shm };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `n` processes announced (word 1) that they are about to wait. */
async function arrivals(word: Int32Array, n: number): Promise<void> {
  while (Atomics.load(word, 1) < n) await sleep(5);
}

afterEach(() => {
  for (const shm of open.splice(0)) shm.close();
  for (const name of made.splice(0)) {
    try {
      SharedMemory.unlink(name);
    } catch {
      // already gone
    }
  }
  expect(leftoverObjects()).toEqual([]);
});

describe('futex arguments', () => {
  test('bad arguments fail before any syscall, with Node codes', () => {
    const { word } = shared();
    expect(() => futex.wait(new Uint32Array(2) as unknown as Int32Array, 0, 0)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => futex.wake([0] as unknown as Int32Array, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => futex.waitSync(word, 2, 0)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => futex.waitSync(word, -1, 0)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => futex.waitSync(word, 0, 2 ** 31)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => futex.waitSync(word, 0, 0, { timeoutMs: -1 })).toThrow(expect.objectContaining({ name: 'RangeError' }));
    // A blocking call is refused a signal, as every *Sync call is (nothing runs to abort it). The word holds 0, so
    // the old code returned 'not-equal' here rather than hang.
    const signal = new AbortController().signal;
    expect(() => futex.waitSync(word, 0, 1, { signal } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => futex.wait(word, 0, 0, { signal: {} as AbortSignal })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => futex.wake(word, 0, 0)).toThrow(expect.objectContaining({ name: 'RangeError' }));
  });

  test('a view of closed (detached) memory is a coded error, not a crash', () => {
    const { word, shm } = shared();
    shm.close();
    // ERR_INVALID_STATE where the engine says a buffer is detached (Node 22+);
    // before, a detached view has length 0: a RangeError that says so.
    const refused = (call: () => unknown) => {
      try {
        call();
      } catch (err) {
        const { code, message } = err as NodeJS.ErrnoException;
        return code === 'ERR_INVALID_STATE' ? code : /is its memory closed/.test(message) ? code : message;
      }
      return 'not refused';
    };
    const calls = [
      () => futex.wake(word, 0),
      () => futex.waitSync(word, 0, 0, { timeoutMs: 1 }),
      () => futex.wait(word, 0, 0, { timeoutMs: 1 }),
    ];
    for (const call of calls) {
      expect(['ERR_INVALID_STATE', 'ERR_INVALID_ARG_VALUE']).toContain(refused(call));
    }
  });

  test('sizes come from the engine: an own length or a Proxy is no way past the array', () => {
    const sab = new SharedArrayBuffer(8);
    const outside = new Int32Array(sab);
    Atomics.store(outside, 1, 7);
    // One word, claiming two: word 1 of the buffer is past the array.
    const one = new Int32Array(sab, 0, 1);
    Object.defineProperty(one, 'length', { value: 2 });
    expect(() => futex.waitSync(one, 1, 7, { timeoutMs: 1 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => futex.wake(one, 1)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    // Far past it: a RangeError, not EFAULT from the kernel.
    const far = new Int32Array(sab, 0, 1);
    Object.defineProperty(far, 'length', { value: 2 ** 31 - 1 });
    expect(() => futex.wake(far, 2 ** 31 - 2)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    const proxy = new Proxy(new Int32Array(1), {});
    for (const call of [() => futex.wake(proxy, 0), () => futex.waitSync(proxy, 0, 1), () => futex.wait(proxy, 0, 1)]) {
      expect(call).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    }
  });

  test('the addon bound-checks the word itself, against the real array', () => {
    const one = new Int32Array(new SharedArrayBuffer(8), 0, 1);
    Object.defineProperty(one, 'length', { value: 2 ** 31 - 1 });
    const { EINVAL, ERANGE } = constants.errno;
    expect(binding.futexWake(one, 1, 1)).toBe(-ERANGE);
    expect(binding.futexWake(one, 2 ** 31 - 2, 1)).toBe(-ERANGE);
    expect(binding.futexWaitSync(one, 1, 0, 1)).toBe(-ERANGE);
    expect(binding.futexWait(one, 1, 0, 1, () => undefined)).toBe(-ERANGE);
    expect(binding.futexWake(new Proxy(one, {}), 0, 1)).toBe(-EINVAL);
    expect(binding.futexWake(new Uint32Array(2) as unknown as Int32Array, 0, 1)).toBe(-EINVAL);
    expect(binding.futexWake(one, -1, 1)).toBe(-EINVAL);
    expect(binding.futexWake(one, 0.5, 1)).toBe(-EINVAL);
    expect(binding.futexWake(one, 0, 0)).toBe(-EINVAL);
  });

  test("the buffer of a pending wait detached (transferred) meanwhile: no crash, each wait ends", async () => {
    const r = await runNode('futex.js', ['transferDuringWait', '20']);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    const out = JSON.parse(r.stdout);
    expect(out.done).toBe(20);
    for (const outcome of out.outcomes) expect(['ok', 'not-equal', 'timed-out', 'EFAULT']).toContain(outcome);
  });
});

describe('futex in one process', () => {
  test('not-equal at once when the value differs; timed-out after the timeout', async () => {
    const { word } = shared();
    Atomics.store(word, 0, 5);
    expect(futex.waitSync(word, 0, 4)).toBe('not-equal');
    await expect(futex.wait(word, 0, 4)).resolves.toBe('not-equal');
    const start = Date.now();
    expect(futex.waitSync(word, 0, 5, { timeoutMs: 30 })).toBe('timed-out');
    await expect(futex.wait(word, 0, 5, { timeoutMs: 30 })).resolves.toBe('timed-out');
    expect(Date.now() - start).toBeGreaterThanOrEqual(59);
    expect(futex.wake(word, 0)).toBe(0); // nobody waits
  });

  test('wake(count) wakes at most count waiters and says how many', async () => {
    const { word } = shared();
    const waits = [1, 2, 3].map(() => futex.wait(word, 0, 0, { timeoutMs: 20000 }));
    // A wait is on its way into the kernel: count wakes until all three woke.
    let woken = 0;
    while (woken < 3) {
      const n = futex.wake(word, 0, 2);
      expect(n).toBeLessThanOrEqual(2);
      woken += n;
      await sleep(5);
    }
    expect(await Promise.all(waits)).toEqual(['ok', 'ok', 'ok']);
    expect(futex.wake(word, 0, 5)).toBe(0);
  });

  test('AbortSignal: aborted before or during a wait rejects with AbortError', async () => {
    const { word } = shared();
    const ac = new AbortController();
    const pending = futex.wait(word, 0, 0, { signal: ac.signal });
    ac.abort('enough');
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'enough' });
    await expect(futex.wait(word, 0, 0, { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });

  test('a wake that reaches an abandoned wait is passed on: no lost wake-up', async () => {
    const { word } = shared();
    // The kernel wakes in arrival order, and a wait re-queues every 20 ms
    // slice: all of this happens inside the abandoned wait's first slice, so it
    // is first in line, its thread still asleep when the wake comes.
    for (let round = 0; round < 10; round++) {
      const ac = new AbortController();
      const abandoned = futex.wait(word, 0, 0, { signal: ac.signal }).catch((err: Error) => err.name);
      await sleep(4);
      const second = futex.wait(word, 0, 0, { timeoutMs: 5000 });
      await sleep(4);
      ac.abort();
      futex.wake(word, 0, 1);
      expect(await abandoned).toBe('AbortError');
      expect(await second).toBe('ok');
    }
  });

  test('closing or resizing the memory under a pending wait ends it with ERR_IPC_CLOSED, at once', async () => {
    const { word, shm } = shared();
    const pending = futex.wait(word, 0, 0, { timeoutMs: 5000 });
    await sleep(10);
    const t0 = performance.now();
    shm.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: expect.stringContaining('closed') });
    expect(performance.now() - t0).toBeLessThan(1000);
    const other = shared();
    const resized = futex.wait(other.word, 0, 0, { timeoutMs: 5000 });
    await sleep(10);
    other.shm.resize(8192);
    await expect(resized).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: expect.stringContaining('resize()') });
    other.shm.close();
  });

  test('a wait whose memory was unmapped never waits on what is mapped there next', async () => {
    // The old bug: the thread kept the raw address; a new mapping at the same
    // place made it wait on unrelated memory (a wake there resolved it 'ok',
    // and without one it never settled).
    for (let i = 0; i < 20; i++) {
      const { word, shm } = shared();
      const pending = futex.wait(word, 0, 0, { timeoutMs: 5000 });
      await sleep(2);
      shm.close();
      const next = SharedMemory.anonymous(4096); // likely at the same address
      const woken = futex.wake(new Int32Array(next.buffer, 0, 1), 0, 1);
      await expect(pending).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
      expect(woken).toBe(0); // nobody waits on the new memory
      next.close();
    }
  });
});

describe('futex between processes', () => {
  test('a process sleeping in waitSync is woken by another process', async () => {
    const { name, word } = shared();
    const waiter = runNode('futex.js', ['waitSync', name, '0', '20000']);
    await arrivals(word, 1);
    await sleep(50);
    Atomics.store(word, 0, 1);
    let woken = 0;
    while (woken === 0) {
      woken = futex.wake(word, 0);
      await sleep(5);
    }
    const r = await waiter;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ result: 'ok', error: null, value: 1 });
  });

  test('await wait() here is woken by wake() in another process', async () => {
    const { name, word } = shared();
    const pending = futex.wait(word, 0, 0, { timeoutMs: 20000 });
    const r = await runNode('futex.js', ['wake', name, '100']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ woken: 1 });
    expect(await pending).toBe('ok');
    expect(Atomics.load(word, 0)).toBe(1);
  });

  test("V8's Atomics.wait/notify do not work across processes on this memory; futex does", async () => {
    const { name, word } = shared();
    const waiter = runNode('futex.js', ['waitSync', name, '0', '20000']);
    await arrivals(word, 1);
    await sleep(50);
    // Atomics.wait refuses memory that is not a SharedArrayBuffer, and
    // Atomics.notify wakes nobody in another process.
    const r = await runNode('futex.js', ['atomics', name]);
    expect(JSON.parse(r.stdout)).toEqual({ waitError: expect.objectContaining({ name: 'TypeError' }), notified: 0 });
    await sleep(50);
    let woken = 0;
    while (woken === 0) {
      woken = futex.wake(word, 0);
      await sleep(5);
    }
    expect(JSON.parse((await waiter).stdout)).toMatchObject({ result: 'ok' });
  });

  test('timeouts hold while signals arrive every millisecond', async () => {
    const { name } = shared();
    const r = await runNode('futex.js', ['storm', name, '200']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ syncError: null, result: 'timed-out' });
    expect(out.signals).toBeGreaterThan(10);
    expect(out.syncTook).toBeGreaterThanOrEqual(199);
    expect(out.asyncTook).toBeGreaterThanOrEqual(199);
    expect(out.syncTook).toBeLessThan(10000);
  });
});

describe('futex waits and the event loop', () => {
  test('64 pending waits park no pool thread: fs stays prompt; each ends at a wake or at the changed value', async () => {
    const { word } = shared();
    const baseline = await fsReadLatency();
    const waits = Array.from({ length: 64 }, () => futex.wait(word, 0, 0, { timeoutMs: 30000 }));
    await threadWaitsStarted();
    expect(await fsReadLatency()).toBeLessThan(2 * baseline);
    Atomics.store(word, 0, 1);
    // A wait between two of its 20 ms slices when the value changed ends
    // 'not-equal' without being woken: wake until all have ended, not until
    // 64 were woken (which such a wait would make wait forever).
    let ended = false;
    const all = Promise.all(waits).finally(() => (ended = true));
    while (!ended) {
      futex.wake(word, 0, 64);
      await sleep(5);
    }
    expect((await all).every((r) => r === 'ok' || r === 'not-equal')).toBe(true);
  });

  test('1,000 idle waits: their threads wake far less often than every 20 ms each, and all still end', async () => {
    const { word } = shared();
    const n = 1000;
    const waits = Array.from({ length: n }, () => futex.wait(word, 0, 0, { timeoutMs: 60000 }));
    for (const wait of waits) wait.catch(() => {}); // ended by afterEach's close() should an expectation fail
    await threadWaitsStarted();
    // Voluntary context switches of every thread of this process over one second of idling: with a 20 ms
    // slice each, 1,000 waits alone would make about 50,000 (each slice's end is a wake-up).
    const switches = (): number => readdirSync('/proc/self/task').reduce((sum, tid) => {
      try {
        const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
        return sum + Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      } catch {
        return sum; // a thread that ended meanwhile
      }
    }, 0);
    const before = switches();
    await sleep(1000);
    expect(switches() - before).toBeLessThan(10000);
    Atomics.store(word, 0, 1);
    let ended = false;
    const all = Promise.all(waits).finally(() => (ended = true));
    while (!ended) {
      futex.wake(word, 0, n);
      await sleep(5);
    }
    expect((await all).every((r) => r === 'ok' || r === 'not-equal')).toBe(true);
  });

  test('a Worker ended with waits pending terminates promptly; nothing crashes', async () => {
    const { name } = shared();
    const before = openFds();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { SharedMemory, futex } = require(workerData.dist);
       const shm = SharedMemory.open(workerData.name);
       const word = new Int32Array(shm.buffer, 0, 1);
       for (let i = 0; i < 8; i++) futex.wait(word, 0, 0).then(() => parentPort.postMessage('woke'));
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: { name, dist: path.join(__dirname, '..', 'dist') } },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    const start = Date.now();
    expect(await worker.terminate()).toBe(1);
    console.log(`worker.terminate() with 8 futex waits pending: ${Date.now() - start} ms`);
    await sleep(50); // the waits' threads end within a slice
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('process.exit() with waits pending exits at once', async () => {
    const { name } = shared();
    const start = Date.now();
    const r = await run(process.execPath, [path.join(__dirname, 'fixtures', 'futex.js'), 'exitWithWaits', name], { timeout: 20000 });
    expect(r).toMatchObject({ code: 7, signal: null, stderr: '' });
    expect(Date.now() - start).toBeLessThan(5000);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { inspect } from 'node:util';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { AbortError, IpcError, Semaphore, SharedMemory } from '../lib';
import {
  expectPeerScribbleOutcomes, expectTimedOut, fdsOpenedSince, fixture, fsReadLatency, leftoverObjects,
  namesUnlinkedAfterEach, openFds, run, runInSignalStorm, runNode, runWithSmallDevShm, threadWaitsStarted, until,
  withOtherUser, withUmask,
} from './helpers';

const dist = path.join(__dirname, '..', 'dist');

/** A fresh semaphore (and SharedMemory) name that afterEach unlinks if the test left it behind. */
const name = namesUnlinkedAfterEach(Semaphore.unlink, SharedMemory.unlink);

afterEach(() => {
  expect(leftoverObjects()).toEqual([]);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Spins (blocking this thread) until `condition` holds or 5 s pass. */
function spinUntil(condition: () => boolean): boolean {
  for (const end = Date.now() + 5000; Date.now() < end; ) if (condition()) return true;
  return false;
}

describe('a process killed with SIGKILL', () => {
  /**
   * Starts fixture `hold` and resolves once it said it holds a token (or, `wait`, that it is about to wait for one).
   */
  async function holder(n: string, wait: 'no' | 'wait'): Promise<ChildProcess> {
    const child = spawn(process.execPath, [fixture('semaphore.js'), 'hold', n, wait], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = await once(createInterface({ input: child.stdout! }), 'line');
    expect(JSON.parse(line as string)).toEqual(wait === 'wait' ? { waiting: true } : { held: true });
    return child;
  }

  test('holding a token takes it along: a semaphore is not robust (a Mutex is)', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true, initial: 1 });
    const child = await holder(n, 'no');
    expect(s.value).toBe(0);
    child.kill('SIGKILL');
    await once(child, 'exit');
    await expect(s.acquire({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(s.value).toBe(0);
    s.close();
  });

  test('waiting for a token takes none: the next release goes to whoever is left', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true, initial: 0 });
    const child = await holder(n, 'wait');
    await sleep(50); // inside acquireSync by now
    child.kill('SIGKILL');
    await once(child, 'exit');
    s.release();
    expect(s.tryAcquire()).toBe(true);
    s.close();
  });
});

describe('Semaphore.open', () => {
  test('creates /dev/shm/sem.<name> 0600 under umask 000 with its initial value; opens it again by name', () => {
    const n = name();
    const s = withUmask(0, () => Semaphore.open(n, { create: true, initial: 3 }));
    expect(s).toMatchObject({ name: n, closed: false, value: 3 });
    expect(statSync(`/dev/shm/sem${n.replace('/', '.')}`).mode & 0o777).toBe(0o600);
    const same = Semaphore.open(n.slice(1));
    expect(same.tryAcquire()).toBe(true);
    expect(s.value).toBe(2);
    same.close();
    s.close();
  });

  test('the mode is exact under any umask; exclusive create of a taken name is EEXIST; create alone opens it as it is', () => {
    const n = name();
    withUmask(0o077, () => Semaphore.open(n, { create: true, mode: 0o640, initial: 5 }).close());
    expect(statSync(`/dev/shm/sem.${n.slice(1)}`).mode & 0o777).toBe(0o640);
    expect(() => Semaphore.open(n, { create: true, exclusive: true })).toThrow(
      expect.objectContaining({ code: 'EEXIST', errno: -17, syscall: 'sem_open', path: n, message: `EEXIST: file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${n}\` removes it if no process holds it), sem_open '${n}'` }),
    );
    const again = Semaphore.open(n, { create: true, initial: 1, mode: 0o600 });
    expect(again.value).toBe(5);
    expect(statSync(`/dev/shm/sem.${n.slice(1)}`).mode & 0o777).toBe(0o640);
    again.close();
  });

  test('a missing semaphore is ENOENT; bad arguments fail before any syscall', () => {
    const n = name();
    expect(() => Semaphore.open(n)).toThrow(expect.objectContaining({ name: 'IpcError', code: 'ENOENT', syscall: 'sem_open', path: n }));
    const bad: [unknown, unknown, string, string][] = [
      [n, { initial: 1 }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { exclusive: true }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { create: true, initial: -1 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { create: true, initial: 2 ** 31 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { create: true, initial: 1.5 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { create: true, mode: 0o1000 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [n, { create: 'yes' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [n, 'options', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [`/${'x'.repeat(252)}`, { create: true }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['a/b', { create: true }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [42, undefined, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [which, options, errorName, code] of bad) {
      expect(() => Semaphore.open(which as string, options as never))
        .toThrow(expect.objectContaining({ name: errorName, code }));
    }
    expect(leftoverObjects()).toEqual([]);
    // The longest name there can be works.
    const longest = `/pipc-${process.pid}-${'y'.repeat(251 - `pipc-${process.pid}-`.length)}`;
    name(longest);
    Semaphore.open(longest, { create: true }).close();
  });

  test('unlink removes the name; open handles keep working; a second unlink is ENOENT', () => {
    const n = name();
    const s = Semaphore.open(n, { create: true });
    Semaphore.unlink(n);
    expect(() => Semaphore.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    s.release();
    expect(s.tryAcquire()).toBe(true);
    expect(() => s.unlink()).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_unlink', path: n }));
    s.close();
  });

  test('another uid: 0600 keeps it out, 0666 lets it in, whatever the umask', async () => {
    const priv = name();
    const pub = name();
    withUmask(0o077, () => {
      Semaphore.open(priv, { create: true }).close();
      Semaphore.open(pub, { create: true, mode: 0o666 }).close();
    });
    await withOtherUser(async (runAs) => {
      const open = async (n: string) => JSON.parse((await runAs('semaphore.js', ['open', n])).stdout);
      expect((await open(priv)).error).toMatchObject({ code: 'EACCES', syscall: 'sem_open', path: priv });
      expect(await open(pub)).toEqual({ ok: true });
    });
    const s = Semaphore.open(pub);
    expect(s.value).toBe(1); // the other uid's release
    s.close();
  });

  test('bytes of the sem_t overwritten: clean errors (ERR_IPC_CORRUPT for futex flags or a value it never has), never a crash or a hang', async () => {
    // In a child: glibc aborts the process when the kernel refuses a futex call with flags it was never given.
    const r = await runNode('semaphore.js', ['scribbled', '500', '11'], { timeout: 60000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const outcomes = JSON.parse(r.stdout);
    // 'boolean': tryAcquire; 'undefined': a wait that took a token, release, attach; 'number': value.
    expect(Object.keys(outcomes)).toEqual(expect.arrayContaining(['ERR_IPC_CORRUPT', 'boolean', 'number']));
    for (const outcome of Object.keys(outcomes)) expect(['boolean', 'undefined', 'number', 'ERR_IPC_CORRUPT', 'ETIMEDOUT', 'EOVERFLOW']).toContain(outcome);
  });

  test('a peer rewrites every byte of the sem_t while this process is inside every call, waits included (named, and inside shared memory): never a crash or a hang', async () => {
    // In a child: before the fix, glibc aborted ("The futex facility returned an unexpected error code")
    // when the flags word changed between the check and its use.
    // 'boolean'/'false': tryAcquire; 'undefined': a wait that took a token, release; 'number': value.
    await expectPeerScribbleOutcomes('semaphore.js', name, ['boolean', 'undefined', 'number', 'ETIMEDOUT', 'ERR_IPC_CORRUPT'], [
      'boolean', 'false', 'undefined', 'number', 'ERR_IPC_CORRUPT', 'ETIMEDOUT', 'EOVERFLOW',
    ]);
  });

  test('the binding refuses handles it did not make (numbers, objects, a mutex handle, a closed handle): EBADF, never a crash', async () => {
    const r = await runNode('semaphore.js', ['foreignHandles']);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout);
    for (const what of ['number', 'null', 'object', 'array', 'mutex', 'closed']) expect(out[what]).toEqual([-9, -9, -9, -9, -9, -9]);
  });

  test('a full /dev/shm fails with ENOSPC and leaves nothing behind', async () => {
    const out = await runWithSmallDevShm('semaphore.js', ['createInFull', '/full'], '64k', true);
    expect(out).toEqual({ error: expect.objectContaining({ code: 'ENOSPC', syscall: 'sem_open', path: '/full' }), devShm: ['filler'] });
  });

  test('C programs using sem_open(3) meet the same semaphore', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-c-'));
    try {
      const source = path.join(dir, 'sem.c');
      writeFileSync(source, `#include <semaphore.h>
        #include <stdio.h>
        int main(int argc, char **argv) {
          sem_t *s = sem_open(argv[1], 0);
          int v;
          if (s == SEM_FAILED || sem_wait(s) || sem_getvalue(s, &v)) { perror("sem"); return 1; }
          printf("%d\\n", v);
          return sem_post(s) || sem_post(s);
        }`);
      const cc = await run('cc', ['-O2', '-Wall', '-o', path.join(dir, 'sem'), source, '-pthread']);
      expect(cc).toMatchObject({ code: 0, stderr: '' });
      const n = name();
      const s = Semaphore.open(n, { create: true, initial: 4 });
      const r = await run(path.join(dir, 'sem'), [n]);
      expect(r).toMatchObject({ code: 0, stdout: '3\n', stderr: '' });
      expect(s.value).toBe(5);
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tokens', () => {
  test('tryAcquire, release(n) and value', () => {
    const s = Semaphore.open(name(), { create: true, initial: 1 });
    expect(s.tryAcquire()).toBe(true);
    expect(s.tryAcquire()).toBe(false);
    s.release(3);
    expect(s.value).toBe(3);
    s.release();
    const taken = [s.tryAcquire(), s.tryAcquire(), s.tryAcquire(), s.tryAcquire(), s.tryAcquire()];
    expect(taken).toEqual([true, true, true, true, false]);
    for (const n of [0, -1, 1.5, 2 ** 31]) expect(() => s.release(n)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => s.release('1' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(s.value).toBe(0);
    s.close();
  });

  test('release past SEM_VALUE_MAX is EOVERFLOW, named; the tokens released before stay', () => {
    expect(Semaphore.VALUE_MAX).toBe(2 ** 31 - 1);
    const n = name();
    const s = Semaphore.open(n, { create: true, initial: Semaphore.VALUE_MAX - 1 });
    expect(() => s.release(3)).toThrow(expect.objectContaining({
      name: 'IpcError', code: 'EOVERFLOW', syscall: 'sem_post', path: n,
      message: `EOVERFLOW: the value reached SEM_VALUE_MAX (2147483647) before 3 were released, sem_post '${n}'`,
    }));
    expect(s.value).toBe(Semaphore.VALUE_MAX);
    s.close();
  });

  test('acquireSync takes a token, or throws ETIMEDOUT from sem_clockwait', () => {
    const n = name();
    const s = Semaphore.open(n, { create: true, initial: 1 });
    s.acquireSync({ timeoutMs: 0 });
    s.release();
    s.acquireSync();
    const start = Date.now();
    expect(() => s.acquireSync({ timeoutMs: 30 })).toThrow(expect.objectContaining({
      name: 'IpcError', code: 'ETIMEDOUT', errno: -110, syscall: 'sem_clockwait', path: n, message: `ETIMEDOUT: timed out after 30 ms, sem_clockwait '${n}'`,
    }));
    expect(Date.now() - start).toBeGreaterThanOrEqual(29);
    expect(() => s.acquireSync({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(() => s.acquireSync({ timeoutMs: -1 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => s.acquireSync(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    s.close();
  });

  test('acquire resolves at once with a free token, waits for a release, rejects ETIMEDOUT after its timeout', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true, initial: 1 });
    await s.acquire();
    await expect(s.acquire({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'sem_clockwait' });
    await expect(s.acquire({ timeoutMs: 30 })).rejects.toMatchObject({
      name: 'IpcError', code: 'ETIMEDOUT', errno: -110, syscall: 'sem_clockwait', path: n, message: `ETIMEDOUT: timed out after 30 ms, sem_clockwait '${n}'`,
    });
    let done = 0;
    const waits = [s.acquire(), s.acquire({ timeoutMs: 20000 })].map((p) => p.then(() => done++));
    await sleep(50);
    expect(done).toBe(0);
    s.release();
    await expect(until(() => done === 1, 5000)).resolves.toBe(true);
    s.release();
    await Promise.all(waits);
    expect(s.value).toBe(0);
    await expect(s.acquire({ timeoutMs: -1 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(s.acquire({ signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    s.close();
  });

  test('AbortSignal: already aborted rejects at once and takes nothing; aborting a wait rejects it with AbortError', async () => {
    const s = Semaphore.open(name(), { create: true, initial: 1 });
    const reason = new Error('changed my mind');
    await expect(s.acquire({ signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(s.value).toBe(1);
    s.acquireSync();
    const ac = new AbortController();
    const pending = s.acquire({ signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await sleep(50); // more than a slice: the stopped thread took nothing
    s.release();
    expect(s.value).toBe(1);
    s.close();
  });

  test('a token a wait took after JavaScript gave up (abort, close) is released again', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true });
    const observer = Semaphore.open(n);

    const ac = new AbortController();
    const aborted = s.acquire({ signal: ac.signal });
    s.release();
    // The wait's thread has the token once the value is back to 0; the result
    // cannot reach JavaScript before this synchronous code ends.
    expect(spinUntil(() => s.value === 0)).toBe(true);
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(until(() => s.value === 1, 5000)).resolves.toBe(true);

    s.acquireSync();
    const closing = s.acquire();
    s.release();
    expect(spinUntil(() => s.value === 0)).toBe(true);
    s.close();
    await expect(closing).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await expect(until(() => observer.value === 1, 5000)).resolves.toBe(true);
    observer.close();
  });

  test('close() rejects pending acquires with ERR_IPC_CLOSED; every use afterwards is ERR_IPC_CLOSED; using closes', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true });
    const pending = [s.acquire(), s.acquire({ timeoutMs: 10000 })];
    s.close();
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'Semaphore is closed' });
    await expect(s.acquire()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    for (const use of [() => s.tryAcquire(), () => s.acquireSync(), () => s.release(), () => s.value]) {
      expect(use).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    }
    expect(s.closed).toBe(true);
    expect(() => s.close()).not.toThrow();
    s.unlink(); // the name is still there to remove

    let disposed: Semaphore;
    let waiting: Promise<void>;
    {
      using t = Semaphore.open(name(), { create: true });
      disposed = t;
      waiting = t.acquire();
    }
    expect(disposed.closed).toBe(true);
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
  });
});

describe('inside shared memory', () => {
  test('one handle initialises it, others attach; they share the tokens', () => {
    const shm = SharedMemory.anonymous(4096);
    expect([Semaphore.SIZE, Semaphore.ALIGNMENT]).toEqual([32, 8]);
    const a = Semaphore.inside(shm, 64, { initial: 2 });
    const b = Semaphore.inside(shm, 64);
    expect(a.name).toBeNull();
    expect(b.value).toBe(2);
    expect(b.tryAcquire()).toBe(true);
    expect(a.value).toBe(1);
    a.release(5);
    expect(b.value).toBe(6);
    expect(new Uint8Array(shm.buffer, 0, 64).every((x) => x === 0)).toBe(true); // only its own 32 bytes
    const last = Semaphore.inside(shm, 4096 - Semaphore.SIZE, { initial: 0 });
    expect(last.tryAcquire()).toBe(false);
    a.unlink(); // nothing to remove
    for (const h of [a, b, last, shm]) h.close();
  });

  test('bad arguments fail before any syscall', () => {
    const shm = SharedMemory.anonymous(4096);
    const bad: [unknown, unknown, unknown, string, string][] = [
      [{}, 0, undefined, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [shm, '0', undefined, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [shm, -8, { initial: 0 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 4, { initial: 0 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 4096 - 24, { initial: 0 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 4096, { initial: 0 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 0, { initial: -1 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 0, { initial: 2 ** 31 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [shm, 0, 7, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      // Nothing was initialised at 0: attaching to zeros would be a private semaphore.
      [shm, 0, undefined, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [memory, offset, options, errorName, code] of bad) {
      expect(() => Semaphore.inside(memory as SharedMemory, offset as number, options as never))
        .toThrow(expect.objectContaining({ name: errorName, code }));
    }
    expect(() => Semaphore.inside(shm, 0)).toThrow(/holds no initialised semaphore/);
    expect(() => Semaphore.inside(shm, 4, { initial: 0 })).toThrow(/multiple of Semaphore.ALIGNMENT \(8\)/);
    shm.close();
    expect(() => Semaphore.inside(shm, 0, { initial: 0 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });

  test('a read-only SharedMemory is refused with ERR_IPC_READ_ONLY', () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    Semaphore.inside(shm, 0, { initial: 1 }).close();
    const ro = SharedMemory.open(n, { readOnly: true });
    expect(() => Semaphore.inside(ro, 0)).toThrow(expect.objectContaining({ code: 'ERR_IPC_READ_ONLY' }));
    ro.close();
    shm.close();
  });

  test('closing the SharedMemory never breaks the semaphore: pending and later waits, releases and value still work', async () => {
    const shm = SharedMemory.anonymous(4096);
    const s = Semaphore.inside(shm, 128, { initial: 0 });
    const pending = s.acquire({ timeoutMs: 20000 });
    await sleep(30);
    shm.close();
    expect(shm.closed).toBe(true);
    s.release(2);
    await pending;
    expect(s.value).toBe(1);
    await s.acquire();
    await expect(s.acquire({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    // Both closed while threads wait on the memory: they end within a slice, touching nothing unmapped.
    const orphans = [s.acquire(), s.acquire()];
    s.close();
    for (const p of orphans) await expect(p).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await sleep(100);
  });

  test("another process attaches through a named SharedMemory; its release wakes this process's acquire", async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    const s = Semaphore.inside(shm, 256, { initial: 0 });
    const pending = s.acquire({ timeoutMs: 20000 });
    const r = await runNode('semaphore.js', ['insideRelease', n, '256']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    await pending;
    expect(s.value).toBe(0);
    s.close();
    shm.close();
  });
});

describe('between processes', () => {
  /** Runs `count` children that each add to a shared counter `iterations` times; returns the counter. */
  async function count(mode: 'sync' | 'async', children: number, iterations: number): Promise<number> {
    const n = name();
    const lock = Semaphore.open(n, { create: true, initial: 1 });
    const ready = Semaphore.open(`${n}-ready`, { create: true });
    const go = Semaphore.open(`${n}-go`, { create: true });
    name(`${n}-ready`);
    name(`${n}-go`);
    const shm = SharedMemory.create(n, 4096);
    try {
      const runs = Array.from({ length: children }, () => runNode('semaphore.js', ['count', n, n, String(iterations), mode]));
      for (let i = 0; i < children; i++) await ready.acquire({ timeoutMs: 60000 });
      go.release(children); // all start together
      for (const r of await Promise.all(runs)) expect(r).toMatchObject({ code: 0, stderr: '' });
      return new Int32Array(shm.buffer)[0];
    } finally {
      for (const h of [lock, ready, go, shm]) h.close();
    }
  }

  test('4 processes x 100,000 non-atomic increments under a named semaphore as a lock (acquireSync): exactly 400,000', async () => {
    expect(await count('sync', 4, 100000)).toBe(400000);
  });

  test('4 processes x 5,000 increments with await acquire(): exactly 20,000', async () => {
    expect(await count('async', 4, 5000)).toBe(20000);
  });

  test("a child's release wakes the parent's pending acquire", async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true });
    let woke = false;
    const pending = s.acquire({ timeoutMs: 20000 }).then(() => (woke = true));
    await sleep(50);
    expect(woke).toBe(false);
    const r = await runNode('semaphore.js', ['release', n]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    await pending;
    expect(s.value).toBe(0);
    s.close();
  });

  test('in a signal storm, timeouts hold (no earlier) and a release from another process still wakes both kinds of wait', async () => {
    const out = await runInSignalStorm('semaphore.js', ['storm', name(), '200']);
    for (const kind of ['sync', 'async']) {
      expectTimedOut({ error: out[`${kind}Error`], took: out[`${kind}Took`] }, 200, 'sem_clockwait');
      expect(out[`${kind}Woken`]).toBe(true);
    }
  });

  test('process.exit() with acquires pending exits at once', async () => {
    const n = name();
    Semaphore.open(n, { create: true }).close();
    const start = Date.now();
    const r = await run(process.execPath, [fixture('semaphore.js'), 'exitWithPending', n], { timeout: 20000 });
    const took = Date.now() - start;
    expect(r).toMatchObject({ code: 7, signal: null, stderr: '' });
    expect(took).toBeLessThan(2000);
  });
});

describe('threads', () => {
  test('64 pending acquires park no pool thread: fs.promises.readFile stays prompt; one release(64) resolves them', async () => {
    const s = Semaphore.open(name(), { create: true });
    try {
      const baseline = await fsReadLatency();
      const pending = Array.from({ length: 64 }, () => s.acquire({ timeoutMs: 60000 }));
      await threadWaitsStarted();
      const during = await fsReadLatency();
      // Four pool threads parked on these waits would make readFile hang outright.
      expect(during).toBeLessThan(2 * baseline);
      s.release(64);
      await Promise.all(pending);
      expect(s.value).toBe(0);
    } finally {
      s.close();
    }
  });

  test('worker.terminate() with acquires pending (named and inside shared memory) completes; nothing crashes or leaks', async () => {
    const before = openFds();
    const n = name();
    Semaphore.open(n, { create: true }).close();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Semaphore, SharedMemory } = require(workerData.dist);
       const named = Semaphore.open(workerData.name);
       const shm = SharedMemory.anonymous(4096);
       const inside = Semaphore.inside(shm, 0, { initial: 0 });
       for (let i = 0; i < 4; i++) {
         named.acquire().then(() => parentPort.postMessage('got one'));
         inside.acquire();
       }
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: { name: n, dist } },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await sleep(30);
    const start = process.hrtime.bigint();
    expect(await worker.terminate()).toBe(1);
    console.log(`worker.terminate() with 8 acquires pending: ${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(1)} ms`);
    await sleep(100); // the wait threads end within a slice, after their environment
    expect(fdsOpenedSince(before)).toEqual([]);
    const s = Semaphore.open(n);
    s.release();
    await sleep(50);
    expect(s.value).toBe(1); // nobody is left waiting to take it
    s.close();
  });

  test('a token taken for a Worker that is terminated before it could see it is released again', async () => {
    const n = name();
    const s = Semaphore.open(n, { create: true });
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Semaphore } = require(workerData.dist);
       const s = Semaphore.open(workerData.name);
       s.acquire().then(() => parentPort.postMessage('acquired'));
       parentPort.on('message', () => { parentPort.postMessage('spinning'); for (;;); });
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: { name: n, dist } },
    );
    const next = () => new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(await next()).toBe('waiting');
    worker.postMessage('spin');
    expect(await next()).toBe('spinning');
    // The Worker's JavaScript is stuck, so the result cannot reach it.
    s.release();
    expect(spinUntil(() => s.value === 0)).toBe(true);
    expect(await worker.terminate()).toBe(1);
    await expect(until(() => s.value === 1, 5000)).resolves.toBe(true);
    s.close();
  });

  test('no descriptor leaks, on success, failure and wait paths', async () => {
    const before = openFds();
    const n = name();
    for (let i = 0; i < 20; i++) {
      const s = Semaphore.open(n, { create: true });
      expect(() => Semaphore.open(n, { create: true, exclusive: true })).toThrow(IpcError);
      s.release();
      await s.acquire();
      void s.acquire().catch(() => undefined);
      expect(() => s.acquireSync({ timeoutMs: 1 })).toThrow(IpcError);
      const shm = SharedMemory.anonymous(4096);
      Semaphore.inside(shm, 0, { initial: 1 }).close();
      shm.close();
      s.close();
      s.unlink();
      expect(() => Semaphore.open(n)).toThrow(IpcError);
    }
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

test('util.inspect shows kind, name, value, pending waits and state, open and closed', async () => {
  const n = `/pipc-${process.pid}-inspect`;
  const sem = Semaphore.open(n, { create: true, initial: 0 });
  try {
    const waiting = sem.acquire();
    expect(inspect(sem, { breakLength: Infinity })).toBe(`Semaphore { name: '${n}', value: 0, pending: 1, ref: true, closed: false }`);
    sem.release();
    await waiting;
  } finally {
    sem.close();
    Semaphore.unlink(n);
  }
  expect(inspect(sem, { breakLength: Infinity })).toBe(`Semaphore { name: '${n}', value: undefined, pending: 0, ref: true, closed: true }`);
});

import { spawn, type ChildProcess } from 'node:child_process';
import { inspect } from 'node:util';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { AbortError, IpcError, Mutex, SharedMemory } from '../lib';
import {
  expectPeerScribbleOutcomes, expectTimedOut, fdsOpenedSince, fixture, leftoverObjects, namesUnlinkedAfterEach, openFds,
  run, runInSignalStorm, runNode, runWithSmallDevShm, withOtherUser, withUmask,
} from './helpers';

const children: ChildProcess[] = [];
const dist = path.join(__dirname, '..', 'dist');

/** A fresh name that afterEach unlinks if the test left it behind. */
const name = namesUnlinkedAfterEach(Mutex.unlink);

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Starts a fixture command whose JSON lines we read one at a time. */
function start(...args: string[]): { child: ChildProcess; next: () => Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, [fixture('mutex.js'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error(`fixture ${args[0]} ended without output`);
      return JSON.parse(value as string);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Mutex.open', () => {
  test('creates 0600 under umask 000 and the asked mode under umask 077; exclusive create of a taken name is EEXIST', () => {
    const n = name();
    const m = withUmask(0, () => Mutex.open(n, { create: true }));
    expect(statSync(`/dev/shm${n}`).mode & 0o777).toBe(0o600);
    expect(statSync(`/dev/shm${n}`).size).toBe(Mutex.SIZE);
    expect(m).toMatchObject({ name: n, closed: false, held: false, ownerPid: null });
    expect(() => Mutex.open(n, { create: true, exclusive: true })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'linkat', path: n, message: `EEXIST: file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${n}\` removes it if no process holds it), linkat '${n}'` }),
    );
    // create without exclusive opens the existing mutex: the same lock.
    const again = Mutex.open(n, { create: true });
    expect(m.tryLock()).toEqual({ ownerDied: false });
    expect(again.tryLock()).toBe(false);
    m.close();
    again.close();

    const n2 = name();
    withUmask(0o077, () => Mutex.open(n2, { create: true, mode: 0o640 }).close());
    expect(statSync(`/dev/shm${n2}`).mode & 0o777).toBe(0o640);
  });

  test('a missing name is ENOENT; what is not a mutex is EINVAL; bad arguments fail before any syscall', () => {
    const n = name();
    expect(() => Mutex.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_open', path: n }));
    SharedMemory.create(n, 4096).close();
    expect(() => Mutex.open(n)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap', path: n, message: `EINVAL: no initialised mutex at offset 0, mmap '${n}'` }));
    expect(() => Mutex.open(n, { create: true })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => Mutex.open(n, { exclusive: true })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Mutex.open(n, { create: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => Mutex.open(n, { create: true, mode: 0o1000 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Mutex.open('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Mutex.unlink(name())).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_unlink' }));
  });

  test('no descriptor, mapping or /dev/shm entry is left behind, on success and failure paths', () => {
    const before = openFds();
    const n = name();
    for (let i = 0; i < 20; i++) {
      const m = Mutex.open(n, { create: true, exclusive: true });
      expect(() => Mutex.open(n, { create: true, exclusive: true })).toThrow(IpcError);
      m.lockSync();
      m.close();
      Mutex.unlink(n);
      expect(() => Mutex.open(n)).toThrow(IpcError);
    }
    expect(fdsOpenedSince(before)).toEqual([]);
    expect(leftoverObjects()).toEqual([]);
    // Every mapping goes with its handle.
    const kept = Array.from({ length: 5 }, () => Mutex.open(n, { create: true }));
    // By inode: a mapping made before the name existed shows /dev/shm/#<inode> (deleted).
    const inode = String(statSync(`/dev/shm${n}`).ino);
    const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.split(/\s+/)[4] === inode).length;
    expect(mapped()).toBe(5);
    for (const m of kept) m.close();
    expect(mapped()).toBe(0);
  });

  test('a full /dev/shm fails with ENOSPC and leaves nothing behind', async () => {
    const out = await runWithSmallDevShm('mutex.js', ['createInFull', '/full'], '64k', true);
    expect(out).toEqual({ error: expect.objectContaining({ code: 'ENOSPC', syscall: 'posix_fallocate', path: '/full' }), devShm: ['filler'] });
  });

  test('bytes of the pthread mutex overwritten, its magic intact: clean errors (ERR_IPC_CORRUPT for a kind it never had), never a crash or a hang', async () => {
    // In a child: glibc aborts the process on some kinds (priority-protect), which is what must never be reached.
    const r = await runNode('mutex.js', ['scribbled', '500', '11'], { timeout: 60000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const outcomes = JSON.parse(r.stdout);
    // 'object': a lock's { ownerDied }; 'false': tryLock found it held; 'undefined': unlock.
    expect(Object.keys(outcomes)).toEqual(expect.arrayContaining(['ERR_IPC_CORRUPT', 'object']));
    for (const outcome of Object.keys(outcomes)) expect(['object', 'false', 'undefined', 'ERR_IPC_CORRUPT', 'ETIMEDOUT', 'EDEADLK', 'EPERM', 'ENOTRECOVERABLE']).toContain(outcome);
  });

  test('a peer rewrites every byte of the mutex while this process is inside every call (named, and inside shared memory): coded errors or correct results, never a crash or a hang', async () => {
    // In a child: before the fix, unlock() segfaulted (glibc wrote through the robust-list pointers a peer overwrote).
    // 'object': a lock's { ownerDied }; 'false': tryLock found it held; 'undefined': unlock, markConsistent;
    // 'number', 'null': ownerPid.
    await expectPeerScribbleOutcomes('mutex.js', name, ['object', 'undefined', 'ERR_IPC_CORRUPT'], [
      'object', 'false', 'undefined', 'number', 'null', 'ERR_IPC_CORRUPT', 'ETIMEDOUT', 'EDEADLK', 'EPERM', 'EINVAL', 'ENOTRECOVERABLE',
    ]);
  });

  test("a peer overwrites a held mutex's robust-list links (through SharedMemory.open of its name): unlock works, never a segfault", async () => {
    const r = await runNode('mutex.js', ['listOverwritten', name(), name()], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const unlocked = { ownerDied: false };
    expect(JSON.parse(r.stdout)).toEqual({ first: unlocked, second: unlocked, unlockFirst: 'ok', unlockSecond: 'ok', again: [unlocked, unlocked, 'ok', 'ok'] });
  });

  test('the binding refuses handles it did not make (numbers, objects, a semaphore handle, a closed handle): EBADF, never a crash', async () => {
    const r = await runNode('mutex.js', ['foreignHandles']);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout);
    for (const what of ['number', 'null', 'object', 'array', 'semaphore', 'closed']) expect(out[what]).toEqual([-9, -9, -9, -9, -9, -9, -9]);
  });

  test('another uid: a 0600 mutex keeps it out, a 0666 one lets it lock', async () => {
    const priv = name();
    const pub = name();
    Mutex.open(priv, { create: true }).close();
    Mutex.open(pub, { create: true, mode: 0o666 }).close();
    await withOtherUser(async (runAs) => {
      const open = async (n: string) => JSON.parse((await runAs('mutex.js', ['open', n])).stdout);
      expect((await open(priv)).error).toMatchObject({ code: 'EACCES', syscall: 'shm_open', path: priv });
      expect(await open(pub)).toEqual({ ok: true, tryLock: { ownerDied: false } });
    });
  });
});

describe('Mutex.inside', () => {
  test('init: true initialises once (EEXIST after); attach where none was initialised is EINVAL', () => {
    using shm = SharedMemory.anonymous(4096 * 2);
    expect(() => Mutex.inside(shm, 64)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'EINVAL: no initialised mutex at offset 64, mmap' }));
    const a = Mutex.inside(shm, 4096 + 64, { init: true });
    expect(() => Mutex.inside(shm, 4096 + 64, { init: true })).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'pthread_mutex_init' }));
    const b = Mutex.inside(shm, 4096 + 64);
    expect(a.name).toBeNull();
    expect(a.tryLock()).toEqual({ ownerDied: false });
    expect(b.tryLock()).toBe(false);
    // The mutex has its own mapping: closing the memory's handle does not touch it.
    shm.close();
    a.unlock();
    expect(b.tryLock()).toEqual({ ownerDied: false });
    b.close();
    a.close();
  });

  test('offsets are multiples of 8 that leave Mutex.SIZE bytes; read-only or closed memory is refused', () => {
    const n = name();
    const shm = SharedMemory.create(n, 256);
    expect(() => Mutex.inside(shm, 4, { init: true })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Mutex.inside(shm, 256 - Mutex.SIZE + 8, { init: true })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Mutex.inside({} as never, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => Mutex.inside(shm, 0, { init: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    Mutex.inside(shm, 256 - Mutex.SIZE, { init: true }).close();
    const ro = SharedMemory.open(n, { readOnly: true });
    expect(() => Mutex.inside(ro, 256 - Mutex.SIZE)).toThrow(expect.objectContaining({ code: 'ERR_IPC_READ_ONLY' }));
    ro.close();
    shm.close();
    expect(() => Mutex.inside(shm, 0)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    SharedMemory.unlink(n);
  });
});

describe('in one process', () => {
  test('tryLock, ownerPid, held; unlock by a handle that does not hold it is EPERM; lockSync of a held lock is EDEADLK', () => {
    const n = name();
    const a = Mutex.open(n, { create: true });
    const b = Mutex.open(n);
    expect(a.tryLock()).toEqual({ ownerDied: false });
    expect(a).toMatchObject({ held: true, ownerPid: process.pid });
    expect(b).toMatchObject({ held: false, ownerPid: process.pid });
    expect(a.tryLock()).toBe(false);
    expect(b.tryLock()).toBe(false);
    expect(() => b.unlock()).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'pthread_mutex_unlock', path: n, message: `EPERM: this handle does not hold the mutex, pthread_mutex_unlock '${n}'` }));
    expect(() => b.markConsistent()).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'pthread_mutex_consistent' }));
    expect(() => a.markConsistent()).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'pthread_mutex_consistent' }));
    for (const m of [a, b]) {
      expect(() => m.lockSync({ timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'EDEADLK', syscall: 'pthread_mutex_clocklock' }));
    }
    a.unlock();
    expect(a).toMatchObject({ held: false, ownerPid: null });
    expect(() => a.unlock()).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(b.lockSync()).toEqual({ ownerDied: false });
    b.unlock();
    a.close();
    b.close();
  });

  test('lock() waits for the holder; timeouts are ETIMEDOUT; AbortSignal; bad options reject before waiting', async () => {
    const n = name();
    const a = Mutex.open(n, { create: true });
    const b = Mutex.open(n);
    a.lockSync();
    await expect(b.lock({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', errno: -110, syscall: 'pthread_mutex_lock', path: n, message: `ETIMEDOUT: timed out after 30 ms, pthread_mutex_lock '${n}'` });
    await expect(b.lock({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const reason = new Error('changed my mind');
    await expect(b.lock({ signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    const ac = new AbortController();
    const aborted = b.lock({ signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(b.lock({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(b.lock({ signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    // lockSync() has nothing that could run to abort it: a signal is refused, not ignored (nor waited with).
    expect(() => b.lockSync({ signal: new AbortController().signal } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    let got = false;
    const waiting = b.lock().then((r) => {
      got = true;
      return r;
    });
    await sleep(50);
    expect(got).toBe(false);
    a.unlock();
    expect(await waiting).toEqual({ ownerDied: false });
    expect(b.held).toBe(true);
    b.unlock();
    a.close();
    b.close();
  });

  test('async tasks of one process take turns, on one handle or several; withLock unlocks when fn throws', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const other = Mutex.open(n);
    let inside = 0;
    let most = 0;
    const task = (h: Mutex, i: number) => h.withLock(async () => {
      most = Math.max(most, ++inside);
      await sleep(2);
      inside--;
      return i;
    });
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => task(i % 2 ? m : other, i)));
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(1);

    const boom = new Error('boom');
    await expect(m.withLock(() => {
      throw boom;
    })).rejects.toBe(boom);
    expect(m.held).toBe(false);
    expect(m.tryLock()).toEqual({ ownerDied: false });
    m.unlock();
    await expect(m.withLock('no' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    m.close();
    other.close();
  });

  test('close() releases a lock this handle holds and rejects pending lock() with ERR_IPC_CLOSED; use after close', async () => {
    const n = name();
    const a = Mutex.open(n, { create: true });
    const b = Mutex.open(n);
    a.lockSync();
    const pending = b.lock();
    b.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'Mutex is closed' });
    a.close();
    expect(a.closed).toBe(true);
    expect(() => a.close()).not.toThrow();
    const uses = [() => a.tryLock(), () => a.unlock(), () => a.lockSync(), () => a.ownerPid, () => a.markConsistent()];
    for (const use of uses) {
      expect(use).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    }
    await expect(a.lock()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    using c = Mutex.open(n);
    expect(c.tryLock()).toEqual({ ownerDied: false });
  });
});

describe('between processes', () => {
  test('4 processes add 100,000 each to a non-atomic counter under a mutex inside shared memory: exactly 400,000', async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    Mutex.inside(shm, 0, { init: true }).close();
    const results = await Promise.all([1, 2, 3, 4].map(() => runNode('mutex.js', ['count', n, '100000'])));
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(new Int32Array(shm.buffer, 64, 1)[0]).toBe(400000);
    shm.close();
    SharedMemory.unlink(n);
  });

  test('a holder SIGKILLed mid critical section: the waiting lock() gets ownerDied; markConsistent makes it usable again', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const { child, next } = start('hold', n);
    expect(await next()).toEqual({ locked: child.pid, ownerPid: child.pid });
    expect(m.ownerPid).toBe(child.pid);
    const waiting = m.lock({ timeoutMs: 30000 });
    await sleep(100);
    const killed = process.hrtime.bigint();
    child.kill('SIGKILL');
    expect(await waiting).toEqual({ ownerDied: true });
    const delayMs = Number(process.hrtime.bigint() - killed) / 1e6;
    process.stdout.write(`mutex: owner death seen by the waiting lock() ${delayMs.toFixed(2)} ms after SIGKILL\n`);
    expect(delayMs).toBeLessThan(1000);
    expect(m.ownerPid).toBe(process.pid);
    m.markConsistent();
    m.unlock();
    const r = await runNode('mutex.js', ['tryEverything', n]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      tryLock: { ownerDied: false },
      lockSync: expect.objectContaining({ code: 'EDEADLK' }),
      lock: { ownerDied: false },
    });
    m.close();
  });

  test('without markConsistent, after unlock everyone gets ENOTRECOVERABLE, in every process and every way', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const { child, next } = start('hold', n);
    await next();
    child.kill('SIGKILL');
    await once(child, 'exit');
    // Nobody waited: the next locker finds the mark the kernel left.
    expect(m.ownerPid).toBeNull();
    expect(m.tryLock()).toEqual({ ownerDied: true });
    m.unlock();
    const unrecoverable = expect.objectContaining({ code: 'ENOTRECOVERABLE' });
    for (let i = 0; i < 2; i++) {
      expect(() => m.tryLock()).toThrow(unrecoverable);
      expect(() => m.lockSync({ timeoutMs: 100 })).toThrow(unrecoverable);
      await expect(m.lock({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'ENOTRECOVERABLE', syscall: 'pthread_mutex_trylock', path: n });
    }
    const r = await runNode('mutex.js', ['tryEverything', n]);
    expect(JSON.parse(r.stdout)).toEqual({ tryLock: unrecoverable, lockSync: unrecoverable, lock: unrecoverable });
    m.close();
  });

  test('a waiter in another process gets ownerDied, repairs, and the mutex works normally after', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const holder = start('hold', n);
    await holder.next();
    const waiter = start('waitThenUnlock', n, 'repair');
    await waiter.next();
    await sleep(100);
    holder.child.kill('SIGKILL');
    expect(await waiter.next()).toEqual({ ownerDied: true });
    expect(m.lockSync({ timeoutMs: 5000 })).toEqual({ ownerDied: false });
    m.unlock();
    m.close();
  });

  test('a stopped holder is never robbed: waiters time out; after SIGCONT and unlock the waiter gets it', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const { child, next } = start('hold', n);
    await next();
    child.kill('SIGSTOP');
    await expect(m.lock({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(() => m.lockSync({ timeoutMs: 300 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'pthread_mutex_clocklock', message: `ETIMEDOUT: timed out after 300 ms, pthread_mutex_clocklock '${n}'` }));
    expect(m.tryLock()).toBe(false);
    expect(m.ownerPid).toBe(child.pid);
    const waiting = m.lock({ timeoutMs: 30000 });
    child.kill('SIGCONT');
    child.stdin!.write('unlock\n');
    expect(await next()).toEqual({ unlocked: child.pid });
    expect(await waiting).toEqual({ ownerDied: false });
    m.unlock();
    m.close();
  });

  test('in a signal storm, timeouts still hold and an unlock still wakes the waiter', async () => {
    const out = await runInSignalStorm('mutex.js', ['storm', name(), '1000']);
    for (const t of [out.asyncTimeout, out.syncTimeout]) expectTimedOut(t, 199);
    expect(out.result).toEqual({ ownerDied: false });
  });
});

describe('interop with C programs that lock through glibc (pthread_mutex_lock)', () => {
  let dir: string;
  let exe: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pipc-c-'));
    exe = path.join(dir, 'mutex-interop');
    expect(await run('cc', ['-O2', '-Wall', '-o', exe, fixture('mutex-interop.c'), '-lrt', '-pthread'])).toMatchObject({ code: 0, stderr: '' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('two Node and two C processes add 50,000 each to a non-atomic counter under one mutex: exactly 200,000', async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    Mutex.inside(shm, 0, { init: true }).close();
    const results = await Promise.all([
      runNode('mutex.js', ['count', n, '50000']), runNode('mutex.js', ['count', n, '50000']),
      run(exe, ['count', n, '50000']), run(exe, ['count', n, '50000']),
    ]);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(new Int32Array(shm.buffer, 64, 1)[0]).toBe(200000);
    shm.close();
    SharedMemory.unlink(n);
  });

  test('a C holder killed with SIGKILL: the waiting lock() gets ownerDied', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    const child = spawn(exe, ['hold', n], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as string[];
    expect(line).toBe('locked');
    expect(m.tryLock()).toBe(false);
    const waiting = m.lock({ timeoutMs: 30000 });
    child.kill('SIGKILL');
    expect(await waiting).toEqual({ ownerDied: true });
    m.markConsistent();
    m.unlock();
    m.close();
  });

  test('a Node holder of three mutexes (the middle one unlocked again) killed with SIGKILL: glibc in C gets EOWNERDEAD for the two it held, 0 for the other', async () => {
    const names = [name(), name(), name()];
    for (const n of names) Mutex.open(n, { create: true }).close();
    const { child, next } = start('holdMany', ...names);
    expect(await next()).toEqual({ held: [true, false, true] });
    child.kill('SIGKILL');
    await once(child, 'exit');
    const r = await run(exe, ['lock', ...names]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe('EOWNERDEAD\n0\nEOWNERDEAD\n');
  });
});

describe('waits, threads and teardown', () => {
  test('64 pending lock() park no pool thread: fs stays prompt; all 64 get the lock in turn when the holder unlocks', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-fs-'));
    const file = path.join(dir, 'data');
    writeFileSync(file, Buffer.alloc(256 * 1024, 7));
    const n = name();
    const handles = Array.from({ length: 64 }, (_, i) => Mutex.open(n, { create: i === 0 }));
    try {
      const { child, next } = start('hold', n);
      await next();
      const order: number[] = [];
      const pending = handles.map((h, i) => h.lock({ timeoutMs: 60000 }).then((r) => {
        order.push(i);
        h.unlock();
        return r;
      }));
      await sleep(100);
      // Four pool threads parked on these waits would make readFile hang.
      const reads = Promise.all(Array.from({ length: 16 }, () => readFile(file)));
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise((resolve) => (timer = setTimeout(resolve, 10000, 'hung')));
      expect(await Promise.race([reads.then(() => 'read'), hung])).toBe('read');
      clearTimeout(timer);
      expect(order).toEqual([]);
      child.stdin!.write('unlock\n');
      expect(await Promise.all(pending)).toEqual(handles.map(() => ({ ownerDied: false })));
      expect([...order].sort((a, b) => a - b)).toEqual(handles.map((_, i) => i));
    } finally {
      for (const h of handles) h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('worker.terminate() with lock() pending completes; a Worker that ends holding the lock is an owner that died', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    m.lockSync();
    const source = `const { parentPort, workerData } = require('node:worker_threads');
      const { Mutex } = require(workerData.dist);
      const m = Mutex.open(workerData.name);
      // The holder stays alive (a timer) until terminate(): ending by itself would also be a death.
      if (workerData.hold) { m.lockSync(); setInterval(() => {}, 1000); parentPort.postMessage('holding'); }
      else { for (let i = 0; i < 3; i++) m.lock().then(() => parentPort.postMessage('got it')); parentPort.postMessage('waiting'); }`;
    const pendingWorker = new Worker(source, { eval: true, workerData: { name: n, dist, hold: false } });
    expect(await once(pendingWorker, 'message')).toEqual(['waiting']);
    expect(await pendingWorker.terminate()).toBe(1);
    m.unlock();

    const holding = new Worker(source, { eval: true, workerData: { name: n, dist, hold: true } });
    expect(await once(holding, 'message')).toEqual(['holding']);
    expect(m.ownerPid).toBe(process.pid);
    const waiting = m.lock({ timeoutMs: 30000 });
    await holding.terminate();
    expect(await waiting).toEqual({ ownerDied: true });
    m.markConsistent();
    m.unlock();
    m.close();
  });

  test('a handle collected while it holds the lock keeps it, mapped, until its process ends: then the owner died', async () => {
    const n = name();
    const other = name();
    const m = Mutex.open(n, { create: true });
    Mutex.open(other, { create: true }).close();
    const r = await run(process.execPath, ['--expose-gc', fixture('mutex.js'), 'collectWhileHeld', n, other], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ collected: true, tryLock: false });
    expect(out.ownerPid).toBeGreaterThan(0);
    expect(m.tryLock()).toEqual({ ownerDied: true });
    m.markConsistent();
    m.unlock();
    m.close();
  });

  test('process.exit() with lock() pending exits at once; aborted and closed waits let the process end by itself', async () => {
    const n = name();
    const m = Mutex.open(n, { create: true });
    m.lockSync();
    const exited = await run(process.execPath, [fixture('mutex.js'), 'pendingThenExit', n], { timeout: 20000 });
    expect(exited).toMatchObject({ code: 7, signal: null, stderr: '' });
    const ended = await run(process.execPath, [fixture('mutex.js'), 'abortThenExit', n], { timeout: 20000 });
    expect(ended).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(ended.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ aborted: 'AbortError' }, { closed: 'ERR_IPC_CLOSED' }]);
    // Neither took the lock: it is still ours.
    expect(m.ownerPid).toBe(process.pid);
    m.unlock();
    m.close();
  });
});

test('util.inspect shows kind, name, held, pending waits and state, open and closed; inside memory, its memory', () => {
  const shm = SharedMemory.anonymous(4096);
  const m = Mutex.inside(shm, 0, { init: true });
  m.lockSync();
  expect(inspect(m, { breakLength: Infinity })).toBe('Mutex { name: null, in: null, held: true, pending: 0, ref: true, closed: false }');
  m.unlock();
  m.close();
  shm.close();
  expect(inspect(m, { breakLength: Infinity })).toBe('Mutex { name: null, in: null, held: false, pending: 0, ref: true, closed: true }');
});

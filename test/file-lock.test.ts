import { spawn, type ChildProcess } from 'node:child_process';
import { inspect } from 'node:util';
import { chmodSync, closeSync, existsSync, fstatSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, FileLock, IpcError, lockFile, lockFileSync, tryLockFile } from '../lib';
import { expectTimedOut, fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, openFds, run, runInSignalStorm, runNode, runWithFewFds, threadWaitsSettled, until, withOtherUser, withUmask } from './helpers';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-lock-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await threadWaitsSettled();
});

/** A fresh lock file (created empty unless `create` is false). */
function file(create = true): string {
  const p = path.join(dir, `lock-${counter++}`);
  if (create) writeFileSync(p, '');
  return p;
}

/** Whether another open file description of `p` could take this lock now. */
function free(p: string, options: Parameters<typeof tryLockFile>[1] = {}): boolean {
  const lock = tryLockFile(p, options);
  lock?.release();
  return lock !== null;
}

/** Settles with what `promise` did, or 'pending' if it has not settled after a few event-loop turns. */
async function state(promise: Promise<unknown>): Promise<string> {
  let settled = 'pending';
  promise.then(() => (settled = 'resolved'), () => (settled = 'rejected'));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** A wait thread closes its duplicate descriptor within one 20 ms slice of being told to stop. */
async function fdsSettle(before: string[]): Promise<string[]> {
  await until(() => fdsOpenedSince(before).length === 0, 1000);
  return fdsOpenedSince(before);
}

interface Holder {
  child: ChildProcess;
  /** Ends the holder's stdin (it releases and exits) and waits for its exit. */
  release(): Promise<void>;
  /** Resolves with how the child exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a process that takes a lock and holds it until its stdin ends; resolves once it prints that it holds it. */
function holder(command: string, args: string[]): Promise<Holder> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (line: string) => {
      if (line.includes('locked')) resolve({ child, exited, release: async () => void (child.stdin!.end(), await exited) });
      else reject(new Error(`holder said ${line}`));
    });
    void exited.then(({ code }) => reject(new Error(`holder exited with ${code} before locking: ${stderr}`)));
  });
}

const nodeHolder = (p: string, spec = '') => holder(process.execPath, [fixture('file-lock.js'), 'hold', p, spec]);
const pythonHolder = (p: string, kind: string, type: string, range: number[] = []) =>
  holder('python3', [fixture('file-lock-interop.py'), 'hold', p, kind, type, ...range.map(String)]);

async function pythonTry(p: string, kind: string, type: string, range: number[] = []): Promise<string> {
  const r = await run('python3', [fixture('file-lock-interop.py'), 'try', p, kind, type, ...range.map(String)]);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.trim();
}

describe('taking a lock', () => {
  test('on a path: its own close-on-exec descriptor, read-write for an OFD lock; release() closes it and is idempotent', async () => {
    const p = file();
    const before = openFds();
    const lock = await lockFile(p);
    expect(lock).toBeInstanceOf(FileLock);
    expect(lock).toMatchObject({ mode: 'exclusive', kind: 'ofd', start: 0, length: 0, path: p, released: false });
    const flags = fdFlags(lock.fd);
    expect(flags & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(flags & 3).toBe(2); // O_RDWR
    expect(free(p)).toBe(false);
    lock.release();
    lock.release();
    lock.close();
    lock[Symbol.dispose]();
    expect(lock).toMatchObject({ fd: -1, released: true });
    expect(free(p)).toBe(true);
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('create: true makes the file with exactly fileMode (0600 by default) whatever the umask; an existing file keeps its mode', async () => {
    const a = file(false);
    const b = file(false);
    {
      using _umask = withUmask(0o077);
      (await lockFile(a, { create: true })).release();
      lockFileSync(b, { create: true, fileMode: 0o644 }).release();
      tryLockFile(b, { create: true, fileMode: 0o600 })!.release();
    }
    expect(statSync(a).mode & 0o777).toBe(0o600);
    expect(statSync(b).mode & 0o777).toBe(0o644);
    await expect(lockFile(file(false))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  test('another uid: a shared lock on a file it may only read opens it read-only (and cannot upgrade); flock needs no write access', async () => {
    const p = file();
    chmodSync(dir, 0o755);
    chmodSync(p, 0o644);
    await withOtherUser(async (runAs) => {
      const r = await runAs('file-lock.js', ['readOnly', p]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const out = JSON.parse(r.stdout);
      expect(out.shared).toEqual({ mode: 'shared', access: 0 }); // O_RDONLY
      expect(out.upgrade).toMatchObject({ code: 'EBADF', syscall: 'fcntl', message: expect.stringContaining('an exclusive lock needs a descriptor open for writing') });
      expect(out.exclusive).toMatchObject({ code: 'EACCES', syscall: 'open', path: p });
      expect(out.flock).toEqual({ mode: 'exclusive', access: 0 });
    });
  });

  test('flock locks directories (opened read-only); an OFD lock on one is EISDIR', async () => {
    using onDir = await lockFile(dir, { kind: 'flock' });
    expect(onDir.kind).toBe('flock');
    expect(free(dir, { kind: 'flock', mode: 'shared' })).toBe(false);
    await expect(lockFile(dir)).rejects.toMatchObject({ code: 'EISDIR', syscall: 'open', path: dir });
  });

  test('errors are shaped like Node\'s, with the syscall and the path', async () => {
    const missing = path.join(dir, 'no', 'such');
    await expect(lockFile(missing)).rejects.toThrow(new IpcError(-2, 'open', missing));
    expect(() => tryLockFile(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', errno: -2, syscall: 'open', path: missing }));
    expect(() => lockFileSync(missing, { create: true })).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    const fd = openSync(file(), 'r');
    closeSync(fd);
    await expect(lockFile(fd)).rejects.toMatchObject({ code: 'EBADF', syscall: 'fcntl', message: 'EBADF: bad file descriptor, fcntl' });
    const ro = openSync(file(), 'r');
    const wo = openSync(file(), 'w');
    try {
      await expect(lockFile(ro)).rejects.toMatchObject({ code: 'EBADF', syscall: 'fcntl', message: 'EBADF: an exclusive lock needs a descriptor open for writing, fcntl' });
      expect(() => tryLockFile(wo, { mode: 'shared' })).toThrow(expect.objectContaining({ code: 'EBADF', message: expect.stringContaining('a shared lock needs a descriptor open for reading') }));
    } finally {
      closeSync(ro);
      closeSync(wo);
    }
  });

  test('no descriptor to spare (RLIMIT_NOFILE): EMFILE from open, then a lock once one is free', async () => {
    const out = await runWithFewFds('file-lock.js', ['lockWithoutFds', file()]);
    expect(out).toMatchObject({ error: { code: 'EMFILE', syscall: 'open' }, then: 'locked' });
  });

  test('bad arguments are TypeErrors and RangeErrors before any syscall (nothing is opened or created)', async () => {
    const p = file(false);
    const before = openFds();
    const bad: [unknown, unknown, string, string][] = [
      [undefined, {}, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [{ fd: 3 }, {}, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      ['', {}, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      ['a\0b', {}, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [-1, {}, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [1.5, {}, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [p, 'x', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [p, { create: true, mode: 'write' }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, kind: 'posix' }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, start: -1 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, start: '0' }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [p, { create: true, length: 2 ** 53 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, start: 2 ** 52, length: 2 ** 52 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, kind: 'flock', start: 10 }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: 1 }, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
      [p, { create: true, fileMode: 0o1000 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
      [0, { create: true }, 'TypeError', 'ERR_INVALID_ARG_VALUE'],
      [p, { create: true, timeoutMs: -1 }, 'RangeError', 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [target, options, name, code] of bad) {
      const shape = expect.objectContaining({ name, code });
      await expect(lockFile(target as never, options as never)).rejects.toEqual(shape);
      expect(() => lockFileSync(target as never, options as never)).toThrow(shape);
      if ((options as { timeoutMs?: number }).timeoutMs === undefined) {
        expect(() => tryLockFile(target as never, options as never)).toThrow(shape);
      }
    }
    await expect(lockFile(p, { create: true, signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    // A blocking call has nothing that could run to abort it: a signal is refused, not ignored.
    const signal = new AbortController().signal;
    expect(() => lockFileSync(p, { create: true, signal } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(existsSync(p)).toBe(false);
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

describe('what conflicts', () => {
  test('two handles exclude each other even in one process (OFD locks belong to open file descriptions, not processes)', async () => {
    const p = file();
    const a = await lockFile(p);
    expect(tryLockFile(p)).toBeNull();
    expect(tryLockFile(p, { mode: 'shared' })).toBeNull();
    const b = lockFile(p);
    expect(await state(b)).toBe('pending');
    a.release();
    const got = await b;
    expect(got.mode).toBe('exclusive');
    got.release();
  });

  test('shared locks coexist; an exclusive one waits for every shared holder to leave', async () => {
    const p = file();
    const r1 = await lockFile(p, { mode: 'shared' });
    const r2 = lockFileSync(p, { mode: 'shared', timeoutMs: 0 });
    const w = lockFile(p);
    r1.release();
    expect(await state(w)).toBe('pending');
    r2.release();
    (await w).release();
  });

  test('byte ranges: disjoint ones do not conflict, overlapping ones do; length 0 reaches past the end of the file', async () => {
    const p = file();
    using low = tryLockFile(p, { start: 0, length: 100 })!;
    expect(low).toMatchObject({ start: 0, length: 100 });
    using high = tryLockFile(p, { start: 100, length: 100 })!;
    expect(high).not.toBeNull();
    expect(free(p, { start: 99, length: 2 })).toBe(false);
    expect(free(p, { start: 200, length: 1 })).toBe(true);
    using tail = tryLockFile(p, { start: 1000 })!;
    expect(tail).toMatchObject({ start: 1000, length: 0 });
    expect(free(p, { start: 2 ** 40, length: 1 })).toBe(false);
    expect(free(p, { start: 500, length: 500 })).toBe(true);
    expect(free(p, { mode: 'shared' })).toBe(false);
    expect(free(p, { kind: 'flock' })).toBe(true); // the other kind of lock: no conflict on Linux
  });

  test('a descriptor is duplicated, never taken: the lock belongs to its open file description', async () => {
    const p = file();
    const before = openFds();
    const fd = openSync(p, 'r+');
    const lock = await lockFile(fd, { start: 10, length: 10 });
    expect(lock.fd).not.toBe(fd);
    expect(lock.path).toBeNull();
    expect(fstatSync(lock.fd).ino).toBe(fstatSync(fd).ino);
    expect(free(p, { start: 15, length: 1 })).toBe(false);
    // The same description: another lock through it (or any duplicate) is not a conflict.
    using again = tryLockFile(fd, { start: 10, length: 10 })!;
    expect(again).not.toBeNull();
    again.release(); // ...and releasing either unlocks the range of the description
    expect(free(p, { start: 15, length: 1 })).toBe(true);
    lock.release();
    const held = lockFileSync(fd);
    // Closing the caller's descriptor does not release it: the lock keeps its own.
    closeSync(fd);
    expect(free(p)).toBe(false);
    held.release();
    expect(free(p)).toBe(true);
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

describe('upgrade and downgrade', () => {
  test('are atomic: an upgrade that times out or is aborted leaves the lock shared, never unlocked', async () => {
    const p = file();
    const mine = await lockFile(p, { mode: 'shared' });
    const other = await lockFile(p, { mode: 'shared' });
    await expect(mine.upgrade({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'fcntl', path: p, message: `ETIMEDOUT: timed out after 30 ms waiting for the lock, fcntl '${p}'` });
    const ac = new AbortController();
    const aborted = mine.upgrade({ signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    other.release();
    expect(mine.mode).toBe('shared');
    expect(free(p)).toBe(false); // still shared...
    expect(free(p, { mode: 'shared' })).toBe(true);
    await mine.upgrade();
    expect(mine.mode).toBe('exclusive');
    expect(free(p, { mode: 'shared' })).toBe(false);
    await mine.upgrade(); // already exclusive
    mine.downgrade();
    mine.downgrade();
    expect(mine.mode).toBe('shared');
    expect(free(p, { mode: 'shared' })).toBe(true);
    mine.release();
    expect(() => mine.downgrade()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    await expect(mine.upgrade()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
  });

  test('an upgrade waits for the other shared holders; release() ends a pending one with ERR_IPC_CLOSED and leaves nothing locked', async () => {
    const p = file();
    const fd = openSync(p, 'r+');
    const mine = await lockFile(fd, { mode: 'shared' });
    const other = await lockFile(p, { mode: 'shared' });
    const pending = mine.upgrade();
    expect(await state(pending)).toBe('pending');
    await expect(mine.upgrade()).rejects.toMatchObject({ code: 'ERR_IPC_BUSY' });
    expect(() => mine.downgrade()).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    other.release();
    await pending;
    expect(mine.mode).toBe('exclusive');
    mine.downgrade();
    const other2 = await lockFile(p, { mode: 'shared' });
    const ended = mine.upgrade();
    mine.release();
    await expect(ended).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    other2.release();
    // Let a wait that was already polling find the range free: it must not lock the caller's description.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(free(p)).toBe(true);
    closeSync(fd);
  });

  test('flock locks cannot change mode atomically: ERR_IPC_UNSUPPORTED', async () => {
    using lock = await lockFile(file(), { kind: 'flock', mode: 'shared' });
    await expect(lock.upgrade()).rejects.toMatchObject({ code: 'ERR_IPC_UNSUPPORTED' });
    expect(() => lock.downgrade()).toThrow(expect.objectContaining({ code: 'ERR_IPC_UNSUPPORTED' }));
  });
});

describe('giving up', () => {
  test('timeoutMs: ETIMEDOUT naming fcntl or flock; 0 tries once; nothing left open', async () => {
    const p = file();
    using held = await lockFile(p);
    using heldFlock = await lockFile(p, { kind: 'flock' });
    expect([held.kind, heldFlock.kind]).toEqual(['ofd', 'flock']);
    const before = openFds();
    await expect(lockFile(p, { timeoutMs: 30 })).rejects.toMatchObject({ name: 'IpcError', code: 'ETIMEDOUT', errno: -110, syscall: 'fcntl', path: p });
    await expect(lockFile(p, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(lockFile(p, { kind: 'flock', timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'flock' });
    expect(() => lockFileSync(p, { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'fcntl', message: `ETIMEDOUT: timed out after 30 ms waiting for the lock, fcntl '${p}'` }));
    expect(() => lockFileSync(p, { kind: 'flock', timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'flock' }));
    expect(await fdsSettle(before)).toEqual([]);
  });

  test('an AbortSignal rejects with AbortError; a lock granted after the abort is released again; nothing left open', async () => {
    const p = file();
    const fd = openSync(p, 'r+');
    let held = await lockFile(p);
    const before = openFds();
    await expect(lockFile(p, { signal: AbortSignal.abort('early') })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'early' });
    for (let i = 0; i < 20; i++) {
      // Abort just as the holder lets go, so that some waits are granted after JavaScript gave up.
      const ac = new AbortController();
      const pending = lockFile(fd, { signal: ac.signal });
      await new Promise((resolve) => setTimeout(resolve, i % 5));
      const heldFd = String(held.fd);
      held.release();
      ac.abort();
      await expect(pending).rejects.toBeInstanceOf(AbortError);
      // Once its thread is done (its duplicate closed), whatever the wait got
      // was undone: the caller's description holds nothing.
      const settled = before.filter((f) => f !== heldFd);
      expect(await fdsSettle(settled)).toEqual([]);
      held = tryLockFile(p)!;
      expect(held).not.toBeNull();
      expect(held).not.toBeNull();
    }
    held.release();
    closeSync(fd);
  });
});

describe('between processes', () => {
  test('exclusive excludes, shared coexist, an exclusive waiter waits for a shared holder in another process', async () => {
    const p = file();
    const child = await nodeHolder(p, 'exclusive');
    expect(free(p, { mode: 'shared' })).toBe(false);
    await child.release();
    expect(free(p)).toBe(true);

    const reader = await nodeHolder(p, 'shared');
    using mine = tryLockFile(p, { mode: 'shared' })!;
    expect(mine).not.toBeNull();
    mine.release();
    const writer = lockFile(p);
    expect(await state(writer)).toBe('pending');
    await reader.release();
    (await writer).release();
  });

  test('disjoint byte ranges in two processes do not conflict', async () => {
    const p = file();
    const child = await nodeHolder(p, 'exclusive,ofd,0,4096');
    using mine = tryLockFile(p, { start: 4096, length: 4096 })!;
    expect(mine).not.toBeNull();
    expect(free(p, { start: 4095, length: 1 })).toBe(false);
    await child.release();
  });

  test('a holder killed with SIGKILL releases at once: a pending lockFile() resolves', async () => {
    const p = file();
    const child = await nodeHolder(p);
    const pending = lockFile(p);
    expect(await state(pending)).toBe('pending');
    const t0 = process.hrtime.bigint();
    child.child.kill('SIGKILL');
    const lock = await pending;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(await child.exited).toMatchObject({ signal: 'SIGKILL' });
    lock.release();
    console.log(`lock granted ${ms.toFixed(1)} ms after SIGKILL of its holder`);
  });

  test('lockFileSync without a timeout blocks in the kernel until the holder lets go', async () => {
    const p = file();
    const child = holder(process.execPath, [fixture('file-lock.js'), 'hold', p, '', '150']);
    await child;
    const lock = lockFileSync(p);
    expect((await (await child).exited).code).toBe(0);
    lock.release();
  });

  test('a sync timeout holds through a signal storm (EINTR does not restart the clock)', async () => {
    expectTimedOut(await runInSignalStorm('file-lock.js', ['timeoutInStorm', file(), '300']), 290, 'fcntl');
  });
});

describe('with other implementations', () => {
  test('Python holding an OFD lock (fcntl F_OFD_SETLKW, struct flock) blocks us, and ours blocks Python', async () => {
    const p = file();
    const py = await pythonHolder(p, 'ofd', 'w', [0, 10]);
    expect(free(p, { start: 5, length: 1 })).toBe(false);
    expect(free(p, { start: 10, length: 1 })).toBe(true);
    const pending = lockFile(p, { start: 0, length: 1 });
    expect(await state(pending)).toBe('pending');
    await py.release();
    const lock = await pending;
    expect(await pythonTry(p, 'ofd', 'w', [0, 1])).toBe('busy');
    expect(await pythonTry(p, 'ofd', 'r', [1, 1])).toBe('locked');
    // Python waits (F_OFD_SETLKW) until we let go.
    const waiter = pythonHolder(p, 'ofd', 'r', [0, 1]);
    expect(await state(waiter)).toBe('pending');
    lock.release();
    await (await waiter).release();
  });

  test('classic POSIX locks (Python fcntl.lockf) and OFD locks conflict; flock(2) locks do not interact with either', async () => {
    const p = file();
    const py = await pythonHolder(p, 'posix', 'w');
    expect(free(p, { mode: 'shared' })).toBe(false);
    expect(free(p, { kind: 'flock' })).toBe(true);
    await py.release();
    using mine = await lockFile(p, { mode: 'shared' });
    expect(mine.mode).toBe('shared');
    expect(await pythonTry(p, 'posix', 'w')).toBe('busy');
    expect(await pythonTry(p, 'posix', 'r')).toBe('locked');
    expect(await pythonTry(p, 'flock', 'w')).toBe('locked');
  });

  test('flock(1) from util-linux, Python\'s fcntl.flock and kind: \'flock\' exclude each other', async () => {
    const p = file();
    const shell = await holder('flock', [p, '-c', 'echo locked; cat >/dev/null']);
    expect(free(p, { kind: 'flock', mode: 'shared' })).toBe(false);
    expect(free(p)).toBe(true);
    const pending = lockFile(p, { kind: 'flock' });
    expect(await state(pending)).toBe('pending');
    await shell.release();
    using mine = await pending;
    expect(await pythonTry(p, 'flock', 'r')).toBe('busy'); // Python's fcntl.flock too
    expect(await run('flock', ['-n', p, 'true'])).toMatchObject({ code: 1 });
    expect(await run('flock', ['-n', '-s', p, 'true'])).toMatchObject({ code: 1 });
    mine.release();
    expect(await run('flock', ['-n', p, 'true'])).toMatchObject({ code: 0 });
  });
});

describe('waits park no pool thread and end with their environment', () => {
  test('64 pending lockFile() calls: fs.promises.readFile stays prompt; all are granted in turn', async () => {
    const p = file();
    const held = await lockFile(p, { mode: 'shared' });
    const pending = Array.from({ length: 64 }, () => lockFile(p));
    const t0 = process.hrtime.bigint();
    // libuv's pool has 4 threads: had the waits parked them, this would never finish.
    await Promise.all(Array.from({ length: 5 }, () => readFile(__filename)));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`5 readFile() with 64 lock waits pending: ${ms.toFixed(1)} ms`);
    held.release();
    // Exclusive locks are granted one at a time: each releases and lets the next in.
    let granted = 0;
    await Promise.all(pending.map(async (w) => {
      const lock = await w;
      expect(free(p, { mode: 'shared' })).toBe(false);
      granted++;
      await new Promise((resolve) => setImmediate(resolve));
      lock.release();
    }));
    expect(granted).toBe(64);
  });

  test('worker.terminate() with waits pending completes; the worker\'s descriptors close and its locks go', async () => {
    const p = file();
    using held = await lockFile(p, { mode: 'shared' });
    const before = openFds();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { lockFile } = require(workerData.dist);
       (async () => {
         const mine = await lockFile(workerData.path, { mode: 'shared', start: 0, length: 1 });
         for (let i = 0; i < 4; i++) lockFile(workerData.path).catch(() => {});
         parentPort.postMessage(mine.fd);
       })();`,
      { eval: true, workerData: { path: p, dist: path.join(__dirname, '..', 'dist') } },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(free(p, { start: 0, length: 1 })).toBe(false);
    expect(await worker.terminate()).toBe(1);
    // Its wait threads stop within one slice and close their duplicates.
    expect(await fdsSettle(before)).toEqual([]);
    held.release();
    expect(free(p)).toBe(true);
  });

  test('process.exit() with waits pending exits at once', async () => {
    const r = await runNode('file-lock.js', ['exitWithPending', file(), '8'], { timeout: 20000 });
    expect(r).toMatchObject({ code: 7, signal: null, stderr: '' });
  });

  test('a lock held in a child that exits without release is released (process death)', async () => {
    const p = file();
    const code = `require(${JSON.stringify(path.join(__dirname, '..', 'dist'))}).lockFileSync(${JSON.stringify(p)}); process.exit(3);`;
    expect(await run(process.execPath, ['-e', code])).toMatchObject({ code: 3, stderr: '' });
    expect(free(p)).toBe(true);
  });
});

test('util.inspect shows kind, path, fd, kind, mode, range and state, held and released', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-inspect-'));
  const p = path.join(dir, 'l');
  try {
    const lock = lockFileSync(p, { create: true, mode: 'shared', start: 4, length: 8 });
    expect(inspect(lock, { breakLength: Infinity })).toBe(`FileLock { path: '${p}', fd: ${lock.fd}, kind: 'ofd', mode: 'shared', start: 4, length: 8, ref: true, closed: false }`);
    lock.release();
    expect(inspect(lock, { breakLength: Infinity })).toBe(`FileLock { path: '${p}', fd: -1, kind: 'ofd', mode: 'shared', start: 4, length: 8, ref: true, closed: true }`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

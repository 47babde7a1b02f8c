import { constants as bufferConstants } from 'node:buffer';
import { inspect } from 'node:util';
import {
  closeSync, existsSync, fstatSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { Channel, IpcError, SharedMemory } from '../lib';
import { addonPath, fdFlags, fdsOpenedSince, fixture, leftoverObjects, O_CLOEXEC, openFds, run, runNode, runWithSmallDevShm, uniqueName, withOtherUser, withUmask } from './helpers';

const made: string[] = [];

/** A fresh name that afterEach unlinks if the test left it behind. */
function name(): string {
  const n = uniqueName();
  made.push(n);
  return n;
}

const devShm = (n: string) => `/dev/shm${n}`;
const { MAX_LENGTH } = bufferConstants;

afterEach(() => {
  for (const n of made.splice(0)) rmSync(devShm(n), { force: true });
});

afterAll(() => {
  expect(leftoverObjects()).toEqual([]);
});

describe('SharedMemory.create', () => {
  test('creates a sized object in /dev/shm, mapped read-write', () => {
    const n = name();
    const shm = SharedMemory.create(n, 10000);
    expect(shm).toMatchObject({ name: n, size: 10000, readOnly: false, closed: false });
    expect(shm.fd).toBeGreaterThanOrEqual(0);
    expect(shm.buffer).toBeInstanceOf(ArrayBuffer);
    expect(shm.buffer.byteLength).toBe(10000);
    expect(statSync(devShm(n)).size).toBe(10000);
    // Zero-copy: bytes written through the view are the object's bytes.
    Buffer.from(shm.buffer).write('hello');
    expect(readFileSync(devShm(n)).subarray(0, 5).toString()).toBe('hello');
    shm.close();
  });

  test('is 0600 by default even under umask 000, and the mode is exact under any umask', () => {
    using _umask000 = withUmask(0o000);
    const a = name();
    SharedMemory.create(a, 1).close();
    expect(statSync(devShm(a)).mode & 0o777).toBe(0o600);
    using _umask077 = withUmask(0o077);
    const b = name();
    SharedMemory.create(b, 1, { mode: 0o640 }).close();
    expect(statSync(devShm(b)).mode & 0o777).toBe(0o640);
  });

  test('an anonymous segment (a memfd, which Linux makes 0777) is 0600; a Channel\'s ring 0666, to be reopened', () => {
    using _umask000 = withUmask(0o000);
    const shm = SharedMemory.anonymous(4096);
    const ring = Channel.create({ capacity: 4096 });
    try {
      expect((fstatSync(shm.fd).mode & 0o777).toString(8)).toBe('600');
      // Channel.fromFd in a process of another user reopens it through /proc (channel.test.ts shows it works).
      expect((fstatSync(ring.fd).mode & 0o777).toString(8)).toBe('666');
    } finally {
      ring.close();
      shm.close();
    }
  });

  test('reserves the pages (no sparse file)', () => {
    const n = name();
    SharedMemory.create(n, 1 << 20).close();
    expect(statSync(devShm(n)).blocks * 512).toBeGreaterThanOrEqual(1 << 20);
  });

  test('exclusive create of a taken name is EEXIST and leaves the object as it was', () => {
    const n = name();
    const first = SharedMemory.create(n, 4096);
    new Uint8Array(first.buffer)[0] = 7;
    expect(() => SharedMemory.create(n, 8192)).toThrow(IpcError);
    try {
      SharedMemory.create(n, 8192);
    } catch (err) {
      expect(err).toMatchObject({ code: 'EEXIST', errno: -17, syscall: 'shm_open', path: n });
      expect((err as Error).message).toBe(`EEXIST: file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${n}\` removes it if no process holds it), shm_open '${n}'`);
    }
    expect(statSync(devShm(n)).size).toBe(4096);
    expect(new Uint8Array(first.buffer)[0]).toBe(7);
    first.close();
  });

  test('exclusive: false opens an existing object as it is, or creates it', () => {
    const n = name();
    const created = SharedMemory.create(n, 4096, { exclusive: false });
    expect(created.size).toBe(4096);
    new Uint8Array(created.buffer)[1] = 9;
    const again = SharedMemory.create(n, 100, { exclusive: false, mode: 0o666 });
    expect(again.size).toBe(4096);
    expect(new Uint8Array(again.buffer)[1]).toBe(9);
    expect(statSync(devShm(n)).mode & 0o777).toBe(0o600);
    created.close();
    again.close();
  });

  test('exclusive: false sizes an existing object that is still empty', () => {
    const n = name();
    writeFileSync(devShm(n), '', { mode: 0o600 });
    const shm = SharedMemory.create(n, 3000, { exclusive: false });
    expect(shm.size).toBe(3000);
    shm.close();
  });

  test("'jobs' and '/jobs' are the same object", () => {
    const n = name();
    const shm = SharedMemory.create(n.slice(1), 64);
    expect(shm.name).toBe(n);
    const same = SharedMemory.open(n);
    new Uint8Array(shm.buffer)[3] = 33;
    expect(new Uint8Array(same.buffer)[3]).toBe(33);
    shm.close();
    same.close();
  });

  test('a full /dev/shm fails at create time with ENOSPC and leaves nothing behind', async () => {
    const out = await runWithSmallDevShm('shm.js', ['create', '/big', String(4 << 20)], '1m');
    expect(out.error).toMatchObject({ code: 'ENOSPC', syscall: 'posix_fallocate', path: '/big' });
    expect(out.devShm).toEqual([]);
  });

  test('running out of descriptors is EMFILE from shm_open, and nothing is half-created', async () => {
    const prefix = `${name()}-fd`;
    const r = await run('prlimit', ['--nofile=64', process.execPath, fixture('shm.js'), 'untilFailure', prefix]);
    const out = JSON.parse(r.stdout);
    expect(out.created).toBeGreaterThan(0);
    expect(out.error).toMatchObject({ code: 'EMFILE', syscall: 'shm_open' });
    expect(leftoverObjects().filter((n) => n.startsWith(prefix.slice(1)))).toEqual([]);
  });
});

describe('SharedMemory.open', () => {
  test('maps the whole object, its size from fstat', () => {
    const n = name();
    const shm = SharedMemory.create(n, 12345);
    const opened = SharedMemory.open(n);
    expect(opened).toMatchObject({ name: n, size: 12345, readOnly: false });
    new Uint8Array(opened.buffer)[12344] = 1;
    expect(new Uint8Array(shm.buffer)[12344]).toBe(1);
    shm.close();
    opened.close();
  });

  test('a missing name is ENOENT', () => {
    const n = name();
    expect(() => SharedMemory.open(n)).toThrow(expect.objectContaining({
      code: 'ENOENT', errno: -2, syscall: 'shm_open', path: n,
      message: `ENOENT: no such file or directory, shm_open '${n}'`,
    }));
  });

  test('an empty (zero-size) object is a clear error, not a crash', () => {
    const n = name();
    writeFileSync(devShm(n), '', { mode: 0o600 });
    expect(() => SharedMemory.open(n)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap', path: n }));
    expect(() => SharedMemory.open(n)).toThrow(/size 0/);
  });

  test('an object larger than an ArrayBuffer can hold is EFBIG, not a crash', () => {
    const n = name();
    writeFileSync(devShm(n), '', { mode: 0o600 });
    truncateSync(devShm(n), MAX_LENGTH * 2); // sparse: costs no memory
    expect(() => SharedMemory.open(n)).toThrow(expect.objectContaining({ code: 'EFBIG', syscall: 'mmap', path: n }));
    expect(() => SharedMemory.create(uniqueName(), MAX_LENGTH + 1)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
  });

  test('the binding survives a mapping over the ArrayBuffer limit (a JS exception, no double free)', async () => {
    const code = `
      const b = require(${JSON.stringify(addonPath())});
      const fd = b.memfdCreate(false);
      b.ftruncate(fd, 2 ** 33);
      try { b.mmap(fd, 2 ** 33, false); } catch (err) { console.log(err.code); }
    `;
    const r = await run(process.execPath, ['-e', code]);
    expect(r).toMatchObject({ code: 0, signal: null, stdout: 'ERR_BUFFER_TOO_LARGE\n' });
  });

  test('an object unlinked before open is ENOENT; one unlinked after stays usable', () => {
    const n = name();
    const shm = SharedMemory.create(n, 64);
    const opened = SharedMemory.open(n);
    shm.unlink();
    expect(existsSync(devShm(n))).toBe(false);
    new Uint8Array(opened.buffer)[0] = 5;
    expect(new Uint8Array(shm.buffer)[0]).toBe(5);
    expect(() => SharedMemory.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    shm.close();
    opened.close();
  });
});

describe('read-only handles', () => {
  test('see the writer, and a write through the view neither crashes nor reaches the object', async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    const bytes = new Uint8Array(shm.buffer);
    bytes[0] = 0x11;
    const reader = SharedMemory.open(n, { readOnly: true });
    expect(reader.readOnly).toBe(true);
    bytes[1] = 0x22; // written after the reader mapped it
    expect(new Uint8Array(reader.buffer)[1]).toBe(0x22);

    const r = await runNode('shm.js', ['writeReadOnly', n]);
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual({ readOnly: true, before: 0x11, after: 0xee });
    expect(bytes[0]).toBe(0x11);
    expect(readFileSync(devShm(n))[0]).toBe(0x11);

    expect(() => reader.resize(8192)).toThrow(expect.objectContaining({ code: 'ERR_IPC_READ_ONLY' }));
    reader.close();
    shm.close();
  });

  test('are what another uid gets from a 0644 object; read-write is EACCES; 0600 keeps it out', async () => {
    // CI runs as root, which bypasses permission checks: the other side runs as nobody.
    await withOtherUser(async (runAs) => {
      const asNobody = (n: string, readOnly: boolean) => runAs('shm.js', ['readByte', n, String(readOnly)]);
      const shared = name();
      const pub = SharedMemory.create(shared, 4096, { mode: 0o644 });
      new Uint8Array(pub.buffer)[0] = 77;
      expect(JSON.parse((await asNobody(shared, true)).stdout)).toEqual({ byte: 77, size: 4096 });
      expect(JSON.parse((await asNobody(shared, false)).stdout).error).toMatchObject({ code: 'EACCES', syscall: 'shm_open', path: shared });

      const priv = name();
      const secret = SharedMemory.create(priv, 4096);
      expect(JSON.parse((await asNobody(priv, true)).stdout).error).toMatchObject({ code: 'EACCES', syscall: 'shm_open', path: priv });
      pub.close();
      secret.close();
    });
  });
});

describe('SharedMemory.anonymous and fromFd', () => {
  test('has no name, a close-on-exec fd, and a child it is passed to writes into it', async () => {
    const shm = SharedMemory.anonymous(8192);
    expect(shm).toMatchObject({ name: null, size: 8192, readOnly: false });
    expect(readFileSync(`/proc/self/fdinfo/${shm.fd}`, 'utf8')).toMatch(/flags:\s*0*2?[0-7]*/);
    expect(fdFlags(shm.fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    const r = await run(process.execPath, [fixture('shm.js'), 'fromFd', '3', 'from the child'], {
      stdio: ['pipe', 'pipe', 'pipe', shm.fd],
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ size: 8192, name: null, readOnly: false });
    expect(Buffer.from(shm.buffer, 0, 14).toString()).toBe('from the child');
    shm.close();
  });

  test('a FIFO planted where a name should be fails to open at once, read-only too (it does not wait for a writer)', async () => {
    const n = name();
    expect(await run('mkfifo', ['-m', '600', devShm(n)])).toMatchObject({ code: 0 });
    expect(() => SharedMemory.open(n, { readOnly: true })).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap' }));
    expect(() => SharedMemory.open(n)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap' }));
  });

  test('sealed memory cannot be resized by us or by a process it was passed to', async () => {
    const shm = SharedMemory.anonymous(4096, { seal: true });
    expect(() => shm.resize(8192)).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'posix_fallocate' }));
    expect(() => shm.resize(1024)).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'ftruncate' }));
    expect(shm.size).toBe(4096);
    const r = await run('python3', ['-c', 'import os; os.ftruncate(3, 0)'], { stdio: ['pipe', 'pipe', 'pipe', shm.fd] });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PermissionError|Operation not permitted/);
    expect(new Uint8Array(shm.buffer)[4095]).toBe(0);
    shm.close();
  });

  test('an unsealed object shrunk under a mapping kills with SIGBUS (why seal exists)', async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    const r = await runNode('shm.js', ['touchAfterShrink', n]);
    expect(r.signal).toBe('SIGBUS');
    shm.close();
  });

  test('fromFd takes ownership of the descriptor only on success', () => {
    const n = name();
    const shm = SharedMemory.create(n, 64);
    const empty = name();
    writeFileSync(devShm(empty), '', { mode: 0o600 });
    const fd = openSync(devShm(empty), 'r+');
    expect(() => SharedMemory.fromFd(fd)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap' }));
    expect(fstatSync(fd).size).toBe(0); // still open and ours
    closeSync(fd);

    const fd2 = openSync(devShm(n), 'r');
    const ro = SharedMemory.fromFd(fd2);
    expect(ro).toMatchObject({ readOnly: true, size: 64, fd: fd2 });
    // One owner per descriptor: a second would close it twice.
    expect(() => SharedMemory.fromFd(fd2)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => SharedMemory.fromFd(shm.fd)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // Arguments are checked before the descriptor is looked at (no fcntl: not EBADF).
    expect(() => SharedMemory.fromFd(1_000_000, { readOnly: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(new Uint8Array(ro.buffer).byteLength).toBe(64);
    ro.close();
    expect(() => fstatSync(fd2)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    shm.close();
  });
});

describe('resize', () => {
  test('grows and shrinks, keeps the data, detaches the old buffer', () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    const oldView = new Uint8Array(shm.buffer);
    oldView[100] = 42;
    shm.resize(1 << 20);
    expect(oldView.byteLength).toBe(0);
    expect(shm.size).toBe(1 << 20);
    expect(shm.buffer.byteLength).toBe(1 << 20);
    expect(statSync(devShm(n)).size).toBe(1 << 20);
    expect(new Uint8Array(shm.buffer)[100]).toBe(42);
    new Uint8Array(shm.buffer)[(1 << 20) - 1] = 1;
    shm.resize(200);
    expect(statSync(devShm(n)).size).toBe(200);
    expect(new Uint8Array(shm.buffer)[100]).toBe(42);
    shm.resize(200); // same size: nothing to do
    expect(shm.size).toBe(200);
    shm.close();
  });

  test('validates before touching anything', () => {
    const shm = SharedMemory.anonymous(64);
    expect(() => shm.resize(0)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => shm.resize('1' as unknown as number)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(shm.buffer.byteLength).toBe(64);
    shm.close();
    expect(() => shm.resize(128)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });
});

describe('close and lifetime', () => {
  test('detaches every kind of view; use after close is ERR_IPC_CLOSED; close is idempotent', () => {
    const shm = SharedMemory.anonymous(4096);
    const ab = shm.buffer;
    const views = [new Uint8Array(ab), new Int32Array(ab), Buffer.from(ab), new Float64Array(ab, 8, 2)];
    const dataView = new DataView(ab);
    shm.close();
    expect(views.map((v) => v.byteLength)).toEqual([0, 0, 0, 0]);
    expect(views.map((v) => v.length)).toEqual([0, 0, 0, 0]);
    expect(ab.byteLength).toBe(0);
    expect(views[0][0]).toBeUndefined();
    views[1][0] = 1; // a store into a detached view is dropped, not a crash
    expect(views[1][0]).toBeUndefined();
    // ECMAScript makes every DataView access on a detached buffer a TypeError,
    // byteLength included: just as safe, and louder.
    expect(() => dataView.byteLength).toThrow(TypeError);
    expect(() => dataView.getUint8(0)).toThrow(TypeError);
    expect(shm.closed).toBe(true);
    expect(shm.fd).toBe(-1);
    expect(() => shm.buffer).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED', message: 'SharedMemory is closed' }));
    expect(() => shm.close()).not.toThrow();
  });

  test('using / Symbol.dispose closes', () => {
    let view: Uint8Array;
    {
      using shm = SharedMemory.anonymous(16);
      view = new Uint8Array(shm.buffer);
      expect(view.byteLength).toBe(16);
    }
    expect(view.byteLength).toBe(0);
  });

  test('a view keeps the memory alive after its handle is garbage; the handle\'s fd is reclaimed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // gc() also reclaims garbage of earlier tests (their fds close too), so the
    // check follows this handle's own memfd by inode, not the whole fd table.
    const holdersOf = ({ dev, ino }: { dev: number; ino: number }) => openFds().filter((fd) => {
      try {
        const st = statSync(`/proc/self/fd/${fd}`);
        return st.dev === dev && st.ino === ino;
      } catch {
        return false;
      }
    });
    let ref: WeakRef<SharedMemory>;
    let ino = { dev: 0, ino: 0 };
    const view = (() => {
      const shm = SharedMemory.anonymous(4096);
      ref = new WeakRef(shm);
      ino = fstatSync(shm.fd);
      return new Uint8Array(shm.buffer);
    })();
    expect(holdersOf(ino)).toHaveLength(1);
    view[10] = 10;
    // deref() keeps its target alive until the end of the current task, so the
    // check and the collection each get a task of their own.
    const nextTask = () => new Promise((resolve) => setImmediate(resolve));
    let collected = false;
    for (let i = 0; i < 50 && !(collected && holdersOf(ino).length === 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
      await nextTask();
      collected = ref!.deref() === undefined;
    }
    expect(collected).toBe(true);
    expect(holdersOf(ino)).toEqual([]);
    expect(view.byteLength).toBe(4096);
    expect(view[10]).toBe(10);
  });

  test('unlink: the static and the instance form; a second unlink is ENOENT', () => {
    const n = name();
    const shm = SharedMemory.create(n, 64);
    shm.close();
    shm.unlink(); // allowed after close: the name outlives the mapping
    expect(existsSync(devShm(n))).toBe(false);
    expect(() => SharedMemory.unlink(n)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_unlink', path: n }));
    const anon = SharedMemory.anonymous(64);
    expect(() => anon.unlink()).not.toThrow();
    anon.close();
  });

  test('no descriptor leaks, on success and on every failure path', () => {
    const before = openFds();
    const n = name();
    for (let i = 0; i < 50; i++) {
      const shm = SharedMemory.create(n, 4096);
      expect(() => SharedMemory.create(n, 4096)).toThrow();
      const other = SharedMemory.open(n, { readOnly: i % 2 === 0 });
      other.close();
      shm.resize(8192);
      shm.close();
      shm.unlink();
      expect(() => SharedMemory.open(n)).toThrow();
      SharedMemory.anonymous(4096, { seal: true }).close();
    }
    const empty = name();
    writeFileSync(devShm(empty), '', { mode: 0o600 });
    expect(() => SharedMemory.open(empty)).toThrow();
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('100,000 create/view/close cycles with forced GC: no crash, flat fds and RSS', async () => {
    const r = await run(process.execPath, ['--expose-gc', fixture('shm.js'), 'cycles', '100000', name()]);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const [early, late] = JSON.parse(r.stdout).samples;
    expect(late.fds).toBe(early.fds);
    // Under test:asan, ASan's quarantine of freed memory (256 MB) grows RSS by design.
    const sanitized = /libasan/.test(process.env.LD_PRELOAD ?? '');
    if (!sanitized) expect(late.rss - early.rss).toBeLessThan(8 * 1024 * 1024);
  });

  test('works inside a Worker, and ending the Worker closes what it left open', async () => {
    const before = openFds();
    const n = name();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { SharedMemory } = require(workerData.dist);
      const named = SharedMemory.create(workerData.name, 4096);
      const anon = SharedMemory.anonymous(4096);
      new Uint8Array(named.buffer)[0] = 99;
      parentPort.postMessage(require('node:fs').readdirSync('/proc/self/fd').length);
      setInterval(() => {}, 1000); // stays alive until terminated, handles still open
    `;
    const worker = new Worker(code, { eval: true, workerData: { name: n, dist: path.join(__dirname, '..', 'dist') } });
    const fdsInside = await new Promise<number>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(fdsInside).toBeGreaterThan(before.length);
    const seen = SharedMemory.open(n);
    expect(new Uint8Array(seen.buffer)[0]).toBe(99);
    seen.close();
    await worker.terminate();
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

describe('with worker_threads', () => {
  test('posting buffer to a Worker, even in the transfer list, copies it: the mapping never moves', async () => {
    const shm = SharedMemory.anonymous(4096);
    new Uint8Array(shm.buffer)[0] = 42;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.once('message', (ab) => {
         parentPort.once('message', () => { new Uint8Array(ab)[1] = 1; parentPort.postMessage([ab.byteLength, new Uint8Array(ab)[0]]); });
         parentPort.postMessage('got it');
       });`,
      { eval: true },
    );
    const next = () => new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    worker.postMessage(shm.buffer, [shm.buffer]);
    expect(shm.buffer.byteLength).toBe(4096); // not detached here: not transferred
    await next();
    shm.close(); // unmapped here; the Worker's copy must not care
    worker.postMessage('write');
    expect(await next()).toEqual([4096, 42]);
    await worker.terminate();
  });
});

describe('between processes', () => {
  test('two processes doing 1,000,000 Atomics.add each end at exactly 2,000,000', async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    const results = await Promise.all([runNode('shm.js', ['atomics', n, '1000000']), runNode('shm.js', ['atomics', n, '1000000'])]);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(Atomics.load(new Int32Array(shm.buffer), 0)).toBe(2_000_000);
    shm.close();
  });

  test("Python's multiprocessing.shared_memory opens and writes our segment", async () => {
    const n = name();
    const shm = SharedMemory.create(n, 4096);
    // Python < 3.13 registers opened segments with its resource tracker and
    // unlinks them at exit; unregister so the segment stays ours.
    const py = `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(shm._name, "shared_memory")
shm.buf[:6] = b"python"
print(shm.size)
shm.close()
`;
    const r = await run('python3', ['-c', py, n.slice(1)]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(Number(r.stdout) >= 4096).toBe(true);
    expect(Buffer.from(shm.buffer, 0, 6).toString()).toBe('python');
    expect(existsSync(devShm(n))).toBe(true);
    shm.close();
  });

  test("we open and read a segment that Python's multiprocessing.shared_memory created", async () => {
    const n = name();
    const py = `
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=5000)
resource_tracker.unregister(shm._name, "shared_memory")
shm.buf[:5] = b"hello"
shm.buf[4999] = 0x5a
shm.close()
`;
    const r = await run('python3', ['-c', py, n]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const shm = SharedMemory.open(n);
    expect(shm.size).toBeGreaterThanOrEqual(5000);
    expect(Buffer.from(shm.buffer, 0, 5).toString()).toBe('hello');
    expect(new Uint8Array(shm.buffer)[4999]).toBe(0x5a);
    shm.close();
    SharedMemory.unlink(n);
  });
});

test('util.inspect shows kind, name, fd, size and state, open and closed', () => {
  const n = uniqueName();
  const shm = SharedMemory.create(n, 4096);
  try {
    expect(inspect(shm, { breakLength: Infinity })).toBe(`SharedMemory { name: '${n}', fd: ${shm.fd}, size: 4096, readOnly: false, closed: false }`);
    expect(inspect({ nested: { deeper: shm } }, { depth: 0 })).toBe('{ nested: [Object] }');
    expect(inspect([shm], { depth: -1 })).toBe('[Array]');
  } finally {
    shm.close();
    SharedMemory.unlink(n);
  }
  expect(inspect(shm, { breakLength: Infinity })).toBe(`SharedMemory { name: '${n}', fd: -1, size: 4096, readOnly: false, closed: true }`);
});

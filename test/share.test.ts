import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  Channel, lockFileSync, MessageQueue, Mutex, pipe, Semaphore, SharedMemory, socketPair, spawn, UnixSocket,
} from '../lib';
import { reviveObject, shareObject } from '../lib/internal/share';
import { fdsOpenedSince, fixture, leftoverObjects, namesUnlinkedAfterEach, openFds, runNode } from './helpers';

const name = namesUnlinkedAfterEach(SharedMemory.unlink, Semaphore.unlink, MessageQueue.unlink);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  expect(leftoverObjects()).toEqual([]);
});

/**
 * Starts test/fixtures/share.js `use` with `objects` passed as Process will
 * pass them: each shared, its descriptors at numbers from 3 up in the child,
 * the description in DESC. `next()` reads the child's JSON lines.
 */
function startChild(objects: Record<string, object>) {
  const fds: Record<number, number> = {};
  let at = 3;
  const desc = Object.entries(objects).map(([key, value]) => {
    const { kind, fds: parentFds, data } = shareObject(value, `options.objects.${key}`);
    return { key, kind, data, fds: parentFds.map((fd) => ((fds[at] = fd), at++)) };
  });
  const child = spawn(process.execPath, [fixture('share.js'), 'use'], {
    stdio: ['pipe', 'pipe', 'pipe'], fds, env: { ...process.env, DESC: JSON.stringify(desc) },
  });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`child ended early: ${stderr}`);
    return JSON.parse(value as string) as Record<string, unknown>;
  };
  return { child, next, desc, stderr: () => stderr };
}

/** The text a pipe or socket carries now (one read). */
function readText(fd: number): string {
  const buffer = Buffer.alloc(64);
  return buffer.subarray(0, readSync(fd, buffer)).toString();
}

describe('every kind of object arrives open, of its own class, on the same kernel object', () => {
  test('shared memory, channels, a queue, semaphores, mutexes, a socket and a pipe end', async () => {
    const before = openFds();
    {
      const shmName = name();
      const chName = name();
      const qName = name();
      const semName = name();
      const mutexName = name();
      using anonymousShm = SharedMemory.anonymous(4096);
      using namedShm = SharedMemory.create(shmName, 4096);
      using readOnlyShm = SharedMemory.open(shmName, { readOnly: true });
      using anonymousChannel = Channel.create({ capacity: 4096 });
      using namedChannel = Channel.create(chName, { capacity: 4096 });
      using queue = MessageQueue.open(qName, { create: true, maxMessages: 4, messageSize: 64 });
      // Unlinked before the child starts: it gets the queue by its descriptor, not its name.
      queue.unlink();
      using namedSem = Semaphore.open(semName, { create: true });
      using locks = SharedMemory.anonymous(4096);
      using mutexInside = Mutex.inside(locks, 0, { init: true });
      using semInside = Semaphore.inside(locks, 64, { initial: 0 });
      using namedMutex = Mutex.open(mutexName, { create: true });
      const [here, there] = socketPair({ type: 'seqpacket' });
      using _here = here;
      const { readEnd, writeEnd } = pipe();
      using _readEnd = readEnd;

      const { child, next, desc, stderr } = startChild({
        anonymousShm, namedShm, readOnlyShm, anonymousChannel, namedChannel, queue, namedSem, semInside, mutexInside,
        namedMutex, socket: there, pipeEnd: writeEnd,
      });
      // What each descriptor is sent as: memory by fd, named channels and named semaphores/mutexes by name.
      expect(desc.map(({ key, kind, fds }) => [key, kind, fds.length])).toEqual([
        ['anonymousShm', 'SharedMemory', 1], ['namedShm', 'SharedMemory', 1], ['readOnlyShm', 'SharedMemory', 1],
        ['anonymousChannel', 'Channel', 1],
        ['namedChannel', 'Channel', 0], ['queue', 'MessageQueue', 1], ['namedSem', 'Semaphore', 0],
        ['semInside', 'Semaphore', 1], ['mutexInside', 'Mutex', 1], ['namedMutex', 'Mutex', 0],
        ['socket', 'UnixSocket', 1], ['pipeEnd', 'PipeEnd', 1],
      ]);
      const seen: Record<string, Record<string, unknown>> = {};
      for (let line = await next(); !line.ready; line = await next()) seen[line.key as string] = line;
      // The parent's copies of what only the child uses can go now.
      there.close();
      writeEnd.close();

      for (const line of Object.values(seen)) {
        expect(line.ownClass).toBe(true);
        expect((line.cloexec as boolean[]).every(Boolean)).toBe(true);
      }
      expect(seen.anonymousShm).toMatchObject({ name: null, readOnly: false });
      expect(seen.namedShm).toMatchObject({ name: shmName, readOnly: false });
      // Its descriptor is O_RDONLY: the child maps it read-only too (its write stayed private).
      expect(seen.readOnlyShm).toMatchObject({ name: shmName, readOnly: true });
      expect(seen.namedChannel).toMatchObject({ name: chName });
      expect(seen.queue).toMatchObject({ name: qName, access: 'readwrite' });
      expect(seen.namedSem).toMatchObject({ name: semName });
      expect(seen.namedMutex).toMatchObject({ name: mutexName });
      expect(seen.socket).toMatchObject({ type: 'seqpacket' });
      expect(seen.pipeEnd).toMatchObject({ direction: 'write' });

      // What the child did to its objects happened to the parent's.
      expect(Buffer.from(anonymousShm.buffer, 0, 10).toString()).toBe('from child');
      expect(Buffer.from(namedShm.buffer, 0, 10).toString()).toBe('from child');
      expect(anonymousChannel.tryReceive()?.toString()).toBe('from child');
      expect(namedChannel.tryReceive()?.toString()).toBe('from child');
      expect(queue.tryReceive()?.data.toString()).toBe('from child');
      expect(namedSem.tryAcquire()).toBe(true);
      expect(semInside.tryAcquire()).toBe(true);
      expect(mutexInside.tryLock()).toBe(false);
      expect(namedMutex.tryLock()).toBe(false);
      expect(here.tryReceive()?.data.toString()).toBe('from child');
      expect(readText(readEnd.fd)).toBe('from child');

      child.stdin!.end('done\n');
      expect(await next()).toEqual({ closed: true });
      const [code] = (await once(child, 'close')) as [number | null];
      expect({ code, stderr: stderr() }).toEqual({ code: 0, stderr: '' });
      // The child unlocked them before it closed: free, and no owner died.
      expect(mutexInside.tryLock()).toEqual({ ownerDied: false });
      mutexInside.unlock();
      expect(namedMutex.tryLock()).toEqual({ ownerDied: false });
      namedMutex.unlock();
      namedSem.unlink();
      namedMutex.unlink();
      namedShm.unlink();
      namedChannel.unlink();
    }
    // Every object above was closed by `using`: nothing the sharing opened is left.
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

describe('shareObject refuses what it cannot share', () => {
  test('anything but an open object of this package is ERR_INVALID_ARG_TYPE naming the option', () => {
    const lockPath = `/tmp${name()}.lock`;
    using shm = SharedMemory.anonymous(64);
    const lock = lockFileSync(lockPath, { create: true });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const value of [
      undefined, null, 3, 'x', {}, [], { fd: shm.fd }, Object.create(SharedMemory.prototype) as object,
      new Proxy(shm, {}), revoked.proxy, lock, SharedMemory, () => shm,
    ]) {
      expect(() => shareObject(value, 'options.objects.jobs')).toThrow(expect.objectContaining({
        name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"options.objects.jobs"'),
      }));
    }
    lock.close();
    rmSync(lockPath, { force: true });
  });

  test('a Proxy of a handle is refused without running its traps', () => {
    using shm = SharedMemory.anonymous(64);
    const trapped: string[] = [];
    const proxy = new Proxy(shm, {
      get: (t, k) => (trapped.push(String(k)), Reflect.get(t, k)),
      has: (t, k) => (trapped.push(String(k)), Reflect.has(t, k)),
      getPrototypeOf: (t) => (trapped.push('getPrototypeOf'), Reflect.getPrototypeOf(t)),
    });
    expect(() => shareObject(proxy, 'shm')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(trapped).toEqual([]);
  });

  test('an own fd property does not change the descriptor shared', () => {
    using shm = SharedMemory.anonymous(64);
    const real = shm.fd;
    Object.defineProperty(shm, 'fd', { value: 0 });
    expect(shareObject(shm, 'shm').fds).toEqual([real]);
  });

  test('a closed object, or a Mutex whose memory is closed, is ERR_IPC_CLOSED', () => {
    const closed: object[] = [];
    const shm = SharedMemory.anonymous(4096);
    const mutex = Mutex.inside(shm, 0, { init: true });
    const sem = Semaphore.inside(shm, 64, { initial: 0 });
    shm.close();
    // Still working (they map their own records), but the memory's descriptor is gone.
    expect(() => shareObject(mutex, 'm')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => shareObject(sem, 's')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    mutex.close();
    sem.close();
    const ch = Channel.create({ capacity: 4096 });
    const q = MessageQueue.open(name(), { create: true });
    q.unlink();
    const [a, b] = socketPair();
    const { readEnd, writeEnd } = pipe();
    closed.push(shm, mutex, sem, ch, q, a, b, readEnd, writeEnd);
    for (const value of closed) {
      (value as { close(): void }).close();
      expect(() => shareObject(value, 'x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    }
  });
});

describe('reviveObject trusts nothing', () => {
  test('bad kinds, descriptor lists and data are coded errors in a real child, never a crash', async () => {
    const r = await runNode('share.js', ['hostile']);
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const outcome = Object.fromEntries(lines.filter((l) => 'case' in l).map((l) => [l.case, l.error]));
    const code = (c: string) => (outcome[c] as { code?: unknown } | undefined)?.code;
    for (const c of ['kind not a string', 'fds not an array', 'fds a Proxy', 'fd a string']) {
      expect([c, code(c)]).toEqual([c, 'ERR_INVALID_ARG_TYPE']);
    }
    for (const c of [
      'unknown kind', 'inherited kind name', 'too few fds', 'too many fds', 'negative fd', 'fd past int32', 'data null',
      'data a string', 'data an array', 'data a revoked Proxy', 'data that throws', 'name a number',
      'name with a slash', 'readOnly a string', 'queue access unknown', 'mutex offset negative',
      'semaphore offset fraction', 'socket type unknown', 'pipe direction unknown', 'socket that is a file',
      'pipe end the other way', 'fd owned by a handle',
    ]) {
      expect([c, code(c)]).toEqual([c, 'ERR_INVALID_ARG_VALUE']);
    }
    // Well-formed data over the wrong descriptor: the factory's own error, from the kernel.
    expect(outcome['memory that is /dev/null']).toMatchObject({ code: 'EINVAL', syscall: 'mmap' });
    expect(outcome['queue that is /dev/null']).toMatchObject({ code: 'EBADF', syscall: 'mq_getattr' });
    expect(outcome['channel that is /dev/null']).toMatchObject({ code: 'EINVAL', syscall: 'mmap' });
    expect(lines.filter((l) => 'case' in l).every((l) => 'error' in l)).toBe(true);
    expect(lines.at(-1)).toEqual({ ownedStillWorks: true });
  });

  test('in this process too: a kind, fds and data are checked before any syscall', () => {
    expect(() => reviveObject('SharedMemory', [1e10], { name: null, readOnly: false }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => reviveObject('Process', [], {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => reviveObject('UnixSocket', [], { type: 'stream' }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // A socket this process holds as a handle is never adopted a second time.
    const [a, b] = socketPair();
    expect(() => reviveObject('UnixSocket', [a.fd], { type: 'stream' }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(a).toBeInstanceOf(UnixSocket);
    a.close();
    b.close();
  });
});

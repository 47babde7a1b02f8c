/**
 * Mutex and Semaphore inside a SharedMemory, seen from the memory's side:
 * what resize() and close() of the SharedMemory do to the objects it hosts.
 * Each object maps its record itself, so a resize that cut the record off
 * would kill the process with SIGBUS at the object's next call: those cases
 * run in a child process. (test/mutex.test.ts and test/semaphore.test.ts
 * cover the objects' own calls.)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Mutex, Semaphore, SharedMemory } from '../lib';
import { leftoverObjects, namesUnlinkedAfterEach, runNode } from './helpers';

const name = namesUnlinkedAfterEach(SharedMemory.unlink);

afterAll(() => {
  expect(leftoverObjects()).toEqual([]);
});

interface ShrinkResult {
  error: { name: string; code: string; message: string } | null;
  size: number;
  touched: unknown;
}

/** The fixture's shrinkUnder: what resize() said, the size after, and what the next call on the object returned. */
async function shrinkUnder(
  kind: string, size: number, offset: number, newSize: number, via = 'same',
): Promise<ShrinkResult> {
  const r = await runNode('shm.js', ['shrinkUnder', kind, name(), String(size), String(offset), String(newSize), via]);
  // The old code: killed by SIGBUS at the call after the resize.
  expect(r).toMatchObject({ signal: null, code: 0, stderr: '' });
  return JSON.parse(r.stdout);
}

describe.each([
  ['Mutex', Mutex.SIZE, 'object'],
  ['Semaphore', Semaphore.SIZE, 'number'],
] as const)('%s inside a SharedMemory, then shm.resize()', (kind, size, touched) => {
  test('shrinking past the object is refused with ERR_IPC_BUSY naming it, and nothing changes (the old code died of SIGBUS)', async () => {
    const out = await shrinkUnder(kind, 16384, 8192, 4096);
    expect(out.error).toMatchObject({ name: 'Error', code: 'ERR_IPC_BUSY' });
    expect(out.error!.message).toContain(`a ${kind} at offset 8192 (${size} bytes)`);
    expect(out).toMatchObject({ size: 16384, touched });
  });

  test('shrinking that cuts one byte of its record is refused too', async () => {
    const out = await shrinkUnder(kind, 16384, 8192, 8192 + size - 1);
    expect(out).toMatchObject({ error: { code: 'ERR_IPC_BUSY' }, size: 16384, touched });
  });

  test('shrinking that keeps its record whole is allowed', async () => {
    expect(await shrinkUnder(kind, 16384, 8192, 8192 + size)).toEqual({ error: null, size: 8192 + size, touched });
  });

  test('growing is allowed', async () => {
    expect(await shrinkUnder(kind, 16384, 8192, 65536)).toEqual({ error: null, size: 65536, touched });
  });

  test('once the object is closed, shrinking past it is allowed', async () => {
    expect(await shrinkUnder(kind, 16384, 8192, 4096, 'closedFirst')).toEqual({ error: null, size: 4096, touched: 'closed' });
  });

  test('it outlives the SharedMemory handle it was made in, and another handle of the memory cannot shrink it away', async () => {
    const out = await shrinkUnder(kind, 16384, 8192, 4096, 'other');
    expect(out).toMatchObject({ error: { code: 'ERR_IPC_BUSY' }, size: 16384, touched });
  });
});

test('a named Mutex opened as SharedMemory cannot be shrunk under it in the same process', async () => {
  const r = await runNode('shm.js', ['shrinkNamedMutex', name()]);
  expect(r).toMatchObject({ signal: null, code: 0, stderr: '' });
  expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'ERR_IPC_BUSY' }, touched: 'object' });
});

describe('what an inside-object pins', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const collectedSoon = async (ref: WeakRef<object>, tries = 50) => {
    for (let i = 0; i < tries && ref.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return ref.deref() === undefined;
  };

  test.each(['Mutex', 'Semaphore'])('a %s dropped without close() does not pin the size once collected', async (kind) => {
    const shm = SharedMemory.anonymous(16384);
    const ref = (() => new WeakRef(kind === 'Mutex' ? Mutex.inside(shm, 8192, { init: true }) : Semaphore.inside(shm, 8192, { initial: 1 })))();
    expect(await collectedSoon(ref)).toBe(true);
    shm.resize(4096);
    expect(shm.size).toBe(4096);
    shm.close();
  });

  test('a Mutex dropped while held pins the size for good: its record stays mapped and linked into the robust list', async () => {
    const shm = SharedMemory.anonymous(16384);
    const ref = (() => {
      const m = Mutex.inside(shm, 8192, { init: true });
      m.tryLock();
      return new WeakRef(m);
    })();
    // The handle itself may go (and does); what it held may not be cut off.
    expect(await collectedSoon(ref)).toBe(true);
    expect(() => shm.resize(4096)).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    shm.resize(8192 + Mutex.SIZE);
    expect(shm.size).toBe(8192 + Mutex.SIZE);
    shm.close();
  });

  test.each(['Mutex', 'Semaphore'])("%s.inside() checks the memory's real size, not a handle's stale one (the old code: SIGBUS for Semaphore)", async (kind) => {
    const r = await runNode('shm.js', ['insideStale', kind, name()]);
    expect(r).toMatchObject({ signal: null, code: 0, stderr: '' });
    expect(JSON.parse(r.stdout).error).toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
  });
});

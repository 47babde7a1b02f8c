/**
 * Large Buffers and typed arrays over a ProcessLink, through sealed memfds mapped on the other side, and views of
 * sealed SharedMemory by reference (lib/internal/link-transfer.ts), with real child processes
 * (test/fixtures/link-transfer.js) and Pools.
 */
import { once } from 'node:events';
import { fstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { serialize, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Pool } from '../lib/pool';
import { ProcessLink } from '../lib/process-link';
import { SharedMemory } from '../lib/shared-memory';
import {
  deserializeFromLink, forgetKept, mappingLimit, serializeForLink, TRANSFER_THRESHOLD, transferCounts, Transfers,
} from '../lib/internal/link-transfer';
import {
  fdsOpenedSince, fixture, fixtureChild, leftoverObjects, openFds, run, uniqueName, type FixtureChild,
} from './helpers';

const MiB = 1024 * 1024;
/** What each test started, undone before the leak check: links closed, children killed and reaped. */
const undo: Array<() => Promise<unknown> | void> = [];
let fdsBefore: string[] = [];

/** The memfds this process sent and holds open (named posix-ipc-transfer, less those kept for sending on). */
function memfds(): number {
  const dir = '/proc/self/fd';
  return -transferCounts().kept + readdirSync(dir).filter((fd) => {
    try {
      return readlinkSync(`${dir}/${fd}`).startsWith('/memfd:posix-ipc-transfer');
    } catch {
      return false;
    }
  }).length;
}

// A first child makes libuv open its signal pipe: before the descriptor snapshots.
beforeAll(() => run(process.execPath, ['-e', '']));
beforeEach(() => void (fdsBefore = openFds()));
afterEach(async () => {
  for (const step of undo.splice(0)) await step();
  // Received memfds kept for sending their views on stay open until their mappings are collected: closed here.
  forgetKept();
  expect([fdsOpenedSince(fdsBefore), memfds(), leftoverObjects()]).toEqual([[], 0, []]);
});

function linked(command: string, args: string[] = []): [ProcessLink, FixtureChild] {
  const link = ProcessLink.create();
  const [toChild, toParent] = link.childFds();
  const child = fixtureChild('link-transfer.js', [command, ...args], { 3: { fd: toChild }, 4: { fd: toParent } });
  const closed = once(child.proc, 'close');
  undo.push(() => link.close(), () => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    return closed;
  });
  return [link, child];
}

function next(link: ProcessLink): Promise<unknown> {
  return new Promise((resolve) => link.once('message', resolve));
}

/** The next `n` values the link delivers, in order. */
function take(link: ProcessLink, n: number): Promise<unknown[]> {
  return new Promise((resolve) => {
    const got: unknown[] = [];
    const onMessage = (value: unknown) => {
      got.push(value);
      if (got.length < n) return;
      link.off('message', onMessage);
      resolve(got);
    };
    link.on('message', onMessage);
  });
}

/** Resolves at the link's 'close' (events.once would reject at an 'error' before it). */
function closeEvent(link: ProcessLink): Promise<void> {
  return new Promise((resolve) => link.once('close', resolve));
}

/** What the echo child holds: memfds sent and not ACKed, memfds kept, memfds it wrote, inodes of those it maps. */
interface Holding {
  memfds: number;
  kept: number;
  copies: number;
  mapped: number[];
}
async function childHolding(link: ProcessLink, ask: 'memfds' | 'gc' = 'memfds'): Promise<Holding> {
  const back = next(link);
  await link.send(ask);
  return (await back) as Holding;
}

/** Asks the echo child how many memfds it sent and holds. */
async function childMemfds(link: ProcessLink): Promise<number> {
  return (await childHolding(link)).memfds;
}

/** The inodes of the memfds this process maps. */
function mappedMemfds(): number[] {
  return readFileSync('/proc/self/maps', 'utf8').split('\n')
    .filter((line) => line.includes('/memfd:posix-ipc-transfer'))
    .map((line) => Number(line.trim().split(/\s+/)[4]));
}

const kind = (value: unknown): string => Object.prototype.toString.call(value);
/** The bytes a view covers, whatever realm made it. */
const bytesOf = (v: NodeJS.ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** A view of `bytes` bytes of pseudo-random contents. */
function random(bytes: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = seed;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

describe('large views travel through sealed memfds and come back whole', () => {
  test('a 64 MiB Buffer round trip through a child: exact contents, no memfd left open on either side', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const big = random(64 * MiB, 1);
    const back = next(link);
    await link.send(big);
    const got = (await back) as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.byteLength).toBe(64 * MiB);
    expect(got.equals(big)).toBe(true);
    expect(await childMemfds(link)).toBe(0);
    expect(memfds()).toBe(0);
  });

  test('Float64Array, DataView, a subarray with a byteOffset, and an object mixing large and small views', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const floats = new Float64Array(random(8 * MiB, 2).buffer.slice(0));
    const under = random(4 * MiB, 3);
    const view = new DataView(under.buffer, under.byteOffset + 12, 2 * MiB + 5);
    const sub = random(5 * MiB, 4).subarray(1001, 1001 + 3 * MiB);
    const mixed = {
      a: random(2 * MiB, 5), b: new Int32Array(random(TRANSFER_THRESHOLD, 6).buffer.slice(0)),
      small: Buffer.from('small'), tiny: new Uint16Array([1, 2, 3]), list: [random(MiB + 8, 7), 42, 'x'],
      nested: new Map([['k', new BigInt64Array(random(2 * MiB, 8).buffer.slice(0))]]),
    };
    const back = take(link, 4);
    await Promise.all([floats, view, sub, mixed].map((v) => link.send(v)));
    const got = await back;
    const [f, d, s, m] = got as [Float64Array, DataView, Buffer, typeof mixed];
    expect(kind(f)).toBe('[object Float64Array]');
    expect(f.length).toBe(floats.length);
    expect(bytesOf(f).equals(bytesOf(floats))).toBe(true);
    expect(kind(d)).toBe('[object DataView]');
    expect(bytesOf(d).equals(bytesOf(view))).toBe(true);
    expect(Buffer.isBuffer(s)).toBe(true);
    expect(s.equals(sub)).toBe(true);
    expect(m.a.equals(mixed.a)).toBe(true);
    expect(kind(m.b)).toBe('[object Int32Array]');
    expect(bytesOf(m.b).equals(bytesOf(mixed.b))).toBe(true);
    expect(m.small.equals(mixed.small)).toBe(true);
    expect([...m.tiny]).toEqual([1, 2, 3]);
    expect((m.list[0] as Buffer).equals(mixed.list[0] as Buffer)).toBe(true);
    expect(m.list.slice(1)).toEqual([42, 'x']);
    const n = m.nested.get('k')!;
    expect(kind(n)).toBe('[object BigInt64Array]');
    expect(bytesOf(n).equals(bytesOf(mixed.nested.get('k')!))).toBe(true);
    expect(await childMemfds(link)).toBe(0);
  });

  test('the receiver writing into its Buffer changes neither the sender\'s nor a second receive of the memfd', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const big = random(4 * MiB, 11);
    const back = next(link);
    await link.send({ scribble: big });
    expect(await back).toEqual({ first: 0xee, memfds: 0 });
    expect(big.equals(random(4 * MiB, 11))).toBe(true);
    // In this process: the same reference received twice (its memfd still open, not yet ACKed).
    const transfers = new Transfers();
    const data = serializeForLink(transfers, Uint8Array.of(2), big);
    const peer = { pid: process.pid, ack: () => undefined };
    const first = deserializeFromLink(data.subarray(1), peer) as Buffer;
    first.fill(0xee);
    const second = deserializeFromLink(data.subarray(1), peer) as Buffer;
    expect(second.equals(big)).toBe(true);
    expect(first[0]).toBe(0xee);
    transfers.releaseAll(new Error('closed'));
  });

  test('many transfers leave no descriptor open on either side', async () => {
    const [link, child] = linked('echo');
    await child.next();
    for (let round = 0; round < 4; round++) {
      const back = take(link, 10);
      for (let i = 0; i < 10; i++) void link.send({ i, big: Buffer.alloc(MiB + i, i) });
      const got = (await back) as Array<{ i: number; big: Buffer }>;
      got.forEach((v, i) => expect(v.i === i && v.big.equals(Buffer.alloc(MiB + i, i))).toBe(true));
    }
    expect(await childMemfds(link)).toBe(0);
    expect(memfds()).toBe(0);
  });

  test('values below the threshold are written byte for byte as v8.serialize writes them', () => {
    const value = {
      a: Buffer.alloc(TRANSFER_THRESHOLD - 1, 1), b: new Float32Array(1000), c: [new DataView(new ArrayBuffer(8))],
      d: new ArrayBuffer(2 * MiB),
    };
    const data = serializeForLink(new Transfers(), Uint8Array.of(2), value);
    expect(data.subarray(1).equals(serialize(value))).toBe(true);
    expect(memfds()).toBe(0);
  });

  test('a large view is a reference on the wire: the ring carries a few dozen bytes, not the view', () => {
    const transfers = new Transfers();
    const data = serializeForLink(transfers, Uint8Array.of(2), { big: Buffer.alloc(8 * MiB) });
    expect(data.byteLength).toBeLessThan(64);
    expect(transfers.size).toBe(1);
    expect(memfds()).toBe(1);
    transfers.releaseAll(new Error('closed'));
    expect(memfds()).toBe(0);
  });
});

describe('a received view sent on unchanged is the same memfd, not a copy', () => {
  test('an echo: the child maps the parent\'s memfd and sends it back as it is; so does the parent', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const big = random(16 * MiB, 21);
    const copies = transferCounts().copies;
    let back = next(link);
    await link.send(big);
    const got = (await back) as Buffer;
    expect(got.equals(big)).toBe(true);
    const held = await childHolding(link);
    // The child wrote no memfd; the one it maps is the one the parent maps now: the parent's own, come back.
    expect([held.copies, held.memfds, held.mapped.length]).toEqual([0, 0, 1]);
    expect(mappedMemfds()).toContain(held.mapped[0]);
    expect(transferCounts().copies).toBe(copies + 1);
    // The parent sends what it received on again: no copy on either side.
    back = next(link);
    await link.send({ again: got, part: got.subarray(4 * MiB, 13 * MiB) });
    const again = (await back) as { again: Buffer; part: Buffer };
    expect(again.again.equals(big) && again.part.equals(big.subarray(4 * MiB, 13 * MiB))).toBe(true);
    expect(transferCounts().copies).toBe(copies + 1);
    expect((await childHolding(link)).copies).toBe(0);
  });

  test('a subarray covering half a received memfd goes back as (memfd, offset, length), not copied', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const floats = new Float64Array(random(8 * MiB, 22).buffer.slice(0));
    const back = next(link);
    await link.send({ sub: floats });
    const half = (await back) as Float64Array;
    expect(kind(half)).toBe('[object Float64Array]');
    expect(bytesOf(half).equals(bytesOf(floats.subarray(floats.length / 2)))).toBe(true);
    expect((await childHolding(link)).copies).toBe(0);
  });

  test('a view written in one byte after receiving goes back copied, with the byte; the sender\'s is unchanged', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const big = random(8 * MiB, 23);
    const back = next(link);
    await link.send({ poke: big, at: 5 * MiB + 3 });
    const got = (await back) as Buffer;
    expect(got[5 * MiB + 3]).toBe(0x42);
    expect(big[5 * MiB + 3]).not.toBe(0x42);
    expect(got.subarray(0, 5 * MiB + 3).equals(big.subarray(0, 5 * MiB + 3))).toBe(true);
    expect(got.subarray(5 * MiB + 4).equals(big.subarray(5 * MiB + 4))).toBe(true);
    expect(big.equals(random(8 * MiB, 23))).toBe(true);
    expect((await childHolding(link)).copies).toBe(1);
  });

  test('a received mapping collected closes the memfd kept for it', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const back = next(link);
    await link.send(random(2 * MiB, 24));
    await back;
    expect((await childHolding(link)).kept).toBe(1);
    expect(await childHolding(link, 'gc')).toMatchObject({ kept: 0, memfds: 0 });
  });
});

/** What the `shared` child answers to `{ write: view, at, byte }`. */
interface Written {
  value: number;
  kind: string;
  maps: Array<{ inode: number; perms: string }>;
}
/** Sends `value` to the child and waits for its answer. */
async function ask(link: ProcessLink, value: unknown): Promise<unknown> {
  const back = next(link);
  await link.send(value);
  return back;
}
/** A sealed anonymous SharedMemory of `size` bytes, closed after the test. */
function sealed(size: number): SharedMemory {
  const shm = SharedMemory.anonymous(size, { seal: true });
  undo.push(() => shm.close());
  return shm;
}
const inodeOf = (shm: SharedMemory): number => fstatSync(shm.fd).ino;

describe('views of sealed anonymous SharedMemory travel by reference: the same memory on both sides', () => {
  test('a value referring to more than 1,024 SharedMemory memfds is refused (ERR_IPC_CORRUPT); the link goes on', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const views = Array.from({ length: 1025 }, () => new Uint8Array(sealed(4096).buffer, 0, 16));
    void link.send({ views }).catch(() => undefined);
    expect(await child.next()).toMatchObject({
      event: 'error', error: { code: 'ERR_IPC_CORRUPT', message: expect.stringMatching(/1024 SharedMemory memfds/) },
    });
    expect(await ask(link, 'still there')).toBe('still there');
  });

  test('what goes by reference is read from the handle itself: an own `fd` or `readOnly` property shadowing it is ' +
    'ignored', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const shm = sealed(64 * 1024);
    const decoy = sealed(64 * 1024);
    const ino = inodeOf(shm);
    Object.defineProperty(shm, 'fd', { value: decoy.fd });
    Object.defineProperty(shm, 'readOnly', { value: true });
    const view = new Uint16Array(shm.buffer, 4096, 1000);
    const got = (await ask(link, { write: view, at: 7, byte: 0xbeef })) as Written;
    // The child mapped shm's own memfd, writable and shared: its write is seen here; the decoy is untouched.
    expect(got.maps).toContainEqual({ inode: ino, perms: 'rw-s' });
    expect(view[7]).toBe(0xbeef);
    expect(new Uint16Array(decoy.buffer, 4096, 1000)[7]).toBe(0);
  });

  test('the child writes into a small view and the parent sees it, and back; the child maps the same memfd shared', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const shm = sealed(64 * 1024);
    const view = new Uint16Array(shm.buffer, 4096, 1000);
    const copies = transferCounts().copies;
    const got = (await ask(link, { write: view, at: 7, byte: 0xbeef })) as Written;
    expect(got).toMatchObject({ value: 0xbeef, kind: 'Uint16Array' });
    expect(view[7]).toBe(0xbeef);
    expect(got.maps).toContainEqual({ inode: inodeOf(shm), perms: 'rw-s' });
    view[9] = 4242;
    expect(await ask(link, { peek: 9 })).toBe(4242);
    expect(transferCounts().copies).toBe(copies);
  });

  test('closing the SharedMemory right after send() is safe; the echo comes back as the same memfd', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const shm = SharedMemory.anonymous(2 * MiB, { seal: true });
    const ino = inodeOf(shm);
    new Uint8Array(shm.buffer).fill(3);
    const back = next(link);
    const sent = link.send(new Uint8Array(shm.buffer, 4096));
    shm.close();
    await sent;
    const echo = (await back) as Uint8Array;
    expect(echo.byteLength).toBe(2 * MiB - 4096);
    expect(bytesOf(echo).equals(Buffer.alloc(2 * MiB - 4096, 3))).toBe(true);
    expect(echo.byteOffset).toBe(4096);
    const mine = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('/memfd:posix-ipc (deleted)'));
    expect(mine.map((l) => Number(l.trim().split(/\s+/)[4]))).toContain(ino);
    expect(transferCounts().shared).toBeGreaterThan(0);
  });

  test.each(['process', 'thread'] as const)('a Pool task (%s) gets a SharedMemory view and returns it: the same memory comes back', async (runtime) => {
    const shm = sealed(MiB);
    const view = new Float64Array(shm.buffer, 128, 1000);
    const pool = new Pool({ file: fixture('pool-tasks.js'), size: 1, runtime });
    undo.push(() => pool.close());
    const echo = (await pool.run({ value: view }, { name: 'echo' })) as Float64Array;
    expect(kind(echo)).toBe('[object Float64Array]');
    expect([echo.length, echo.byteOffset]).toEqual([1000, 128]);
    expect(echo.buffer).not.toBe(shm.buffer);
    echo[3] = 2.5;
    expect(view[3]).toBe(2.5);
    view[4] = -1;
    expect(echo[4]).toBe(-1);
    // The same memfd again, while its first mapping lives: a view of that mapping, nothing mapped anew.
    const again = (await pool.run({ value: view.subarray(10) }, { name: 'echo' })) as Float64Array;
    expect(again.buffer).toBe(echo.buffer);
    expect([again.length, again.byteOffset, again[0]]).toEqual([990, 208, view[10]]);
  });

  test('an unsealed anonymous or a named segment\'s view is copied: the child\'s write is not seen', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const name = uniqueName();
    const named = SharedMemory.create(name, 2 * MiB);
    undo.push(() => {
      named.close();
      SharedMemory.unlink(name);
    });
    const loose = SharedMemory.anonymous(2 * MiB);
    undo.push(() => loose.close());
    for (const shm of [loose, named]) {
      const view = new Uint8Array(shm.buffer);
      const got = (await ask(link, { write: view, at: 100, byte: 9 })) as Written;
      expect(got.value).toBe(9);
      expect(view[100]).toBe(0);
      expect(got.maps.map((m) => m.inode)).not.toContain(inodeOf(shm));
    }
  });

  test('a read-only handle\'s view arrives mapped private: the child sees the memory, its writes stay its own', async () => {
    const [link, child] = linked('shared');
    await child.next();
    const shm = sealed(64 * 1024);
    const ro = SharedMemory.fromFd(openSync(`/proc/self/fd/${shm.fd}`, 'r'));
    undo.push(() => ro.close());
    expect(ro.readOnly).toBe(true);
    const got = (await ask(link, { write: new Uint8Array(ro.buffer), at: 10, byte: 5 })) as Written;
    // The write did not crash the child (no SIGSEGV): it landed in its private copy of the page.
    expect(got.value).toBe(5);
    expect(got.maps).toContainEqual({ inode: inodeOf(shm), perms: 'rw-p' });
    expect(new Uint8Array(shm.buffer)[10]).toBe(0);
    new Uint8Array(shm.buffer)[3 * 4096] = 66;
    expect(await ask(link, { peek: 3 * 4096 })).toBe(66);
  });
});

test('a view of a closed SharedMemory (detached) is refused as v8.serialize refuses it: nothing is sent or kept', () => {
  const shm = SharedMemory.anonymous(64 * 1024, { seal: true });
  const view = new Uint8Array(shm.buffer, 16);
  shm.close();
  const transfers = new Transfers();
  expect(() => serializeForLink(transfers, Uint8Array.of(2), { view })).toThrow(
    expect.objectContaining({ code: 'ERR_IPC_DATA_CLONE', name: 'DataCloneError' }),
  );
  expect(() => serialize(view)).toThrow();
  expect(transfers.size).toBe(0);
});

describe('no memfd is left open when a side goes away', () => {
  test('the receiver is SIGKILLed before reading: the sender closes its memfds when it learns', async () => {
    const [link, child] = linked('hold');
    await child.next();
    // In the ring once send() returns; its promise waits for the receiver to map it.
    const sent = link.send({ big: random(4 * MiB, 9) }).then(() => 'resolved', (err) => err.code);
    expect(memfds()).toBe(1);
    const closed = closeEvent(link);
    child.proc.kill('SIGKILL');
    await child.exit;
    // What Process does when its child exits (lib/process.ts).
    link.peerGone();
    await closed;
    expect(await sent).toBe('ERR_IPC_CLOSED');
    expect(memfds()).toBe(0);
  });

  test('send() resolves once the peer has mapped the value: a sender that awaits it and exits loses nothing', async () => {
    const [link, child] = linked('send', ['4', 'exit']);
    const got = next(link);
    expect(await child.next()).toMatchObject({ sent: true });
    const value = (await got) as { big: Buffer; small: Buffer };
    expect(value.big.equals(Buffer.alloc(4 * MiB, 3)) && value.small.toString() === 'small').toBe(true);
    expect(await child.exit).toEqual([0, null]);
  });

  test('the sender is SIGKILLed after sending: its memfds die with it, the value is ERR_IPC_CORRUPT', async () => {
    const [link, child] = linked('send', ['4']);
    expect(await child.next()).toMatchObject({ sent: true, memfds: 1 });
    child.proc.kill('SIGKILL');
    await child.exit;
    const errors: Array<{ code?: string; message: string }> = [];
    link.on('error', (err) => errors.push(err));
    const closed = closeEvent(link);
    const values: unknown[] = [];
    link.on('message', (v) => values.push(v));
    await closed;
    expect(values).toEqual([]);
    expect(errors).toMatchObject([{ code: 'ERR_IPC_CORRUPT' }, { code: 'ERR_IPC_PEER_DEAD' }]);
    expect(errors[0].message).toMatch(/cannot be opened \(ENOENT\)/);
    expect(memfds()).toBe(0);
  });
});

test('hostile references are ERR_IPC_CORRUPT and dropped, and the link goes on', async () => {
  const [link, child] = linked('hostile');
  const errors: Array<{ code?: string; message: string }> = [];
  link.on('error', (err) => errors.push(err));
  const got = next(link);
  const said = await child.next();
  expect(said).toMatchObject({ sent: 14 });
  expect(((await got) as { good: Buffer }).good.equals(Buffer.alloc(2 * MiB, 5))).toBe(true);
  expect(errors).toHaveLength(13);
  for (const err of errors) expect(err).toMatchObject({ code: 'ERR_IPC_CORRUPT' });
  const messages = errors.map((e) => e.message);
  expect(messages[0]).toMatch(/fd 99999.*cannot be opened \(ENOENT\)/);
  expect(messages[1]).toMatch(/not a memfd/);
  expect(messages[2]).toMatch(/cannot be opened \(EINVAL\)/);
  expect(messages[3]).toMatch(/not sealed against changes/);
  expect(messages[4]).toMatch(/its memfd holds 1048576 bytes/);
  expect(messages[5]).toMatch(/2097152 bytes at 4096\): its memfd holds 2097152 bytes/);
  expect(messages[6]).toMatch(/a Buffer holds 1 to/);
  expect(messages[7]).toMatch(/a Buffer holds 1 to/);
  expect(messages[8]).toMatch(/view type 77/);
  expect(messages[9]).toMatch(/not a whole number of Int16Array elements/);
  expect(messages[10]).toMatch(/names no descriptor/);
  // A SharedMemory-like memfd whose size is not sealed (a peer could truncate it under our mapping): never mapped.
  expect(messages[11]).toMatch(/shared reference .*its memfd is not sealed against resizing/);
  expect(messages[12]).toMatch(/shared reference .*not a memfd/);
  expect(readFileSync('/proc/self/maps', 'utf8')).not.toMatch(new RegExp(`\\s${(said as { unsealed: number }).unsealed}\\s`));
});

test('descriptors run out (prlimit --nofile): the send rejects EMFILE, nothing is sent, later sends go', async () => {
  const out = JSON.parse(
    (await run('prlimit', ['--nofile=64:64', process.execPath, fixture('link-transfer.js'), 'emfile'])).stdout,
  );
  expect(out).toMatchObject({
    filled: 'EMFILE',
    error: { name: 'IpcError', code: 'EMFILE', syscall: 'memfd_create' },
    memfdsBefore: 0,
    memfdsAfter: 0,
    laterSent: true,
    memfdsClosed: 0,
    bigSettled: 'ERR_IPC_CLOSED',
  });
  expect(out.sent).toBeUndefined();
});

describe('a peer\'s references cannot exhaust this process\'s mappings', () => {
  /** The hostile `references` child's values and errors, until its 'done'; the inodes of its memfds. */
  async function hostile(refs: number, count: number, values: number) {
    const [link, child] = linked('references', [String(refs), String(count), String(values)]);
    const errors: Array<{ code?: string; message: string }> = [];
    const got: unknown[] = [];
    link.on('error', (err) => errors.push(err));
    const done = new Promise<void>((resolve) => link.on('message', (v) => (v === 'done' ? resolve() : got.push(v))));
    const said = (await child.next()) as { inodes: number[] };
    await done;
    return { link, errors, got: got as Buffer[][], inodes: said.inodes };
  }
  /** How many lines of /proc/self/maps map one of `inodes`. */
  function mapsOf(inodes: number[]): number {
    return readFileSync('/proc/self/maps', 'utf8').split('\n')
      .filter((line) => inodes.includes(Number(line.trim().split(/\s+/)[4]))).length;
  }
  /** Byte j of the 16-byte view k of the child's `count` memfds. */
  const expected = (k: number, count: number): Buffer =>
    Buffer.from(Array.from({ length: 16 }, (_, j) => (7 * (k % count) + ((16 * k) % 4096) + j) & 0xff));

  test('2,000 references to one memfd in one value map it once; every view holds its own bytes', async () => {
    const { errors, got, inodes } = await hostile(2000, 1, 1);
    expect(errors).toEqual([]);
    expect(got).toHaveLength(1);
    expect(mapsOf(inodes)).toBe(1);
    const views = got[0];
    expect(views).toHaveLength(2000);
    views.forEach((v, k) => expect([k, v.equals(expected(k, 1))]).toEqual([k, true]));
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
  });

  test('a value of more than 4,096 references is refused (ERR_IPC_CORRUPT), nothing of it stays; the link goes on', async () => {
    const before = transferCounts().mapped;
    const { errors, got, inodes } = await hostile(4097, 2, 1);
    expect(got).toEqual([]);
    expect(errors).toMatchObject([{ code: 'ERR_IPC_CORRUPT', message: expect.stringMatching(/at most 4096 references/) }]);
    expect(mapsOf(inodes)).toBe(0);
    // Earlier tests' mappings may be collected meanwhile: never more than before.
    expect(transferCounts().mapped).toBeLessThanOrEqual(before);
  });

  test('past the limit of live mappings a value is refused, its mappings undone; the process and the link go on', async () => {
    const limit = mappingLimit();
    expect(limit).toBe(Math.min(4096, Math.floor(Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8')) / 8)));
    // 64 memfds a value, each mapped once in it: more values than the limit leaves room for.
    const values = Math.ceil(limit / 64) + 2;
    const { errors, got, inodes } = await hostile(64, 64, values);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.length + got.length).toBe(values);
    for (const err of errors) {
      expect(err).toMatchObject({ code: 'ERR_IPC_CORRUPT', message: expect.stringMatching(`${limit} mappings of peers`) });
    }
    // Only the values delivered map anything, once per memfd; a refused value's mappings were undone at once.
    expect(mapsOf(inodes)).toBe(got.length * 64);
    expect(transferCounts().mapped).toBeLessThanOrEqual(limit);
    got.forEach((views) => expect(views[63].equals(expected(63, 64))).toBe(true));
    // This test's mappings collected: later tests have the room again.
    got.length = 0;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 20 && transferCounts().mapped > 0; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
});

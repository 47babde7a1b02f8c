/**
 * ProcessLink (lib/process-link.ts): structured-clone values between a parent and a real child process
 * (test/fixtures/process-link.js) over two anonymous Channels.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { forgetKept } from '../lib/internal/link-transfer';
import { ProcessLink } from '../lib/process-link';
import { SharedMemory } from '../lib/shared-memory';
import { fdsOpenedSince, fixtureChild, leftoverObjects, openFds, run, type FixtureChild } from './helpers';

let fdsBefore: string[] = [];
/** What each test started: links to close and children to reap (their stdio closed) before the leak check. */
const links: ProcessLink[] = [];
const children: Array<{ proc: FixtureChild['proc']; closed: Promise<unknown> }> = [];

beforeAll(async () => {
  // Child processes make libuv open its signal pipe once; do it before the descriptor snapshots.
  await run(process.execPath, ['-e', '']);
});
beforeEach(() => {
  fdsBefore = openFds();
});
afterEach(async () => {
  for (const link of links.splice(0)) link.close();
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await c.closed;
  }
  expect(fdsOpenedSince(fdsBefore)).toEqual([]);
  expect(leftoverObjects()).toEqual([]);
});

/** Resolves at the link's 'close' (events.once would reject at an 'error' before it). */
function closeEvent(link: ProcessLink): Promise<void> {
  return new Promise((resolve) => link.once('close', resolve));
}

/**
 * Whether `received` holds the values of `sent`: v8.serialize writes it as it writes `sent` after a round trip in this
 * process (which makes arrays holey, as the link's own round trip does). Values the library deserialized are of
 * Node's own realm, not of jest's sandbox, so toEqual cannot compare their Maps and typed arrays.
 */
function sameValues(received: unknown, sent: unknown): boolean {
  return serialize(received).equals(serialize(deserialize(serialize(sent))));
}

/** What a value is, across realms: `[object Map]`. */
const kind = (value: unknown): string => Object.prototype.toString.call(value);

/** A link, and a child running `command` on its other end (the parent's copies of the descriptors stay open). */
function linked(command: string, args: string[] = [], options?: { capacity?: number }): [ProcessLink, FixtureChild] {
  const link = ProcessLink.create(options);
  const [toChild, toParent] = link.childFds();
  const child = fixtureChild('process-link.js', [command, ...args], { 3: { fd: toChild }, 4: { fd: toParent } });
  links.push(link);
  children.push({ proc: child.proc, closed: once(child.proc, 'close') });
  return [link, child];
}

/** The next `n` values the link delivers. */
function take(link: ProcessLink, n: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const got: unknown[] = [];
    const onMessage = (value: unknown) => {
      got.push(value);
      if (got.length === n) {
        link.off('message', onMessage).off('close', onClose);
        resolve(got);
      }
    };
    const onClose = () => reject(new Error(`closed after ${got.length} of ${n} values`));
    link.on('message', onMessage).on('close', onClose);
  });
}

/** Sends each value and gets it back from the echoing child. */
async function roundTrip(link: ProcessLink, values: unknown[]): Promise<unknown[]> {
  const back = take(link, values.length);
  await Promise.all(values.map((v) => link.send(v)));
  return back;
}

describe('ProcessLink', () => {
  test('objects, Maps, Sets, Dates, Buffers, typed arrays and nested values make the round trip', async () => {
    const [link, child] = linked('echo');
    expect(await child.next()).toEqual({ ready: true });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const values = [
      { a: 1, b: 'two', c: [true, null, undefined, 3.5] },
      new Map<unknown, unknown>([['k', 1], [2, new Set(['x', 'y'])]]),
      new Date(1_700_000_000_000),
      Buffer.from('bytes \u00e9'),
      new Float64Array([1.5, -2, Math.PI]),
      new Uint16Array([1, 65535]),
      { nested: { deeper: [{ map: new Map([[1, { date: new Date(0), big: 2n ** 70n }]]) }], re: /x+/gi } },
      cyclic,
      'a string',
      42,
    ];
    const back = await roundTrip(link, values);
    expect(back.map(kind)).toEqual(values.map(kind));
    expect(values.filter((value, i) => !sameValues(back[i], value))).toEqual([]);
    expect(Buffer.isBuffer(back[3]) && (back[3] as Buffer).toString()).toBe('bytes \u00e9');
    expect(Array.from(back[4] as Float64Array)).toEqual([1.5, -2, Math.PI]);
    expect((back[2] as Date).getTime()).toBe(1_700_000_000_000);
    const loop = back[7] as Record<string, unknown>;
    expect(loop.self).toBe(loop);
    expect(back.slice(8)).toEqual(['a string', 42]);
    link.close();
    await child.exit;
  });

  test('order is kept over 10,000 values each way', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const values = Array.from({ length: 10000 }, (_, i) => ({ i }));
    const back = (await roundTrip(link, values)) as Array<{ i: number }>;
    expect(back.map((v) => v.i)).toEqual(values.map((v) => v.i));
    link.close();
    await child.exit;
  });

  test('values larger than a ring message travel in chunks, intact and in order', async () => {
    const [link, child] = linked('echo', [], { capacity: 4096 });
    await child.next();
    const random = Buffer.alloc(100_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const values = [
      random,
      'small between',
      new Float64Array(50_000).map((_, i) => i / 3),
      'x'.repeat(300_000),
      Buffer.alloc(2040 - 20, 1), // around the boundary of one message (2040 bytes)
      Buffer.alloc(2040, 2),
      { last: true },
    ];
    const back = await roundTrip(link, values);
    expect(back.map(kind)).toEqual(values.map(kind));
    back.forEach((value, i) => expect(sameValues(value, values[i])).toBe(true));
    expect((back[0] as Buffer).equals(random)).toBe(true);
    link.close();
    await child.exit;
  });

  test('a value v8.serialize refuses is a DataCloneError, and nothing is sent', async () => {
    const [link, child] = linked('echo');
    await child.next();
    for (const bad of [() => 1, Symbol('s'), { f() {} }, new Proxy({}, {})]) {
      await expect(link.send(bad)).rejects.toMatchObject({ name: 'DataCloneError', code: 'ERR_IPC_DATA_CLONE' });
    }
    expect(await roundTrip(link, ['next'])).toEqual(['next']);
    await expect(link.send('x', { timeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    link.close();
    await expect(link.send('late')).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(() => link.childFds()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    await child.exit;
  });

  test('the parent closing gives the child its close, and the child exits', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const closing = closeEvent(link);
    link.close();
    link.close();
    await closing;
    expect(await child.next()).toEqual({ event: 'close' });
    expect(await child.exit).toEqual([0, null]);
  });

  test('the child closing gives the parent its close after every value, with no error', async () => {
    const [link, child] = linked('produce', ['5']);
    const errors: unknown[] = [];
    link.on('error', (err) => errors.push(err));
    const got: unknown[] = [];
    for await (const value of link) got.push(value);
    expect(got).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    expect(link.closed).toBe(true);
    expect(errors).toEqual([]);
    expect(await child.exit).toEqual([0, null]);
  });

  test('the child asking for a close from its side: the parent gets close', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const closing = closeEvent(link);
    link.on('message', () => undefined);
    await link.send('close-please');
    await closing;
    expect(await child.next()).toEqual({ event: 'close' });
    await expect(link.send('late')).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(await child.exit).toEqual([0, null]);
  });

  test('a SIGKILLed child is an ERR_IPC_PEER_DEAD error, then close', async () => {
    const [link, child] = linked('wait');
    await child.next();
    const events: string[] = [];
    const error = new Promise((resolve) => link.on('error', resolve));
    link.on('error', () => events.push('error')).on('close', () => events.push('close'));
    link.on('message', () => undefined);
    const closing = closeEvent(link);
    child.proc.kill('SIGKILL');
    expect(await error).toMatchObject({ code: 'ERR_IPC_PEER_DEAD' });
    await closing;
    expect(events).toEqual(['error', 'close']);
    expect(await child.exit).toEqual([null, 'SIGKILL']);
  });

  test('iteration throws ERR_IPC_PEER_DEAD when the child dies', async () => {
    const [link, child] = linked('wait');
    await child.next();
    child.proc.kill('SIGKILL');
    await expect((async () => {
      for await (const _ of link) throw new Error('no value was sent');
    })()).rejects.toMatchObject({ code: 'ERR_IPC_PEER_DEAD' });
    await child.exit;
    link.close();
  });

  test("an unref()'d listening child exits on its own; its exit closes the link as a goodbye", async () => {
    const [link, child] = linked('unref');
    const errors: unknown[] = [];
    link.on('error', (err) => errors.push(err));
    const closing = closeEvent(link);
    link.on('message', () => undefined);
    expect(await child.next()).toEqual({ ready: true, hasRef: false });
    expect(await child.exit).toEqual([0, null]);
    await closing;
    expect(errors).toEqual([]);
  });

  test('garbage from a hostile peer is ERR_IPC_CORRUPT, dropped, and the link goes on', async () => {
    const [link, child] = linked('garbage');
    const errors: Array<{ code?: string }> = [];
    const values: unknown[] = [];
    link.on('error', (err) => errors.push(err));
    link.on('message', (value) => values.push(value));
    await closeEvent(link);
    const { sent } = (await child.next()) as { sent: number };
    expect(errors.length).toBeGreaterThan(10);
    expect(errors.length).toBeLessThanOrEqual(sent);
    for (const err of errors) expect(err).toMatchObject({ code: 'ERR_IPC_CORRUPT' });
    expect(values[values.length - 1]).toEqual({ done: true });
    expect(await child.exit).toEqual([0, null]);
  });

  test('RAW frames (internal: compact answers) come to onRaw in order with the values; untaken, they are corrupt', async () => {
    const [link, child] = linked('raw', ['200']);
    const seen: string[] = [];
    link.onRaw = (bytes) => seen.push(bytes.toString());
    link.on('message', (value) => seen.push(`value ${(value as { i: number }).i}`));
    await closeEvent(link);
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => [`value ${i}`, `raw ${i}`]).flat());
    expect(await child.exit).toEqual([0, null]);

    const [other, second] = linked('raw', ['3']);
    const errors: Array<{ code?: string }> = [];
    const values: unknown[] = [];
    other.on('error', (err) => errors.push(err));
    other.on('message', (value) => values.push(value));
    await closeEvent(other);
    expect(values).toHaveLength(3);
    expect(errors).toHaveLength(3);
    for (const err of errors) expect(err).toMatchObject({ code: 'ERR_IPC_CORRUPT' });
    expect(await second.exit).toEqual([0, null]);
  });

  test("an exception from onRaw is the taker's (uncaught): the link stays open and the frames after it arrive", async () => {
    const [link, child] = linked('rawThrows');
    expect(await child.next()).toEqual({ ready: true });
    for (const text of ['one', 'boom', 'two']) expect(link.trySendRaw(Buffer.from(text))).toBe(true);
    await link.send('a value after them');
    link.close();
    expect(await child.next()).toEqual({ event: 'close' });
    expect(await child.next()).toEqual({
      took: ['one', 'boom', 'two'], values: ['a value after them'], uncaught: ['the taker threw'], closedByPeer: true,
    });
    expect(await child.exit).toEqual([0, null]);
  });

  test('values taken one at a time (once, with pauses between) all arrive, in order', async () => {
    const [link, child] = linked('produce', ['30']);
    const got: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      got.push(...(await take(link, 1)));
      expect(link.listenerCount('message')).toBe(0);
      // Every third value, long enough for the pending receive to be given up (the link pauses).
      if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => ({ i })));
    link.on('message', () => undefined);
    await closeEvent(link);
    await child.exit;
  });

  test('a value received after the last listener went waits for the next listener', async () => {
    const [link, child] = linked('echo');
    await child.next();
    const listener = () => undefined;
    link.on('message', listener);
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        // In a timer: the receive still pending is given up only in this turn's check phase, after its poll phase,
        // where the echo (surely back after the busy wait) is taken.
        link.off('message', listener);
        void link.send('held');
        const until = performance.now() + 50;
        while (performance.now() < until);
        resolve();
      }, 1);
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await take(link, 1)).toEqual(['held']);
    link.close();
    await child.exit;
  });

  test('is made by its factories only, and inspects as what it is', () => {
    const Ctor = ProcessLink as unknown as new () => unknown;
    expect(() => new Ctor()).toThrow(expect.objectContaining({ code: 'ERR_ILLEGAL_CONSTRUCTOR' }));
    using link = ProcessLink.create({ capacity: 4096 });
    expect(link.hasRef()).toBe(true);
    expect(link.unref().hasRef()).toBe(false);
    expect(inspect(link)).toMatch(/^ProcessLink \{\s+side: 'parent',\s+toChild: \d+,\s+toParent: \d+/);
    expect(() => ProcessLink.create({ capacity: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  // The receive loop spins (polls the ring, yielding to microtasks) while values come and go, and sleeps on the
  // event loop once a spin caught nothing; a send wakes a sleeping loop to spin again.
  describe('spinning receive', () => {
    /** CPU seconds a process has used (utime + stime, /proc/<pid>/stat, in clock ticks of 10 ms). */
    function cpuTicks(pid: number): number {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      return Number(fields[11]) + Number(fields[12]);
    }

    test('values sent from many interleaved senders come back in call order', async () => {
      const [link, child] = linked('echo');
      await child.next();
      const order: number[] = [];
      const total = 4 * 2000;
      const back = take(link, total);
      const sends: Array<Promise<void>> = [];
      const send = (n: number) => {
        order.push(n);
        sends.push(link.send({ n }));
      };
      // Four senders: one that waits for each send, one that does not, one in timers, one in immediates.
      const awaited = (async () => {
        for (let i = 0; i < 2000; i++) {
          order.push(i);
          await link.send({ n: i });
        }
      })();
      for (let i = 0; i < 2000; i++) send(10000 + i);
      const timers = (async () => {
        for (let i = 0; i < 2000; i += 100) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          for (let j = i; j < i + 100; j++) send(20000 + j);
        }
      })();
      const immediates = (async () => {
        for (let i = 0; i < 2000; i += 50) {
          await new Promise((resolve) => setImmediate(resolve));
          for (let j = i; j < i + 50; j++) send(30000 + j);
        }
      })();
      await Promise.all([awaited, timers, immediates]);
      await Promise.all(sends);
      const got = ((await back) as Array<{ n: number }>).map((v) => v.n);
      expect(got).toEqual(order);
      link.close();
      await child.exit;
    });

    test('an idle link costs no CPU on either side once the traffic stops', async () => {
      const [link, child] = linked('echo');
      await child.next();
      link.on('message', () => undefined);
      // Traffic first, so that both loops have spun, then a second of nothing.
      for (let i = 0; i < 200; i++) await roundTrip(link, [i]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const parentBefore = process.cpuUsage();
      const childBefore = cpuTicks(child.proc.pid!);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const parentUs = process.cpuUsage(parentBefore);
      const childTicks = cpuTicks(child.proc.pid!) - childBefore;
      // Under 5 % of the second each: 50 ms, 5 ticks.
      expect(parentUs.user + parentUs.system).toBeLessThan(50_000);
      expect(childTicks).toBeLessThan(5);
      link.close();
      await child.exit;
    });

    test('a listener that goes mid-spin, with values in flight, gets every one later, in order', async () => {
      const [link, child] = linked('echo');
      await child.next();
      const got: number[] = [];
      let gone!: () => void;
      const paused = new Promise<void>((resolve) => (gone = resolve));
      const listener = (value: unknown) => {
        got.push((value as { i: number }).i);
        if (got.length === 50) {
          link.off('message', listener);
          gone();
        }
      };
      link.on('message', listener);
      const sends = Array.from({ length: 300 }, (_, i) => link.send({ i }));
      await paused;
      await Promise.all(sends);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(got.length).toBe(50);
      got.push(...((await take(link, 250)) as Array<{ i: number }>).map((v) => v.i));
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
      link.close();
      await child.exit;
    });

    test('a peer that dies while this side spins is ERR_IPC_PEER_DEAD, then close', async () => {
      const [link, child] = linked('echo');
      await child.next();
      const events: string[] = [];
      const error = new Promise((resolve) => link.on('error', resolve));
      link.on('error', () => events.push('error')).on('close', () => events.push('close'));
      const closing = closeEvent(link);
      let n = 0;
      // Each echo sends the next value at once: the loop spins on, and the child is killed in the middle of it.
      link.on('message', () => {
        if (++n === 200) child.proc.kill('SIGKILL');
        link.send(n).catch(() => undefined);
      });
      await link.send(0);
      expect(await error).toMatchObject({ code: 'ERR_IPC_PEER_DEAD' });
      await closing;
      expect(events).toEqual(['error', 'close']);
      expect(n).toBeGreaterThanOrEqual(200);
      expect(await child.exit).toEqual([null, 'SIGKILL']);
    });
  });
});

/** A link, and a child (test/fixtures/link-hostile.js) that speaks raw frames: `command` with `args`. */
function hostile(
  command: string, args: Array<string | number>, options?: { capacity?: number },
): [ProcessLink, FixtureChild] {
  const link = ProcessLink.create(options);
  const [toChild, toParent] = link.childFds();
  const child = fixtureChild('link-hostile.js', [command, ...args.map(String)], { 3: { fd: toChild }, 4: { fd: toParent } });
  links.push(link);
  children.push({ proc: child.proc, closed: once(child.proc, 'close') });
  return [link, child];
}

describe('ProcessLink bounds what a peer can make it hold', () => {
  test('ACKs a peer never reads: ids wait in one array, and past 16,384 the link is corrupt and closes', async () => {
    // 40,000 values, each a reference this side refuses (a descriptor that does not exist) and ACKs all the same.
    const [link, child] = hostile('acks', [40000], { capacity: 4096 });
    const errors: Array<Error & { code?: string }> = [];
    link.on('error', (err: Error) => errors.push(err));
    link.on('message', () => undefined);
    const first = await Promise.race([
      closeEvent(link).then(() => 'closed'),
      child.next().then(() => 'the peer sent all 40,000 values', () => 'the peer ended'),
    ]);
    expect(first).toBe('closed');
    const refused = errors.filter((err) => /its memfd cannot be opened/.test(err.message));
    const overrun = errors.filter((err) => /16384 ACKs unread/.test(err.message));
    expect(overrun).toEqual([expect.objectContaining({ code: 'ERR_IPC_CORRUPT' })]);
    expect(refused.length + overrun.length).toBe(errors.length);
    // One refusal (and ACK) per value: 16,385 ACKs waiting, plus what a 4 KiB ring and one frame of ids took.
    expect(refused.length).toBeGreaterThan(16384);
    expect(refused.length).toBeLessThan(16384 + 1024);
  });

  test('values held for no listener stop at 10,000: a send waiting for its ACK rejects, nothing is lost', async () => {
    const count = 25000;
    const [link, child] = hostile('flood', [count], { capacity: 4096 });
    // A large view waits for its ACK: the receive loop runs with no listener, and holds what comes before the ACK.
    const sent = link.send(Buffer.alloc(2 * 1024 * 1024, 1));
    const first = await Promise.race([
      sent.then(() => 'acked', (err: unknown) => err),
      child.next().then(() => `the peer sent all ${count} values`),
    ]);
    expect(first).toMatchObject({ code: 'ERR_IPC_PEER_OVERRUN', message: expect.stringMatching(/10000 values/) });
    // A large send made now (the receive loop has stopped: no ACK can be reached) rejects at once, not never.
    await expect(link.send(Buffer.alloc(2 * 1024 * 1024, 2))).rejects.toMatchObject({ code: 'ERR_IPC_PEER_OVERRUN' });
    // The values held come first, then those that waited in the ring (the peer waited for room): all, in order.
    const got = (await take(link, count)) as Array<{ i: number }>;
    expect(got.every((value, i) => value.i === i)).toBe(true);
  });

  test('ACKs that wait for room go together, several ids a frame, and every one arrives', async () => {
    // One value of 1,000 references to one memfd of the peer, which reads nothing until told: 1,000 ACKs of 5 bytes
    // do not fit in a 4 KiB ring.
    const [link, child] = hostile('refs', [1000], { capacity: 4096 });
    const [value] = (await take(link, 1)) as Uint8Array[][];
    expect(value).toHaveLength(1000);
    expect(value[999][0]).toBe(7);
    child.proc.stdin!.write('read\n');
    const { ids, frames } = (await child.next()) as { ids: number; frames: number };
    expect(ids).toBe(1000);
    expect(frames).toBeLessThan(1000);
    // The descriptor a received mapping keeps (lib/internal/link-transfer.ts), for the leak check.
    forgetKept();
  });

  test('links dropped without close() are collected, their descriptors closed', async () => {
    const child = fixtureChild('process-link-gc.js', ['dropped']);
    children.push({ proc: child.proc, closed: once(child.proc, 'close') });
    const { before, made, after } = (await child.next()) as { before: number; made: number; after: number };
    expect(made).toBe(before + 50 * 6);
    expect(after).toBe(before);
  });

  test('a link reachable only through its listener is not collected: it receives after collections', async () => {
    const child = fixtureChild('process-link-gc.js', ['listening']);
    children.push({ proc: child.proc, closed: once(child.proc, 'close') });
    expect(await child.next()).toEqual({ got: [{ i: 0 }, { i: 1 }, { i: 2 }] });
    expect(await child.exit).toEqual([0, null]);
  });

  /**
   * A peer's HELLO naming this very process, then a shared reference to the descriptor of this process's own sealed
   * SharedMemory: believed, this side would map its own memory and hand it to its listener as the peer's.
   */
  async function spoofed(how: 'first' | 'second', pin: boolean): Promise<Array<Error & { code?: string }>> {
    const shm = SharedMemory.anonymous(4096, { seal: true });
    try {
      new Uint8Array(shm.buffer).fill(42);
      const [link, child] = hostile('spoof', [how, process.pid, shm.fd]);
      if (pin) link.peerPid = child.proc.pid!;
      const errors: Array<Error & { code?: string }> = [];
      link.on('error', (err: Error) => errors.push(err));
      const mapped = take(link, 1).then(([value]) => `a value: ${(value as Uint8Array[])[0][0]}`);
      const refused = new Promise<string>((resolve) => link.on('error', (err: Error) => {
        if (/reference/.test(err.message)) resolve('refused');
      }));
      // Never this process's own memory (42s). The reference opens in the peer's /proc: refused, or, when the peer
      // happens to hold a sealed memfd of its own at that number (its link's ring), the peer's own bytes.
      const outcome = await Promise.race([mapped, refused]);
      expect(outcome).not.toBe('a value: 42');
      if (outcome !== 'refused') forgetKept(); // the descriptor the peer's mapping keeps, for the leak check
      child.proc.stdin!.end();
      return errors;
    } finally {
      shm.close();
    }
  }

  test('a HELLO naming another pid than the one its creator knows is refused: references open in the peer', async () => {
    const errors = await spoofed('first', true);
    expect(errors[0]).toMatchObject({ code: 'ERR_IPC_CORRUPT', message: expect.stringMatching(/HELLO says pid/) });
  });

  test('a second HELLO naming another pid is refused: the first one said who the peer is', async () => {
    const errors = await spoofed('second', false);
    expect(errors[0]).toMatchObject({ code: 'ERR_IPC_CORRUPT', message: expect.stringMatching(/HELLO says pid/) });
  });
});

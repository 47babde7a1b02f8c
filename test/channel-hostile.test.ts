// Hostile callers and hostile peers of a Channel (issue #12): arguments of
// every kind to every call, handles that are not ours, descriptors that are
// not sealed, views that lie about their length, producers killed at every
// moment, and a peer scribbling adversarial values while the victim is inside
// each call. Everything that could crash runs in a child process.
import { Channel, SharedMemory } from '../lib';
import { binding } from '../lib/binding';
import * as path from 'node:path';
import { fixtureChild, namesUnlinkedAfterEach, run, runNode, type FixtureChild } from './helpers';

const name = namesUnlinkedAfterEach(Channel.unlink);

/** A child running test/fixtures/channel.js, with its JSON lines as they come. */
const child = (args: string[], fds: Record<number, { fd: number }> = {}): FixtureChild => fixtureChild('channel.js', args, fds);

/** Runs `script` (JavaScript, given the library as `lib`) in a child, killed after 20 s: its exit and output. */
function inChild(script: string): ReturnType<typeof run> {
  const lib = path.join(__dirname, '..', 'dist');
  return run(process.execPath, ['-e', `const lib = require(${JSON.stringify(lib)}); ${script}`], { timeout: 20000 });
}

describe('Channel.fromFd and seals', () => {
  test('an unsealed memfd holding a channel is refused (ERR_IPC_CORRUPT, fd closed): its creator could truncate it under the receiver', async () => {
    const n = name();
    const model = Channel.create(n, { capacity: 256 });
    const formatted = SharedMemory.open(n);
    const unsealed = SharedMemory.anonymous(formatted.size);
    new Uint8Array(unsealed.buffer).set(new Uint8Array(formatted.buffer));
    const receiver = child(['fromFdThenReceive', '3'], { 3: unsealed });
    const first = await receiver.next();
    if (first.attached) {
      // The old code attached: shrink it under the child, which then touches the lost pages.
      unsealed.resize(4096);
      receiver.proc.stdin!.end();
      expect(await receiver.exit).toEqual([null, 'SIGBUS']);
    }
    expect(first).toEqual({ error: expect.objectContaining({ code: 'ERR_IPC_CORRUPT', message: expect.stringContaining('F_SEAL_SHRINK') }) });
    expect(await receiver.exit).toEqual([0, null]);
    // A named channel's descriptor is no sealed object either: open it by name.
    const named = child(['fromFdThenReceive', '3'], { 3: formatted });
    expect(await named.next()).toEqual({ error: expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }) });
    expect(await named.exit).toEqual([0, null]);
    // What Channel.create makes is sealed, and attaches.
    const anonymous = Channel.create({ capacity: 256 });
    anonymous.trySend('sealed');
    const fine = child(['fromFdThenReceive', '3'], { 3: anonymous });
    expect(await fine.next()).toEqual({ attached: true });
    fine.proc.stdin!.end();
    expect(await fine.next()).toEqual({ received: 'sealed' });
    expect(await fine.exit).toEqual([0, null]);
    anonymous.close();
    unsealed.close();
    formatted.close();
    model.close();
  });
});

describe('handles and raw binding calls', () => {
  test('a channel call given anything but a channel handle is -EBADF; a hot call before its side attached is -EBADF', () => {
    const ch = Channel.create({ capacity: 256 });
    const meta = new Float64Array(binding.channelMeta.SIZE);
    const handle = binding.channelAttach(ch.fd, ch.capacity + 256 + 512, meta);
    expect(typeof handle).toBe('object');
    const calls = binding.channelCalls(handle as never);
    // Neither side taken: nothing behind the hot calls yet.
    expect(calls.send(Buffer.from('x'))).toBe(-9);
    expect(calls.receive(null)).toBe(-9);
    expect(calls.receiveSync(0, 0, null)).toBe(-9);
    const pooled = calls as typeof calls & { pool(pool: unknown): number };
    expect(pooled.pool(new ArrayBuffer(64))).toBe(-9);
    for (const bad of [{}, null, 42, 'x', meta, Buffer.alloc(8), new Proxy({}, {})]) {
      expect(binding.channelClaimLane(bad as never)).toBe(-9);
      expect(binding.channelReserve(bad as never, 1)).toBe(-9);
      expect(binding.channelClose(bad as never)).toBe(-9);
      expect(binding.channelCalls(bad as never)).toBe(-9);
    }
    // A Proxy or another kind of array is no data, and nothing is sent.
    const sock = binding.channelClaimLane(handle as never);
    expect(sock).toBeGreaterThan(0);
    expect(calls.send(new Proxy(Buffer.from('x'), {}) as never)).toBe(-22);
    expect(calls.send(new Float64Array(2) as never)).toBe(-22);
    expect(calls.sendManyFrom(Buffer.from('ab'), new Proxy(new Uint32Array([1, 1]), {}) as never, 2)).toBe(-22);
    expect(binding.channelCommit(handle as never, 1)).toBe(-22); // nothing reserved
    // A meta array too short, a size past the object's end: refused before mmap.
    expect(binding.channelAttach(ch.fd, 1 << 30, new Float64Array(10))).toBe(-22);
    expect(binding.channelAttach(ch.fd, 1024, new Float64Array(9))).toBe(-22);
    expect(binding.channelAttach(ch.fd, 1024, new Float64Array(2))).toBe(-22);
    binding.channelClose(handle as never);
    binding.close(meta[0]);
    binding.close(sock);
    expect(ch.tryReceive()).toBeNull();
    ch.close();
  });
});

describe('views from the engine', () => {
  test('a remembered receive target that was detached behind an own length property: refused, nothing consumed (it wrote into unmapped memory)', async () => {
    const r = await inChild(`
      const { Channel, SharedMemory } = lib;
      const ch = Channel.create({ capacity: 4096 });
      const shm = SharedMemory.anonymous(1 << 20);
      const target = new Uint8Array(shm.buffer);
      ch.trySend('first');
      ch.tryReceiveInto(target);
      Object.defineProperty(target, 'length', { value: 1 << 20 });
      shm.close(); // detaches the view, then unmaps
      ch.trySend(Buffer.alloc(2000, 1));
      let error;
      try { ch.tryReceiveInto(target); } catch (err) { error = err.code; }
      const proxied = new Proxy(new Uint8Array(4096), {});
      let proxyError;
      try { ch.tryReceiveInto(proxied); } catch (err) { proxyError = err.code; }
      let lengthsError;
      try { ch.receiveManyInto(Buffer.alloc(4096), new Proxy(new Uint32Array(4), {})); } catch (err) { lengthsError = err.code; }
      console.log(JSON.stringify({ error, proxyError, lengthsError, still: ch.tryReceive().length }));
    `);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ error: 'ERR_INVALID_STATE', proxyError: 'ERR_INVALID_ARG_TYPE', lengthsError: 'ERR_INVALID_ARG_TYPE', still: 2000 });
  });

  test('remembered views: resized, detached, SharedArrayBuffer-backed; each call sees the real length', async () => {
    const ch = Channel.create({ capacity: 4096 });
    // Resizable ArrayBuffers (ES2024): typed loosely, the library's lib is older.
    type Resizable = new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    const rab = new (ArrayBuffer as unknown as Resizable)(64, { maxByteLength: 256 });
    const tracking = new Uint8Array(rab);
    ch.trySend(Buffer.alloc(64, 7));
    expect(ch.tryReceiveInto(tracking)).toBe(64);
    rab.resize(16);
    ch.trySend(Buffer.alloc(32, 8));
    expect(() => ch.tryReceiveInto(tracking)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    rab.resize(256);
    expect(ch.tryReceiveInto(tracking)).toBe(32);
    // Sending from a view that shrank sends what it holds now.
    rab.resize(8);
    expect(ch.trySend(tracking)).toBe(true);
    expect(ch.tryReceive()!.length).toBe(8);
    const sab = new Uint8Array(new SharedArrayBuffer(16));
    expect(ch.trySend(sab)).toBe(true);
    expect(ch.tryReceiveInto(sab)).toBe(16);
    // Detached after being remembered: refused before anything is sent or taken.
    const data = new Uint8Array(8).fill(3);
    expect(ch.trySend(data)).toBe(true);
    expect(ch.tryReceiveInto(data)).toBe(8);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(() => ch.trySend(data)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(ch.trySend('kept')).toBe(true);
    expect(() => ch.tryReceiveInto(data)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => ch.receiveSyncInto(data, { timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    await expect(ch.receiveInto(data, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    expect(ch.tryReceive()!.toString()).toBe('kept');
    expect(ch.tryReceive()).toBeNull();
    ch.close();
  });
});

describe('spinning is bounded', () => {
  test('spinNs above 1 s is a RangeError; the timeout bounds the spin (a 1 ms wait spinning up to 1 s, 30 times, in a child that is killed after 20 s)', async () => {
    const ch = Channel.create({ capacity: 256 });
    expect(() => ch.receiveSync({ timeoutMs: 5, spinNs: 3e9 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => ch.receiveSyncInto(Buffer.alloc(8), { spinNs: 1e9 + 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    ch.close();
    const r = await inChild(`
      const ch = lib.Channel.create({ capacity: 256 });
      const codes = new Set();
      for (let i = 0; i < 30; i++) { try { ch.receiveSync({ timeoutMs: 1, spinNs: 1e9 }); } catch (err) { codes.add(err.code); } }
      console.log(JSON.stringify([...codes]));
    `);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual(['ETIMEDOUT']);
  }, 60000);
});

describe('peer death, one report each', () => {
  test('eight producers killed one after another on two lanes, each next one taking a lane the moment its lock goes, before the consumer looked: eight ERR_IPC_PEER_DEAD', async () => {
    const n = name();
    // Room for all their messages: the consumer reads nothing until every producer is dead, so
    // each lane's state word only ever shows the last producer of the lane.
    const ch = Channel.create(n, { capacity: 65536, producers: 2 });
    ch.tryReceive();
    const producers = Array.from({ length: 8 }, () => child(['claimAndDie', n, '200']));
    for (const p of producers) expect(await p.exit).toEqual([null, 'SIGKILL']);
    let deaths = 0;
    let messages = 0;
    for (;;) {
      try {
        ch.receiveSync({ timeoutMs: 100, spinNs: 0 });
        messages++;
      } catch (err) {
        const code = (err as { code: string }).code;
        if (code === 'ETIMEDOUT') break;
        expect(code).toBe('ERR_IPC_PEER_DEAD');
        deaths++;
      }
    }
    expect(messages).toBe(8 * 200);
    expect(deaths).toBe(8);
    ch.close();
  }, 60000);
});

describe('a peer scribbling adversarial values', () => {
  test('every field, and every byte in turn, of the header and the lanes, while the victim is inside each call (attach too): ERR_IPC_CORRUPT or a correct result, never a crash or a hang', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 1024, producers: 2 });
    ch.close(); // the victim attaches by itself
    const scribbler = child(['scribbleFields', n, '8000']);
    expect(await scribbler.next()).toEqual({ scribbling: true });
    const victim = await runNode('channel.js', ['victim', n, '8000'], { timeout: 30000 });
    expect(await scribbler.exit).toEqual([0, null]);
    expect(victim).toMatchObject({ code: 0, signal: null, stderr: '' });
    const { outcomes } = JSON.parse(victim.stdout) as { outcomes: Record<string, number> };
    const codes = new Set(Object.keys(outcomes).map((k) => k.split(': ')[1]));
    // ETIMEDOUT: a wait with nothing there; EMSGSIZE: a scribbled length longer than the target;
    // PEER_DEAD: a state word said 'active' with nobody's lock; BUSY: a fresh handle while the last is still the
    // consumer's... never.
    for (const code of codes) expect(['ok', 'ERR_IPC_CORRUPT', 'ETIMEDOUT', 'EMSGSIZE', 'ERR_IPC_PEER_DEAD']).toContain(code);
    expect(codes).toContain('ERR_IPC_CORRUPT');
    expect(Object.keys(outcomes).some((k) => k.startsWith('attach'))).toBe(true);
  }, 60000);
});

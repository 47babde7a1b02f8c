import { fstatSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync as write } from 'node:fs';
import { inspect } from 'node:util';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { Channel, SharedMemory, spawn as spawnWithFds } from '../lib';
import { fdsOpenedSince, fixture, fixtureChild, leftoverObjects, namesUnlinkedAfterEach, openFds, run, runWithSmallDevShm, withOtherUser, withUmask, type FixtureChild } from './helpers';

/** A fresh channel name that afterEach unlinks if the test left it behind. */
const name = namesUnlinkedAfterEach(Channel.unlink);

/** Header, lane table, rings: the offsets of docs/channel-format.md. */
const HEADER = 256;
const LANE = 512;
const TAIL = 0;
const HEAD = 64;
const BOX_TAKEN = 72;
const BOX = 256; // the mailbox's word: length (4 bytes), sequence number (4); then the data
const BOX_MAX = 248;

/** A child running test/fixtures/channel.js, with its JSON lines as they come. */
const child = (args: string[], fds: Record<number, { fd: number }> = {}): FixtureChild => fixtureChild('channel.js', args, fds);

/** The message a fixture producer sends: "<pid>:<i>:" padded with 'x'. */
function parse(msg: Buffer): { pid: number; i: number } {
  const [pid, i] = msg.toString().split(':');
  return { pid: Number(pid), i: Number(i) };
}

describe('Channel.create / open', () => {
  test('named: exact mode 0600 under umask 0, EEXIST, open, unlink; nothing left behind', () => {
    const n = name();
    const fdsBefore = openFds();
    const ch = withUmask(0, () => Channel.create(n, { capacity: 4096 }));
    expect(statSync(`/dev/shm${n}`).mode & 0o777).toBe(0o600);
    expect(ch).toMatchObject({ name: n, capacity: 4096, producers: 1, maxMessageSize: 2040, closed: false });
    expect(() => Channel.create(n)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'shm_open', path: n }));
    const other = Channel.open(n);
    expect(other).toMatchObject({ capacity: 4096, producers: 1 });
    other.close();
    ch.close();
    ch.close();
    expect(ch.closed).toBe(true);
    Channel.unlink(n);
    expect(leftoverObjects()).toEqual([]);
    expect(fdsOpenedSince(fdsBefore)).toEqual([]);
    expect(() => Channel.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'shm_open' }));
  });

  test('mode is exact; producers sizes the lane table', () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 64, producers: 3, mode: 0o640 });
    expect(statSync(`/dev/shm${n}`)).toMatchObject({ size: HEADER + 3 * (LANE + 64) });
    expect(statSync(`/dev/shm${n}`).mode & 0o777).toBe(0o640);
    expect(ch.maxMessageSize).toBe(24);
    ch.close();
  });

  test('bad options fail before any syscall', () => {
    for (const capacity of [0, 32, 100, 2 ** 31, 1.5]) {
      expect(() => Channel.create({ capacity })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    }
    expect(() => Channel.create({ producers: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Channel.create({ capacity: '64' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => Channel.create({ capacity: 2 ** 30, producers: 8 })).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => Channel.create('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(leftoverObjects()).toEqual([]);
  });

  test('a segment that is not a channel is ERR_IPC_CORRUPT, and nothing stays open', () => {
    const n = name();
    const fdsBefore = openFds();
    const shm = SharedMemory.create(n, 100);
    expect(() => Channel.open(n)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }));
    shm.close();
    expect(fdsOpenedSince(fdsBefore)).toEqual([]);
  });

  test('a full /dev/shm fails at create time with ENOSPC and leaves nothing behind', async () => {
    // A 1 MiB /dev/shm; the channel needs 16 MiB and some.
    const out = await runWithSmallDevShm('channel.js', ['create', '/big', String(16 << 20)], '1m');
    expect(out).toEqual({ error: expect.objectContaining({ code: 'ENOSPC', syscall: 'posix_fallocate', path: '/big' }), devShm: [] });
  });

  test('out of descriptors while attaching: the error names the call that failed (open), and nothing stays open', async () => {
    const n = name();
    const code = `
      const fs = require('node:fs');
      const { Channel } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const ch = Channel.create(${JSON.stringify(n)}, { capacity: 4096 });
      const base = fs.readdirSync('/proc/self/fd').length;
      // Every descriptor but one: shm_open takes it, and the open of the lane lock's own description fails.
      const held = [];
      try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
      fs.closeSync(held.pop());
      let out;
      try { Channel.open(${JSON.stringify(n)}); out = 'opened'; } catch (e) { out = { code: e.code, syscall: e.syscall, path: e.path }; }
      for (const fd of held) fs.closeSync(fd);
      const leaked = fs.readdirSync('/proc/self/fd').length - base;
      ch.close();
      Channel.unlink(${JSON.stringify(n)});
      console.log(JSON.stringify({ out, leaked }));
    `;
    const r = await run('prlimit', ['--nofile=64:64', process.execPath, '-e', code]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ out: { code: 'EMFILE', syscall: 'open', path: n }, leaked: 0 });
  });

  test('another uid: a 0600 channel is EACCES to it, one made 0666 takes its messages', async () => {
    const priv = name();
    const pub = name();
    const mine = Channel.create(priv);
    const shared = Channel.create(pub, { mode: 0o666 });
    await withOtherUser(async (runAs) => {
      const send = async (n: string) => JSON.parse((await runAs('channel.js', ['sendOne', n, 'from nobody'])).stdout);
      expect((await send(priv)).error).toMatchObject({ code: 'EACCES', syscall: 'shm_open', path: priv });
      expect(await send(pub)).toEqual({ ok: true });
    });
    expect(shared.tryReceive()!.toString()).toBe('from nobody');
    expect(mine.tryReceive()).toBeNull();
    mine.close();
    shared.close();
  });

  test('another uid handed an anonymous channel\'s descriptor attaches and sends (the memfd is reopened)', async () => {
    const ch = Channel.create({ capacity: 4096 });
    await withOtherUser(async (runAs) => {
      const r = await runAs('channel.js', ['sendOneFd', '3', 'from nobody'], [], { stdio: ['ignore', 'pipe', 'pipe', ch.fd] });
      expect(JSON.parse(r.stdout)).toEqual({ ok: true });
    });
    expect(ch.tryReceive()!.toString()).toBe('from nobody');
    ch.close();
  });

  test('fromFd owns the descriptor it is given, also when attaching fails; a bad or owned one stays as it was', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-chfd-'));
    try {
      write(path.join(dir, 'empty'), '');
      write(path.join(dir, 'small'), Buffer.alloc(100));
      const empty = openSync(path.join(dir, 'empty'), 'r+');
      expect(() => Channel.fromFd(empty)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mmap' })); // cannot be mapped
      expect(() => fstatSync(empty)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      // A file cannot be sealed against shrinking: refused (test/channel-hostile.test.ts has the unsealed memfd).
      const small = openSync(path.join(dir, 'small'), 'r+');
      expect(() => Channel.fromFd(small)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT', message: expect.stringContaining('F_SEAL_SHRINK') }));
      expect(() => fstatSync(small)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      const ch = Channel.create({ capacity: 64 });
      expect(() => Channel.fromFd(ch.fd)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('already belongs') }));
      expect(ch.trySend('still mine')).toBe(true);
      ch.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sending and receiving in one process', () => {
  test('in order, full is false, wraps with every length; Buffer, TypedArray, DataView, string', () => {
    const ch = Channel.create({ capacity: 256 });
    expect(ch.tryReceive()).toBeNull();
    let sent = 0;
    while (ch.trySend(`m${sent}`)) sent++;
    // The first in the lane's mailbox, then 16-byte records in 256 bytes, less the 8 kept for the next record's header.
    expect(sent).toBe(16);
    for (let i = 0; i < sent; i++) expect(ch.tryReceive()!.toString()).toBe(`m${i}`);
    expect(ch.tryReceive()).toBeNull();
    // Every length up to the largest, around the ring many times (padding records at the end),
    // with a second message sent before the first is taken: the mailbox and the ring, or the ring
    // alone, in order. The second may not fit behind a long first one until that is taken.
    for (let i = 0; i < 2000; i++) {
      const length = i % (ch.maxMessageSize + 1);
      const second = Buffer.alloc(i % 9, ~i & 0xff);
      expect(ch.trySend(Buffer.alloc(length, i & 0xff))).toBe(true);
      const sent = ch.trySend(second);
      expect(ch.tryReceive()).toEqual(Buffer.alloc(length, i & 0xff));
      if (!sent) expect(ch.trySend(second)).toBe(true);
      expect(ch.tryReceive()).toEqual(second);
      expect(ch.tryReceive()).toBeNull();
    }
    expect(ch.trySend(new Uint16Array([0x6968]))).toBe(true);
    expect(ch.trySend(new DataView(new TextEncoder().encode('xyz').buffer, 0, 2))).toBe(true);
    expect(ch.receiveMany(10).map(String)).toEqual(['hi', 'xy']);
    expect(ch.receiveMany(10)).toEqual([]);
    ch.close();
  });

  test('copying receives: Buffers of a pool, each its own bytes, across pools; longer ones their own; the pool cannot be transferred away', async () => {
    const ch = Channel.create({ capacity: 1 << 16 });
    const kept: Buffer[] = [];
    // 64 KiB pools of 8-byte-aligned messages: 3000 of up to 100 bytes fill several.
    for (let i = 0; i < 3000; i++) {
      ch.trySend(Buffer.alloc(i % 101, i & 0xff));
      const m = i % 3 === 0 ? ch.tryReceive()!
        : i % 3 === 1 ? ch.receiveSync({ timeoutMs: 0 })!
        : (await ch.receive())!;
      expect(Buffer.isBuffer(m)).toBe(true);
      kept.push(m);
    }
    expect(kept.findIndex((m, i) => !m.equals(Buffer.alloc(i % 101, i & 0xff)))).toBe(-1);
    expect(kept[5]).toEqual(Buffer.alloc(5, 5)); // and to jest, a Buffer like any other
    kept[0].fill(7); // a Buffer of the pool is the receiver's: writing it changes no other
    expect(kept[3]).toEqual(Buffer.alloc(3, 3));
    expect(new Set(kept.map((m) => m.buffer)).size).toBeGreaterThan(1);
    // Longer than the pool takes (4 KiB): a Buffer of its own; receiveMany alike.
    const long = Buffer.alloc(5000, 'l');
    ch.trySend(long);
    ch.trySend('short');
    expect(ch.receiveMany(10)).toEqual([long, Buffer.from('short')]);
    // Transferring the pool (a received Buffer's .buffer) copies it instead: the next receive still has its pool.
    const pool = kept[kept.length - 1].buffer as ArrayBuffer;
    structuredClone(pool, { transfer: [pool] });
    expect(pool.byteLength).toBe(64 * 1024);
    ch.trySend('after');
    expect(ch.tryReceive()!.toString()).toBe('after');
    ch.close();
  });

  test('util.inspect shows the kind, name, fd, geometry, role and state', () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 256, producers: 2 });
    expect(inspect(ch)).toBe(`Channel {\n  name: '${n}',\n  fd: ${ch.fd},\n  capacity: 256,\n  producers: 2,\n  role: 'none yet',\n  lane: -1,\n  ended: false,\n  ref: true,\n  closed: false\n}`);
    ch.trySend('x');
    ch.tryReceive();
    expect(inspect(ch, { breakLength: Infinity })).toContain("role: 'producer and consumer', lane: 0");
    ch.close();
    expect(inspect(ch, { breakLength: Infinity })).toContain('fd: -1, capacity: 256, producers: 2');
    expect(inspect(ch, { breakLength: Infinity })).toContain('closed: true');
    expect(inspect({ ch }, { depth: 0 })).toBe('{ ch: [Channel] }');
  });

  test('a message over maxMessageSize is EMSGSIZE; a target too small keeps the message', () => {
    const ch = Channel.create({ capacity: 64 });
    expect(() => ch.trySend(Buffer.alloc(25))).toThrow(expect.objectContaining({ code: 'EMSGSIZE', message: expect.stringContaining('message of 25 bytes exceeds maxMessageSize 24') }));
    expect(ch.trySend('0123456789')).toBe(true);
    expect(() => ch.tryReceiveInto(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'EMSGSIZE', message: expect.stringContaining('message of 10 bytes does not fit the 4-byte target') }));
    const target = Buffer.alloc(16);
    expect(ch.tryReceiveInto(target)).toBe(10);
    expect(target.subarray(0, 10).toString()).toBe('0123456789');
    expect(ch.tryReceiveInto(target)).toBeNull();
    expect(() => ch.tryReceiveInto('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    ch.close();
  });


  test('bad arguments throw before the handle takes a role: the lane and the consumer stay free for others', async () => {
    const n = name();
    const a = Channel.create(n);
    const b = Channel.open(n);
    const bad = { code: 'ERR_INVALID_ARG_TYPE' };
    expect(() => a.trySend(42 as never)).toThrow(expect.objectContaining(bad));
    expect(() => a.sendSync({} as never)).toThrow(expect.objectContaining(bad));
    expect(() => a.trySendMany('x' as never, new Uint32Array(1))).toThrow(expect.objectContaining(bad));
    expect(() => a.reserve(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => a.tryReceiveInto('x' as never)).toThrow(expect.objectContaining(bad));
    expect(() => a.receiveManyInto(Buffer.alloc(8), [1] as never)).toThrow(expect.objectContaining(bad));
    expect(() => a.receiveMany(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => a.receiveSync({ spinNs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // A blocking call is refused a signal, as every *Sync call is (nothing runs to abort it).
    const signal = new AbortController().signal;
    const noSignal = { code: 'ERR_INVALID_ARG_VALUE' };
    expect(() => a.sendSync('x', { signal } as never)).toThrow(expect.objectContaining(noSignal));
    expect(() => a.receiveSync({ signal } as never)).toThrow(expect.objectContaining(noSignal));
    expect(() => a.receiveSyncInto(Buffer.alloc(8), { signal } as never)).toThrow(expect.objectContaining(noSignal));
    await expect(a.receive({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    // Neither role was taken by a: b can take both.
    expect(b.trySend('x')).toBe(true);
    expect(b.tryReceive()?.toString()).toBe('x');
    a.close();
    b.close();
  });

  test('trySendMany: messages packed back to back, as many as fit, each a message of its own', () => {
    const ch = Channel.create({ capacity: 256 });
    const source = Buffer.from('abcdefghij');
    expect(ch.trySendMany(source, new Uint32Array([1, 2, 3, 0, 4]))).toBe(5);
    expect(ch.receiveMany(10).map(String)).toEqual(['a', 'bc', 'def', '', 'ghij']);
    // 16-byte records in 256 bytes less 8: 15 fit, the rest is left.
    const lengths = new Uint32Array(20).fill(1);
    const many = Buffer.alloc(20, 'x');
    expect(ch.trySendMany(many, lengths)).toBe(15);
    expect(ch.trySendMany(many, lengths)).toBe(0);
    expect(ch.receiveMany(100)).toHaveLength(15);
    expect(ch.trySendMany(source, new Uint32Array([3, 3, 3]), 2)).toBe(2);
    expect(ch.receiveMany(10).map(String)).toEqual(['abc', 'def']);
    expect(() => ch.trySendMany(source, new Uint32Array([8, 8]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', name: 'RangeError' }));
    expect(() => ch.trySendMany(source, new Uint32Array([1]), 2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', name: 'RangeError' }));
    expect(() => ch.trySendMany(source, [1] as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => ch.trySendMany(Buffer.alloc(200), new Uint32Array([200]))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(ch.tryReceive()).toBeNull();
    ch.close();
  });

  test('the same buffer again (its bytes are remembered natively): new contents, other buffers in between, small, detached', () => {
    const ch = Channel.create({ capacity: 1024 });
    const a = new Uint8Array(4); // small enough to start on V8's heap
    const b = Buffer.from('bbbb');
    const into = Buffer.alloc(8);
    const other = Buffer.alloc(8);
    for (const [data, fill] of [[a, 1], [a, 2], [b, 0], [a, 3]] as const) {
      if (fill !== 0) data.fill(fill);
      expect(ch.trySend(data)).toBe(true);
      ch.sendSync(data);
    }
    const got: string[] = [];
    for (const target of [into, into, other, into, other, other, into, into]) {
      const n = target === into ? ch.tryReceiveInto(target)! : ch.receiveSyncInto(target, { timeoutMs: 0 });
      got.push(target.subarray(0, n!).toString('hex'));
    }
    expect(got).toEqual(['01010101', '01010101', '02020202', '02020202', '62626262', '62626262', '03030303', '03030303']);
    // A detached buffer is refused (ERR_INVALID_STATE), never its old bytes sent or written; nothing is sent or taken.
    structuredClone(a.buffer, { transfer: [a.buffer] });
    expect(() => ch.trySend(a)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(ch.tryReceive()).toBeNull();
    structuredClone(into.buffer, { transfer: [into.buffer] });
    expect(ch.trySend('x')).toBe(true);
    expect(() => ch.tryReceiveInto(into)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(ch.tryReceive()!.toString()).toBe('x');
    ch.close();
  });
  test('receiveManyInto: messages back to back in one buffer, lengths in another; what does not fit stays', () => {
    const ch = Channel.create({ capacity: 1024 });
    const lengths = new Uint32Array(3);
    expect(ch.receiveManyInto(Buffer.alloc(16), lengths)).toBe(0);
    for (const m of ['one', '', 'three', 'four', 'a longer fifth']) ch.trySend(m);
    const target = Buffer.alloc(12);
    // 'one', '', 'three' fill the lengths; then 'four' and not 'a longer fifth' (8 bytes left after it).
    expect(ch.receiveManyInto(target, lengths)).toBe(3);
    expect([...lengths]).toEqual([3, 0, 5]);
    expect(target.subarray(0, 8).toString()).toBe('onethree');
    expect(ch.receiveManyInto(target, lengths)).toBe(1);
    expect(lengths[0]).toBe(4);
    expect(target.subarray(0, 4).toString()).toBe('four');
    // Too long for the whole target: EMSGSIZE, and it stays.
    expect(() => ch.receiveManyInto(target, lengths)).toThrow(expect.objectContaining({ code: 'EMSGSIZE', message: expect.stringContaining('message of 14 bytes does not fit the 12-byte target') }));
    expect(ch.receiveManyInto(Buffer.alloc(14), lengths)).toBe(1);
    expect(ch.tryReceive()).toBeNull();
    expect(() => ch.receiveManyInto(target, [1] as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => ch.receiveManyInto('x' as never, lengths)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    ch.close();
    expect(() => ch.receiveManyInto(target, lengths)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });

  test('a view is the ring itself, valid until the next receive; close detaches it', () => {
    const ch = Channel.create({ capacity: 64 });
    ch.trySend('first'); // to the mailbox
    ch.trySend('second'); // to the ring
    while (ch.trySend('fill'));
    for (const expected of ['first', 'second']) {
      const view = ch.tryReceiveView()!;
      expect(view.toString()).toBe(expected);
      // The segment's own bytes, not a copy.
      expect(view.buffer.byteLength).toBe(HEADER + LANE + 64);
      // Not consumed yet: the producer can reuse neither the mailbox nor the ring's room.
      expect(ch.trySend('fill')).toBe(false);
    }
    expect(ch.receiveMany(10).map(String)).toEqual(['fill', 'fill']);
    expect(ch.trySend('fill')).toBe(true);
    const again = ch.tryReceiveView()!;
    ch.close();
    expect(again.byteLength).toBe(0);
  });

  test('the lane\'s mailbox: a conversation of small messages reuses it (the ring stays put); what comes while it is taken goes to the ring behind it', () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 1024 });
    const raw = SharedMemory.open(n);
    const lane = new DataView(raw.buffer, HEADER, LANE);
    for (let i = 0; i < 100; i++) {
      expect(ch.trySend(`ping ${i}`)).toBe(true);
      expect(ch.tryReceive()!.toString()).toBe(`ping ${i}`);
    }
    expect(lane.getBigUint64(TAIL, true)).toBe(0n);
    expect(lane.getUint32(BOX + 4, true)).toBe(100);
    expect(lane.getUint32(BOX_TAKEN, true)).toBe(100);
    // The mailbox is taken until received: b and c go to the ring, and arrive after a.
    for (const m of ['a', 'b', 'c']) expect(ch.trySend(m)).toBe(true);
    expect(lane.getUint32(BOX + 4, true)).toBe(101);
    expect(lane.getBigUint64(TAIL, true)).toBe(32n);
    expect(ch.receiveMany(10).map(String)).toEqual(['a', 'b', 'c']);
    // The conversation goes on: the producer looks at the consumer's head again and is back in the mailbox.
    for (let i = 0; i < 10; i++) {
      expect(ch.trySend(`pong ${i}`)).toBe(true);
      expect(ch.tryReceive()!.toString()).toBe(`pong ${i}`);
    }
    expect(lane.getUint32(BOX + 4, true)).toBeGreaterThanOrEqual(110);
    expect(lane.getBigUint64(TAIL, true)).toBeLessThanOrEqual(48n);
    // Longer than the mailbox holds: the ring, although the mailbox is free.
    const seq = lane.getUint32(BOX + 4, true);
    const tail = lane.getBigUint64(TAIL, true);
    const long = Buffer.alloc(BOX_MAX + 1, 'l');
    expect(ch.trySend(long)).toBe(true);
    expect(ch.tryReceive()).toEqual(long);
    expect(lane.getUint32(BOX + 4, true)).toBe(seq);
    expect(lane.getBigUint64(TAIL, true)).toBe(tail + 8n + 256n);
    raw.close();
    ch.close();
  });

  test('reserve/commit: zero-copy, shorter commits, stale and abandoned slots are never delivered', () => {
    const ch = Channel.create({ capacity: 256 });
    const slot = ch.reserve(100)!;
    expect(slot.data.byteLength).toBe(100);
    slot.data.write('in place');
    expect(ch.tryReceive()).toBeNull(); // not committed yet
    slot.commit(8);
    expect(ch.tryReceive()!.toString()).toBe('in place');
    expect(() => slot.commit()).toThrow(expect.objectContaining({ code: 'ERR_IPC_SLOT_STALE' }));
    const abandoned = ch.reserve(10)!;
    abandoned.data.write('abandoned!');
    ch.trySend('sent');
    expect(() => abandoned.commit()).toThrow(expect.objectContaining({ code: 'ERR_IPC_SLOT_STALE' }));
    expect(ch.receiveMany(5).map(String)).toEqual(['sent']);
    expect(() => ch.reserve(121)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    while (ch.trySend('fill'));
    expect(ch.reserve(8)).toBeNull();
    ch.close();
  });

  test('one consumer; one producer per lane; use after close is ERR_IPC_CLOSED', async () => {
    const n = name();
    const a = Channel.create(n, { capacity: 64, producers: 2 });
    const b = Channel.open(n);
    const c = Channel.open(n);
    a.tryReceive();
    expect(() => b.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    a.trySend('a');
    b.trySend('b');
    expect([a.lane, b.lane].sort()).toEqual([0, 1]);
    expect(() => c.trySend('c')).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY', message: expect.stringContaining('All 2 producer lanes') }));
    b.close();
    expect(c.trySend('c')).toBe(true); // b's lane is free again
    expect(a.receiveMany(10).map(String).sort()).toEqual(['a', 'b', 'c']);
    a.close();
    for (const call of [() => a.trySend('x'), () => a.tryReceive(), () => a.reserve(1), () => a.receiveSync()]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    }
    await expect(a.receive()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await expect(a.send('x')).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    c.close();
  });

  test('sync waits time out; a consumer that closed makes a waiting producer fail', () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 64, producers: 2 });
    expect(() => ch.receiveSync({ timeoutMs: 20, spinNs: 1000 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'futex' }));
    while (ch.trySend('fill'));
    expect(() => ch.sendSync('more', { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(() => ch.receiveSync({ spinNs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const producer = Channel.open(n);
    while (producer.trySend('fill'));
    ch.close(); // the consumer says goodbye
    expect(() => producer.sendSync('more', { timeoutMs: 5000 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_PEER_DEAD' }));
    producer.close();
  });
});

describe('between processes', () => {
  test('an anonymous channel passed to a child: every message once, in order', async () => {
    const ch = Channel.create({ capacity: 1024 });
    const producer = child(['produce', '3', '5000', '40', 'close'], { 3: ch });
    const seen: number[] = [];
    const target = Buffer.alloc(64);
    while (seen.length < 5000) {
      const length = ch.receiveSyncInto(target, { timeoutMs: 20000 });
      expect(length).toBe(40);
      seen.push(parse(target.subarray(0, length!)).i);
    }
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(await producer.exit).toEqual([0, null]);
    // A producer that closed is not dead: its (only) producer said goodbye, so the stream ended.
    expect(ch.receiveSync({ timeoutMs: 20000 })).toBeNull();
    expect(ch.ended).toBe(true);
    ch.close();
  });

  test('mailbox and ring mixed: bursts and lulls, small and large messages, every one once and in order', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 4096 });
    const raw = SharedMemory.open(n);
    const lane = new DataView(raw.buffer, HEADER, LANE);
    const count = 20000;
    const producer = child(['mixed', n, String(count)]);
    const target = Buffer.alloc(512);
    let pid = 0;
    for (let i = 0; i < count; i++) {
      // Spinning, sleeping and polling receives alike.
      let length: number | null;
      if (i % 3 === 2) while ((length = ch.tryReceiveInto(target)) === null);
      else length = ch.receiveSyncInto(target, { timeoutMs: 20000, spinNs: i % 3 === 0 ? 50000 : 0 });
      const msg = target.subarray(0, length!).toString();
      pid ||= parse(target.subarray(0, length!)).pid;
      const head = `${pid}:${i}:`;
      if (msg !== head.padEnd(Math.max((i * 37) % 301, head.length), 'x')) throw new Error(`message ${i}: ${JSON.stringify(msg.slice(0, 40))}`);
    }
    expect(await producer.next()).toEqual({ pid });
    expect(await producer.exit).toEqual([0, null]);
    // Both ways were taken. How often the mailbox is free for the next send
    // depends on how fast the consumer runs: 11 times of 20,000 under the
    // ASan build on a loaded machine, hundreds on a quiet one.
    expect(lane.getUint32(BOX + 4, true)).toBeGreaterThan(0);
    expect(lane.getBigUint64(TAIL, true)).toBeGreaterThan(100000n);
    expect(ch.tryReceive()).toBeNull();
    raw.close();
    ch.close();
  });

  test('a C producer (include/posix-ipc/ring.h) and a Node consumer', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-channel-'));
    try {
      const exe = path.join(dir, 'channel-producer');
      const include = path.join(__dirname, '..', 'include');
      expect(await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', `-I${include}`, '-o', exe, fixture('channel-producer.c'), '-lrt'])).toMatchObject({ code: 0, stderr: '' });
      const n = name();
      const ch = Channel.create(n, { capacity: 128, endWhenIdle: true });
      ch.tryReceive();
      const producer = run(exe, [n, '3000']);
      const got: string[] = [];
      // The C producer closes cleanly (pipc_ring_close_lane): the iteration ends after its last message.
      for await (const msg of ch) got.push(msg.toString());
      expect(got).toEqual(Array.from({ length: 3000 }, (_, i) => `c:${i}`));
      expect(ch.ended).toBe(true);
      expect(await producer).toMatchObject({ code: 0, stderr: '' });
      ch.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('MPSC: four producer processes, each message once, in order per producer', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 512, producers: 4 });
    ch.tryReceive();
    const producers = [0, 1, 2, 3].map(() => child(['produce', n, '2000', String(8 + Math.floor(Math.random() * 60)), 'close']));
    const next = new Map<number, number>();
    for (let got = 0; got < 8000; got++) {
      const { pid, i } = parse((await ch.receive({ timeoutMs: 20000 }))!);
      expect(i).toBe(next.get(pid) ?? 0);
      next.set(pid, i + 1);
    }
    expect([...next.values()]).toEqual([2000, 2000, 2000, 2000]);
    for (const p of producers) expect(await p.exit).toEqual([0, null]);
    expect(ch.tryReceive()).toBeNull();
    ch.close();
  });

  test('a producer killed between reserve and commit: what it committed arrives, the rest never; its death is reported', async () => {
    const ch = Channel.create({ capacity: 4096 });
    const producer = child(['produce', '3', '100', '20', 'reserve-kill'], { 3: ch });
    for (let i = 0; i < 100; i++) expect(parse(ch.receiveSync({ timeoutMs: 20000 })!).i).toBe(i);
    expect(() => ch.receiveSync({ timeoutMs: 20000 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_PEER_DEAD' }));
    expect(await producer.exit).toEqual([null, 'SIGKILL']);
    // Reported once; afterwards an ordinary wait.
    expect(() => ch.receiveSync({ timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    // The dead producer's lane is free for the next one.
    const next = child(['produce', '3', '1', '8', 'close'], { 3: ch });
    expect(parse((await ch.receive({ timeoutMs: 20000 }))!).i).toBe(0);
    expect(await next.exit).toEqual([0, null]);
    ch.close();
  });

  test('a producer that exits 0 without close(): what it sent arrives, then ERR_IPC_PEER_DEAD says it went away without close()', async () => {
    const ch = Channel.create({ capacity: 4096 });
    const dist = JSON.stringify(path.join(__dirname, '..', 'dist'));
    const script = `const ch = require(${dist}).Channel.fromFd(3); ch.sendSync('forgot close()', { timeoutMs: 20000 });`;
    const producer = spawnWithFds(process.execPath, ['-e', script], { fds: { 3: ch }, stdio: ['ignore', 'inherit', 'inherit'] });
    const exit = once(producer, 'exit');
    expect((await ch.receive({ timeoutMs: 20000 }))!.toString()).toBe('forgot close()');
    expect(await exit).toEqual([0, null]);
    await expect(ch.receive({ timeoutMs: 20000 })).rejects.toMatchObject({
      code: 'ERR_IPC_PEER_DEAD',
      message: expect.stringMatching(/^A producer of anonymous channel \(fd \d+\) went away without close\(\) \(it exited or was killed\); everything it committed was received \(a producer that calls close\(\) before it exits is no error\)$/),
    });
    ch.close();
  });

  test('an event-loop consumer learns that its producer was killed', async () => {
    const ch = Channel.create({ capacity: 4096 });
    const producer = child(['produce', '3', '5', '20', 'kill'], { 3: ch });
    const got: number[] = [];
    await expect((async () => {
      for await (const msg of ch) got.push(parse(msg).i);
    })()).rejects.toMatchObject({ code: 'ERR_IPC_PEER_DEAD' });
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(await producer.exit).toEqual([null, 'SIGKILL']);
    // A death is not an end: the stream goes on, for the lane's next producer.
    expect(ch.ended).toBe(false);
    await expect(ch.receive({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const next = child(['produce', '3', '2', '20', 'close'], { 3: ch });
    const after: number[] = [];
    for await (const msg of ch) after.push(parse(msg).i);
    expect(after).toEqual([0, 1]);
    expect(await next.exit).toEqual([0, null]);
    ch.close();
  });

  test('a consumer killed: a producer waiting for room (async and sync) gets ERR_IPC_PEER_DEAD', async () => {
    const ch = Channel.create({ capacity: 64 });
    const consumer = child(['consumeThenDie', '3'], { 3: ch });
    expect(await consumer.next()).toEqual({ ready: true });
    while (ch.trySend('fill'));
    const waiting = ch.send('more', { timeoutMs: 20000 });
    consumer.proc.stdin!.end();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_IPC_PEER_DEAD' });
    expect(await consumer.exit).toEqual([null, 'SIGKILL']);
    ch.close();

    const again = Channel.create({ capacity: 64 });
    again.tryReceive();
    const blocked = child(['sendBlocked', '3'], { 3: again });
    expect(await blocked.next()).toEqual({ full: true });
    again.close();
    expect(await blocked.next()).toMatchObject({ error: { code: 'ERR_IPC_PEER_DEAD' } });
  });

  test('async: receive waits on the event loop, send waits for room, abort and timeout', async () => {
    const ch = Channel.create({ capacity: 64 });
    const later = ch.receive({ timeoutMs: 20000 });
    setTimeout(() => ch.trySend('later'), 20);
    expect((await later)!.toString()).toBe('later');
    await expect(ch.receive({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'recv' });
    const ac = new AbortController();
    const aborted = ch.receive({ signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    // Aborted before the call: nothing is sent or taken, though there is room and a message.
    await expect(ch.send('never', { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    ch.trySend('kept');
    await expect(ch.receive({ signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(ch.tryReceive()!.toString()).toBe('kept');
    while (ch.trySend('fill'));
    const sends = [ch.send('one', { timeoutMs: 20000 }), ch.send('two', { timeoutMs: 20000 })];
    await expect(ch.send('x', { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const got: string[] = [];
    // Three 16-byte fills in the 64-byte ring (and 8 bytes for the next record's header), then one and two.
    while (got.length < 5) got.push((await ch.receive({ timeoutMs: 20000 }))!.toString());
    await Promise.all(sends);
    got.push(...ch.receiveMany(10).map(String));
    expect(got.filter((m) => m !== 'fill')).toEqual(['one', 'two']);
    ch.close();
  });

  test('async receiveInto: waits on the event loop, fills the target, keeps a message too long for it', async () => {
    const ch = Channel.create({ capacity: 256 });
    const target = Buffer.alloc(8);
    const later = ch.receiveInto(target, { timeoutMs: 20000 });
    setTimeout(() => ch.trySend('later'), 20);
    expect(await later).toBe(5);
    expect(target.subarray(0, 5).toString()).toBe('later');
    ch.trySend('much too long');
    await expect(ch.receiveInto(target)).rejects.toMatchObject({ code: 'EMSGSIZE', message: expect.stringContaining('message of 13 bytes does not fit the 8-byte target') });
    expect((await ch.receive())!.toString()).toBe('much too long');
    await expect(ch.receiveInto(target, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'recv' });
    await expect(ch.receiveInto('x' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    ch.close();
    await expect(ch.receiveInto(target)).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
  });
});

describe('end of stream', () => {
  test('a producer process closes: for await ends after its last message; the end is for good', async () => {
    const ch = Channel.create({ capacity: 1024 });
    const producer = child(['produce', '3', '300', '24', 'close'], { 3: ch });
    const seen: number[] = [];
    for await (const msg of ch) seen.push(parse(msg).i);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(await producer.exit).toEqual([0, null]);
    expect(ch.ended).toBe(true);
    expect(ch.tryReceive()).toBeNull();
    expect(await ch.receive()).toBeNull();
    ch.close();
  });

  test('every receive says so: receiveSync, receive, receiveInto, receiveSyncInto null; tryReceive* null and ended tells why', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 256, endWhenIdle: true });
    const target = Buffer.alloc(16);
    expect(ch.tryReceive()).toBeNull();
    expect(ch.ended).toBe(false); // nobody attached yet: nothing now, not never
    const producer = Channel.open(n);
    for (const m of ['one', 'two', 'three', 'four']) producer.trySend(m);
    producer.close();
    // What was sent before the close comes first, whichever receive takes it.
    expect(ch.receiveSync({ timeoutMs: 20000 })!.toString()).toBe('one');
    expect((await ch.receive({ timeoutMs: 20000 }))!.toString()).toBe('two');
    expect(await ch.receiveInto(target, { timeoutMs: 20000 })).toBe(5);
    expect(ch.receiveSyncInto(target, { timeoutMs: 20000 })).toBe(4);
    expect(ch.receiveSync({ timeoutMs: 20000 })).toBeNull();
    expect(await ch.receive({ timeoutMs: 20000 })).toBeNull();
    expect(await ch.receiveInto(target, { timeoutMs: 20000 })).toBeNull();
    expect(ch.receiveSyncInto(target, { timeoutMs: 20000 })).toBeNull();
    expect(ch.tryReceive()).toBeNull();
    expect(ch.tryReceiveInto(target)).toBeNull();
    expect(ch.tryReceiveView()).toBeNull();
    expect(ch.receiveMany(10)).toEqual([]);
    expect(ch.receiveManyInto(target, new Uint32Array(4))).toBe(0);
    expect(ch.ended).toBe(true);
    ch.close();
  });

  test('a named channel by default does not end when its producers leave (a server waits for the next client)', () => {
    const n = name();
    const server = Channel.create(n, { capacity: 256 });
    for (let client = 0; client < 3; client++) {
      const c = Channel.open(n);
      c.trySend(`client ${client}`);
      c.close();
      expect(server.receiveSync({ timeoutMs: 20000 })!.toString()).toBe(`client ${client}`);
      expect(() => server.receiveSync({ timeoutMs: 30, spinNs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
      expect(server.ended).toBe(false);
    }
    server.close();
  });

  test('two producers: one closes, the other keeps sending; the end comes only when both closed', async () => {
    const ch = Channel.create({ capacity: 1024, producers: 2 });
    const staying = child(['produceThenWait', '3', '10'], { 3: ch });
    expect(await staying.next()).toEqual({ sent: 10 });
    const leaving = child(['produce', '3', '10', '16', 'close'], { 3: ch });
    expect(await leaving.exit).toEqual([0, null]);
    const got: string[] = [];
    let m: Buffer | null;
    while ((m = await ch.receive({ timeoutMs: 100 }).catch((err) => (err.code === 'ETIMEDOUT' ? null : Promise.reject(err)))) !== null) got.push(m.toString());
    expect(got).toHaveLength(20);
    // One producer is still attached: no end, only "nothing now".
    expect(ch.ended).toBe(false);
    staying.proc.stdin!.end();
    const rest: string[] = [];
    for await (const msg of ch) rest.push(msg.toString());
    expect(rest).toEqual(['last']);
    expect(await staying.exit).toEqual([0, null]);
    expect(ch.ended).toBe(true);
    ch.close();
  });

  test('a consumer that starts first waits for its producer, then ends when it closes', async () => {
    const ch = Channel.create({ capacity: 1024 });
    expect(() => ch.receiveSync({ timeoutMs: 50, spinNs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(ch.receive({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(ch.ended).toBe(false);
    const pending = ch.receive({ timeoutMs: 20000 });
    const producer = child(['produce', '3', '1', '16', 'close'], { 3: ch });
    expect(parse((await pending)!).i).toBe(0);
    expect(ch.receiveSync({ timeoutMs: 20000 })).toBeNull();
    expect(await producer.exit).toEqual([0, null]);
    ch.close();
  });
});

describe('hostile peers', () => {
  /** A tiny deterministic PRNG, so a failure can be replayed. */
  function prng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
  }

  test('fuzz: random bytes in the header, lane table and ring: messages or ERR_IPC_CORRUPT, never a crash or a hang', () => {
    const n = name();
    const random = prng(0xc0ffee);
    const outcomes = new Map<string, number>();
    for (let iteration = 0; iteration < 3000; iteration++) {
      const ch = Channel.create(n, { capacity: 256, producers: 2 });
      const raw = SharedMemory.open(n);
      const bytes = new Uint8Array(raw.buffer);
      for (let i = 0; i < 6; i++) ch.trySend(Buffer.alloc(Math.floor(random() * 60), 'a'));
      // Scribble where it hurts most: header fields, indices, record headers.
      const region = random();
      const [from, to] = region < 0.2 ? [0, HEADER]
        : region < 0.6 ? [HEADER, HEADER + 2 * LANE]
        : [HEADER + 2 * LANE, bytes.length];
      const count = 1 + Math.floor(random() * 8);
      for (let i = 0; i < count; i++) bytes[from + Math.floor(random() * (to - from))] = Math.floor(random() * 256);
      let outcome: string;
      try {
        const reader = region < 0.2 ? Channel.open(n) : ch;
        let got = 0;
        while (reader.tryReceive() !== null) {
          if (++got > 1000) throw new Error('an endless stream out of a 256-byte ring');
        }
        reader.trySend('after');
        reader.receiveMany(100);
        if (reader !== ch) reader.close();
        outcome = 'ok';
      } catch (err) {
        outcome = (err as { code: string }).code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      raw.close();
      ch.close();
      Channel.unlink(n);
    }
    expect([...outcomes.keys()].sort()).toEqual(expect.arrayContaining(['ERR_IPC_CORRUPT', 'ok']));
    for (const outcome of outcomes.keys()) expect(['ok', 'ERR_IPC_CORRUPT', 'ERR_IPC_BUSY']).toContain(outcome);
  });

  test('the indices themselves: a tail behind the head, past the capacity, misaligned', () => {
    const n = name();
    const lane = HEADER;
    // A tail up to a ring behind the head is a producer between a record's header and its tail; more is nonsense.
    for (const [field, value] of [[TAIL, -1024n], [TAIL, 1024n], [TAIL, 3n], [HEAD, 1024n], [HEAD, 5n]] as const) {
      const ch = Channel.create(n, { capacity: 256 });
      ch.trySend('x');
      const view = new DataView(SharedMemory.open(n).buffer);
      view.setBigUint64(lane + field, BigInt.asUintN(64, value), true);
      // The consumer polls record headers, not the tail: it checks the tail before it sleeps.
      const use = field === TAIL ? () => { while (ch.tryReceive() !== null); ch.receiveSync({ spinNs: 0, timeoutMs: 50 }); } : () => { while (ch.trySend('y')); };
      expect(use).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }));
      ch.close();
      Channel.unlink(n);
    }
  });

  test('the mailbox: a sequence number that skips, a length past the mailbox, a taken count ahead of it', () => {
    const n = name();
    for (const [what, field, value] of [['skips', BOX + 4, 2], ['too long', BOX, BOX_MAX + 1], ['taken ahead', BOX_TAKEN, 2]] as const) {
      const ch = Channel.create(n, { capacity: 256 });
      const raw = SharedMemory.open(n);
      const lane = new DataView(raw.buffer, HEADER, LANE);
      if (what === 'too long') lane.setUint32(BOX + 4, 1, true);
      lane.setUint32(field, value, true);
      // Read by the consumer at every receive; the sequence numbers also by a producer taking the lane.
      expect(() => ch.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }));
      const producer = Channel.open(n);
      if (what === 'too long') expect(producer.trySend('x')).toBe(true);
      else expect(() => producer.trySend('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }));
      producer.close();
      raw.close();
      ch.close();
      Channel.unlink(n);
    }
  });

  test('a producer that died while filling the mailbox delivers nothing; one that died after its word delivers it, and the next producer waits for the mailbox', () => {
    const n = name();
    const consumer = Channel.create(n, { capacity: 256 });
    const raw = SharedMemory.open(n);
    const lane = new DataView(raw.buffer, HEADER, LANE);
    const box = new Uint8Array(raw.buffer, HEADER + BOX + 8, BOX_MAX);
    // Died before its word: the bytes are there, the message is not.
    box.set(Buffer.from('partial'));
    expect(consumer.tryReceive()).toBeNull();
    // Died after it (as close() without goodbye would look to the consumer: its word stays).
    const dying = Channel.open(n);
    expect(dying.trySend('last words')).toBe(true);
    dying.close();
    const next = Channel.open(n);
    expect(next.trySend('after')).toBe(true);
    expect(lane.getUint32(BOX + 4, true)).toBe(1); // 'after' went to the ring: the mailbox was still taken
    expect(consumer.receiveMany(10).map(String)).toEqual(['last words', 'after']);
    expect(next.trySend('again')).toBe(true);
    expect(consumer.tryReceive()!.toString()).toBe('again');
    next.close();
    raw.close();
    consumer.close();
  });

  test('a nonsense tail is found by an event-loop receive before it waits', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 256 });
    ch.trySend('x');
    expect(ch.tryReceive()!.toString()).toBe('x');
    const raw = SharedMemory.open(n);
    new DataView(raw.buffer).setBigUint64(HEADER + TAIL, 4096n, true);
    raw.close();
    await expect(ch.receive({ timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ERR_IPC_CORRUPT' });
    ch.close();
  });

  test('a segment of format version 2 (before the mailbox) is ERR_IPC_CORRUPT', () => {
    const n = name();
    Channel.create(n, { capacity: 256 }).close();
    const raw = SharedMemory.open(n);
    const view = new DataView(raw.buffer);
    expect(view.getUint32(4, true)).toBe(3);
    view.setUint32(4, 2, true);
    raw.close();
    expect(() => Channel.open(n)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CORRUPT' }));
  });

  test.each([
    // Longer than the mailbox holds, so that they go to the ring.
    ['a message', 1024, [], 300],
    ['a padding record and the message after it', 1024, [300, 300, 300], 300],
  ])('a producer that died after committing %s, before storing its tail: the consumer gets it, the next producer continues after it', (_what, capacity, before, length) => {
    const n = name();
    const consumer = Channel.create(n, { capacity });
    const raw = SharedMemory.open(n);
    const lane = new DataView(raw.buffer, HEADER, LANE);
    const dying = Channel.open(n);
    for (const [i, size] of before.entries()) {
      dying.trySend(Buffer.alloc(size, i));
      expect(consumer.tryReceive()).toEqual(Buffer.alloc(size, i));
    }
    const tailBefore = lane.getBigUint64(TAIL, true);
    expect(dying.trySend(Buffer.alloc(length, 'd'))).toBe(true);
    expect(lane.getBigUint64(TAIL, true)).toBe(tailBefore + (before.length === 0 ? 312n : 88n + 312n));
    // As if it died after storing the record's header (the commit), before its tail.
    lane.setBigUint64(TAIL, tailBefore, true);
    dying.close();
    // The header is the commit: the consumer takes the record although the tail lags behind it.
    expect(consumer.tryReceive()).toEqual(Buffer.alloc(length, 'd'));
    expect(consumer.tryReceive()).toBeNull();
    const next = Channel.open(n);
    expect(next.trySend('after')).toBe(true);
    expect(consumer.tryReceive()!.toString()).toBe('after');
    expect(consumer.tryReceive()).toBeNull();
    next.close();
    raw.close();
    consumer.close();
  });

  test('a child scribbles over the segment while this process sends and receives', async () => {
    const n = name();
    const ch = Channel.create(n, { capacity: 1024 });
    const scribbler = child(['scribble', n, '1500']);
    expect(await scribbler.next()).toEqual({ scribbling: true });
    const outcomes = new Set<string>();
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      try {
        for (let i = 0; i < 50; i++) ch.trySend(Buffer.alloc(i, 1));
        ch.receiveMany(100);
        outcomes.add('ok');
      } catch (err) {
        outcomes.add((err as { code: string }).code);
      }
    }
    expect(await scribbler.exit).toEqual([0, null]);
    for (const outcome of outcomes) expect(['ok', 'ERR_IPC_CORRUPT']).toContain(outcome);
    ch.close();
  });
});

describe('options are read before the bytes', () => {
  // A getter on the options runs caller code: it may close the SharedMemory a
  // view is over, or transfer the view's buffer away. The bytes must be looked
  // at (and a remembered pointer reused) only after it ran. Each case runs in
  // a child, so that the crash the old order led to fails the test, not the run.
  test('a getter that unmaps or transfers the data, or transfers the target, is refused (ERR_INVALID_STATE): nothing crashes, nothing is sent or lost', async () => {
    const code = `const { Channel, SharedMemory } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const out = {};
      const outcome = (call) => { try { return call(); } catch (e) { return e.code; } };
      const ch = Channel.create({ capacity: 1 << 20 });
      // The view is remembered by the first send: the second would reuse its pointer.
      const shm = SharedMemory.anonymous(256 * 1024);
      const mapped = new Uint8Array(shm.buffer, 0, 200 * 1024);
      ch.trySend(mapped); ch.tryReceive();
      out.unmapped = outcome(() => ch.sendSync(mapped, { get timeoutMs() { shm.close(); return 1000; } }));
      out.afterUnmapped = ch.tryReceive();
      const ab = new ArrayBuffer(256 * 1024);
      const data = new Uint8Array(ab).fill(0x41);
      ch.trySend(data); ch.tryReceive();
      out.transferred = outcome(() => ch.sendSync(data, { get timeoutMs() { structuredClone(ab, { transfer: [ab] }); return 1000; } }));
      out.afterTransferred = ch.tryReceive();
      const tb = new ArrayBuffer(64);
      ch.trySend('hello');
      out.receiveSyncInto = outcome(() => ch.receiveSyncInto(new Uint8Array(tb), { get timeoutMs() { structuredClone(tb, { transfer: [tb] }); return 1000; } }));
      const rb = new ArrayBuffer(64);
      ch.receiveInto(new Uint8Array(rb), { get timeoutMs() { structuredClone(rb, { transfer: [rb] }); return 1000; } }).then(
        (r) => { out.receiveInto = r; }, (e) => { out.receiveInto = e.code; },
      ).then(() => {
        out.left = String(ch.tryReceive());
        ch.close();
        console.log(JSON.stringify(out));
      });`;
    const r = await run(process.execPath, ['-e', code], { timeout: 20000 });
    expect({ signal: r.signal, code: r.code, stderr: r.stderr }).toEqual({ signal: null, code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      unmapped: 'ERR_INVALID_STATE', afterUnmapped: null,
      transferred: 'ERR_INVALID_STATE', afterTransferred: null,
      receiveSyncInto: 'ERR_INVALID_STATE', receiveInto: 'ERR_INVALID_STATE', left: 'hello',
    });
  });
});

// Receives on a Unix socket (lib/internal/unix-receive.ts): the receive pool, receiveMany, receiveInto.
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { AbortError, socketPair, type UnixMessage, type UnixSocketType } from '../lib';
import { binding } from '../lib/binding';
import { expectPooledReceives, fdsOpenedSince, LONG, openFds, socketTestFiles, text } from './helpers';

const TYPES: UnixSocketType[] = ['stream', 'seqpacket', 'dgram'];
const sockets = socketTestFiles();
const { someFd } = sockets;

describe('copying receives and the receive pool', () => {
  test.each(['dgram', 'seqpacket'] as const)('%s: small messages share a 64 KiB pool and stay valid and unshared; longer ones and stream chunks get their own Buffer', async (type) => {
    const [a, b] = socketPair({ type });
    // Three pools' worth of 64-byte messages, through every copying receive.
    const kept = await expectPooledReceives((data) => a.trySend(data), async (i) =>
      (i % 3 === 0 ? b.tryReceive()! : i % 3 === 1 ? b.receiveSync()! : (await b.receive())!).data);
    // A pool detached behind its back is replaced.
    structuredClone(kept[2999].buffer, { transfer: [kept[2999].buffer] as never });
    a.trySend('after');
    expect(b.tryReceive()!.data.toString()).toBe('after');
    a.trySend(Buffer.alloc(0));
    expect(b.tryReceive()!.data.length).toBe(0);
    a.close();
    b.close();
    const [c, d] = socketPair({ type: 'stream' });
    await c.send('chunk');
    const chunk = (await d.receive())!.data;
    expect(chunk.toString()).toBe('chunk');
    expect(chunk.buffer.byteLength).not.toBe(64 * 1024);
    c.close();
    d.close();
  });

  test('the addon refuses a pool without 4 KiB of room at the offset, before anything is received', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    a.trySend('kept');
    const args = [
      b.fd, binding.SOCK_DGRAM, new Int32Array(5), new Int32Array(binding.SCM_MAX_FD), new Uint8Array(108),
      Buffer.alloc(8192),
    ] as const;
    const pool = new ArrayBuffer(8192);
    for (const offset of [-1, 4097, 8193, 0.5, NaN, '0' as unknown as number]) expect(binding.socketReceive(...args, pool, offset)).toBe(-osConstants.errno.EINVAL);
    expect(binding.socketReceive(...args, new Uint8Array(8192) as unknown as ArrayBuffer, 0))
      .toBe(-osConstants.errno.EINVAL);
    expect(binding.socketReceive(...args, pool, 4096)).toBe(4);
    expect(Buffer.from(pool, 4096, 4).toString()).toBe('kept');
    a.close();
    b.close();
  });
});

describe('receiveMany and receiveInto', () => {
  test('receiveMany: a message longer than messageSize is ERR_IPC_TRUNCATED after the batch is in, with the whole ones on err.messages', async () => {
    const before = openFds();
    const [a, b] = socketPair({ type: 'seqpacket' });
    const fd = someFd();
    a.sendManySync(['short', { data: 'much too long', fds: [fd] }, 'tiny']);
    closeSync(fd);
    let err: Error & { data?: Buffer; messages?: UnixMessage[] } = new Error('none');
    try {
      await b.receiveMany(8, { messageSize: 5 });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({ code: 'ERR_IPC_TRUNCATED', message: expect.stringContaining('cut to messageSize 5 (MSG_TRUNC)') });
    expect(err.data!.toString()).toBe('much ');
    expect(err.messages!.map((m) => m.data.toString())).toEqual(['short', 'tiny']);
    a.close();
    b.close();
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('receiveInto: straight into the caller\'s buffer, on every socket type; null at the end of the stream', async () => {
    for (const type of TYPES) {
      const [a, b] = socketPair({ type });
      const buffer = Buffer.alloc(16);
      expect(b.tryReceiveInto(buffer)).toBeNull();
      const waiting = b.receiveInto(buffer, { timeoutMs: LONG });
      await a.send('hello');
      expect(await waiting).toBe(5);
      expect(buffer.toString('utf8', 0, 5)).toBe('hello');
      a.sendSync('world');
      const view = new Uint32Array(4);
      expect(b.receiveIntoSync(view, { timeoutMs: LONG })).toBe(5);
      expect(Buffer.from(view.buffer).toString('utf8', 0, 5)).toBe('world');
      if (type !== 'dgram') {
        a.close();
        expect(b.receiveIntoSync(buffer, { timeoutMs: LONG })).toBeNull();
        expect(b.ended).toBe(true);
      }
      a.close();
      b.close();
    }
  });

  test('receiveInto: a message that does not fit, or brings descriptors, is ERR_IPC_TRUNCATED; the descriptors are closed', async () => {
    const before = openFds();
    const [a, b] = socketPair({ type: 'dgram' });
    a.sendSync('twelve bytes');
    const small = Buffer.alloc(6);
    expect(() => b.receiveIntoSync(small)).toThrow(expect.objectContaining({
      code: 'ERR_IPC_TRUNCATED', data: small, message: expect.stringContaining('message of 12 bytes did not fit the 6-byte buffer (MSG_TRUNC)'),
    }));
    expect(small.toString()).toBe('twelve');
    const fd = someFd();
    a.sendSync('fds', { fds: [fd, fd] });
    closeSync(fd);
    await expect(b.receiveInto(Buffer.alloc(8))).rejects.toMatchObject({ code: 'ERR_IPC_TRUNCATED', data: Buffer.from('fds'), message: expect.stringContaining('MSG_CTRUNC') });
    a.sendSync('next');
    expect(b.tryReceiveInto(small)).toBe(4);
    a.close();
    b.close();
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('timeouts name the syscall; blocking receives are refused while a receive() waits', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    expect(() => b.receiveIntoSync(Buffer.alloc(4), { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'recvmsg' }));
    expect(() => b.receiveManySync(4, { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'recvmmsg' }));
    await expect(b.receiveMany(4, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'recvmmsg' });
    const controller = new AbortController();
    const aborted = b.receiveInto(Buffer.alloc(4), { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    const pending = b.receiveMany(4, { timeoutMs: LONG });
    expect(() => b.receiveManySync(4, { timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    expect(() => b.receiveIntoSync(Buffer.alloc(4), { timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    a.sendSync('done');
    expect((await pending)!.map((m) => m.data.toString())).toEqual(['done']);
    a.close();
    b.close();
  });

  test('receiveInto writes only inside the real view: an own byteLength changes nothing', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const backing = new Uint8Array(16);
    const target = new Uint8Array(backing.buffer, 0, 4);
    Object.defineProperty(target, 'byteLength', { value: 16 });
    Object.defineProperty(target, 'length', { value: 16 });
    a.sendSync(Buffer.alloc(12, 7));
    expect(() => b.tryReceiveInto(target)).toThrow(expect.objectContaining({ code: 'ERR_IPC_TRUNCATED' }));
    expect([...backing.subarray(4)]).toEqual(new Array(12).fill(0));
    expect(() => b.tryReceiveInto(new Proxy(new Uint8Array(4), {}))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    a.close();
    b.close();
  });

  test('a target detached by an options getter, or while receiveInto waits, is refused (ERR_INVALID_STATE): nothing is taken', async () => {
    const detaching = (ab: ArrayBuffer) => ({
      get timeoutMs() {
        structuredClone(ab, { transfer: [ab] });
        return LONG;
      },
    });
    for (const type of ['stream', 'dgram'] as const) {
      const [a, b] = socketPair({ type });
      const later = new ArrayBuffer(64);
      const waiting = b.receiveInto(new Uint8Array(later), { timeoutMs: LONG });
      structuredClone(later, { transfer: [later] });
      a.sendSync('hello');
      await expect(waiting).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
      const ab = new ArrayBuffer(64);
      expect(() => b.receiveIntoSync(new Uint8Array(ab), detaching(ab))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
      expect(b.ended).toBe(false);
      expect(text(b.tryReceive())).toBe('hello');
      a.close();
      b.close();
    }
  });

  test('the addon refuses a 0-byte or detached target (-EINVAL) before recvmsg: a stream does not end, a datagram is not lost', () => {
    const { EINVAL } = osConstants.errno;
    const meta = new Int32Array(5);
    const gone = new ArrayBuffer(8);
    const detached = new Uint8Array(gone);
    structuredClone(gone, { transfer: [gone] });
    for (const [type, kind] of [['stream', binding.SOCK_STREAM], ['dgram', binding.SOCK_DGRAM]] as const) {
      const [a, b] = socketPair({ type });
      a.sendSync('kept');
      expect(binding.socketReceiveInto(b.fd, kind, new Uint8Array(0), meta, null)).toBe(-EINVAL);
      expect(binding.socketReceiveInto(b.fd, kind, detached, meta, 0)).toBe(-EINVAL);
      expect(text(b.tryReceive())).toBe('kept');
      a.close();
      b.close();
    }
  });
});

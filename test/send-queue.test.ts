// Sends on a Unix socket (lib/internal/send-queue.ts): backpressure, the send queue, send errors, sendMany.
import { readFileSync } from 'node:fs';
import { socketPair, UnixSocket } from '../lib';
import { LONG, socketTestFiles, text, turns } from './helpers';

const sockets = socketTestFiles();
const { sockPath, abstractName } = sockets;

describe('backpressure', () => {
  test.each(['seqpacket', 'dgram'] as const)('%s: trySend is false when full; a pending send resolves when the peer reads, in order', async (type) => {
    const [a, b] = socketPair({ type });
    const chunk = Buffer.alloc(1000, 1);
    let queued = 0;
    while (a.trySend(chunk)) queued++;
    expect(queued).toBeGreaterThan(0);
    let sent = 0;
    const one = a.send('one').then(() => sent++);
    const two = a.send('two').then(() => sent++);
    await turns();
    expect(sent).toBe(0);
    const got: string[] = [];
    while (got.length < queued + 2) {
      const m = await b.receive({ timeoutMs: LONG });
      if (m!.data.length !== 1000) got.push(text(m));
      else got.push('chunk');
    }
    await Promise.all([one, two]);
    expect(got.slice(-2)).toEqual(['one', 'two']);
    expect(got.filter((g) => g === 'chunk')).toHaveLength(queued);
    a.close();
    b.close();
  });

  test("an unconnected datagram send waits for a full receiver's queue (net.unix.max_dgram_qlen), and fails when it goes away", async () => {
    const p = sockPath();
    const receiver = UnixSocket.datagram({ path: p });
    const sender = UnixSocket.datagram();
    let queued = 0;
    while (sender.trySend(`m${queued}`, { to: { path: p } })) queued++;
    expect(queued).toBe(Number(readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8')) + 1);
    let sent = false;
    const pending = sender.send('waited', { to: { path: p } }).then(() => (sent = true));
    const later = sender.send('after it', { to: { path: p } });
    await turns();
    expect(sent).toBe(false);
    expect(text(receiver.tryReceive())).toBe('m0');
    await pending;
    await expect(sender.send('timed out', { to: { path: p }, timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'sendmsg', path: p });
    const rest: string[] = [];
    for (let m; (m = receiver.tryReceive()) !== null;) rest.push(text(m));
    await later;
    rest.push(text(receiver.tryReceive()));
    expect(rest.slice(-3)).toEqual([`m${queued - 1}`, 'waited', 'after it']);

    // Full again; then the receiver goes away: the waiting send fails rather than waits forever.
    while (sender.trySend('fill', { to: { path: p } }));
    const orphan = sender.send('nobody', { to: { path: p } });
    await turns();
    receiver.close();
    await expect(orphan).rejects.toMatchObject({ syscall: 'sendmsg', path: p, code: expect.stringMatching(/^(ENOENT|ECONNREFUSED)$/) });
    sender.close();
  });

  test('a send given up (timeout, abort) never goes out; the ones behind it still do', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    while (a.trySend(Buffer.alloc(1000)));
    const ac = new AbortController();
    const reason = new Error('changed my mind');
    const aborted = a.send('aborted', { signal: ac.signal });
    const timed = a.send('timed out', { timeoutMs: 20 });
    const kept = a.send('kept');
    await expect(a.send('never', { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', cause: reason });
    ac.abort(reason);
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    await expect(timed).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'sendmsg', errno: -110 });
    const got: string[] = [];
    while (got[got.length - 1] !== 'kept') got.push(text(await b.receive({ timeoutMs: LONG })));
    await kept;
    expect(got.filter((g) => g.length < 1000 && g !== '\0'.repeat(g.length))).toEqual(['kept']);
    a.close();
    b.close();
  });

  test('a waiting send copies its data, so the caller may reuse the buffer at once', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    while (a.trySend(Buffer.alloc(1000)));
    const buf = Buffer.from('original');
    const sending = a.send(buf);
    buf.write('XXXXXXXX');
    let last = '';
    while (last !== 'original') last = text(await b.receive({ timeoutMs: LONG }));
    await sending;
    a.close();
    b.close();
  });
});

describe('send errors and blocking sends', () => {
  test('a message larger than the send buffer is EMSGSIZE naming SO_SNDBUF; setSendBufferSize raises it', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const sndbuf = a.sendBufferSize;
    expect(() => a.trySend(Buffer.alloc(sndbuf - 31))).toThrow(
      expect.objectContaining({ code: 'EMSGSIZE', syscall: 'sendmsg', message: expect.stringContaining(`message of ${sndbuf - 31} bytes exceeds what the send buffer allows (SO_SNDBUF ${sndbuf} bytes less 32`) }),
    );
    expect(a.trySend(Buffer.alloc(sndbuf - 32))).toBe(true);
    expect((await b.receive())!.data.length).toBe(sndbuf - 32);
    a.setSendBufferSize(sndbuf);
    expect(a.sendBufferSize).toBeGreaterThan(sndbuf);
    const bigger = Buffer.alloc(sndbuf + 1000, 1);
    await a.send(bigger);
    expect((await b.receive())!.data.equals(bigger)).toBe(true);
    a.close();
    b.close();
  });

  test('an unconnected datagram sendSync waits for a full receiver, up to its timeout', () => {
    const name = abstractName();
    const receiver = UnixSocket.datagram({ abstract: name });
    const sender = UnixSocket.datagram();
    while (sender.trySend(Buffer.alloc(10), { to: { abstract: name } }));
    const start = Date.now();
    expect(() => sender.sendSync('x', { to: { abstract: name }, timeoutMs: 100 })).toThrow(expect.objectContaining({
      code: 'ETIMEDOUT', syscall: 'sendmsg', path: `@${name}`,
    }));
    expect(Date.now() - start).toBeGreaterThanOrEqual(99);
    receiver.tryReceive();
    sender.sendSync('x', { to: { abstract: name }, timeoutMs: 100 });
    receiver.close();
    expect(() => sender.sendSync('x', { to: { abstract: name }, timeoutMs: 100 })).toThrow(expect.objectContaining({ code: 'ECONNREFUSED', syscall: 'sendmsg' }));
    sender.close();
  });
});

describe('batches (sendMany)', () => {
  test('an unconnected datagram sendMany waits for a full receiver; sendManySync up to its timeout', async () => {
    const name = abstractName();
    const receiver = UnixSocket.datagram({ abstract: name });
    const sender = UnixSocket.datagram();
    const to = { abstract: name };
    const messages = Array.from({ length: 30 }, (_, i) => `m${i}`);
    const sending = sender.sendMany(messages, { to, timeoutMs: LONG });
    await turns();
    expect(() => sender.sendManySync(['x'], { to, timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    const got: string[] = [];
    while (got.length < 30) {
      for (const m of (await receiver.receiveMany(8, { timeoutMs: LONG }))!) got.push(m.data.toString());
    }
    await sending;
    expect(got).toEqual(messages);
    while (sender.trySendMany(['fill'], { to }) === 1);
    expect(() => sender.sendManySync(['late'], { to, timeoutMs: 50 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'sendmmsg', path: `@${name}` }));
    receiver.close();
    sender.close();
  });

  test('sendMany waits for room on the event loop, copies what waits, and keeps call order with send()', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    // More than SO_SNDBUF holds: most of them wait.
    const buffers = Array.from({ length: 50 }, (_, i) => Buffer.from(`batch ${i}`.padEnd(10000)));
    const batch = a.sendMany(buffers, { timeoutMs: LONG });
    const after = a.send('after');
    expect(a.trySendMany(['no room'])).toBe(0);
    for (const buffer of buffers) buffer.fill(0x2a); // the caller's to reuse at once
    const got: string[] = [];
    while (got.length < 51) {
      for (const m of (await b.receiveMany(16, { timeoutMs: LONG }))!) got.push(m.data.toString().trimEnd());
    }
    await Promise.all([batch, after]);
    expect(got).toEqual([...buffers.map((_, i) => `batch ${i}`), 'after']);
    a.close();
    b.close();
  });

  test('trySendMany sends what fits now; sendManySync waits up to its timeout, and the error says how many went', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    // More than SO_SNDBUF holds.
    const messages = Array.from({ length: 1000 }, (_, i) => `m${i}`.padEnd(1000));
    const sent = a.trySendMany(messages);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(1000);
    expect(a.trySendMany(['more'])).toBe(0);
    let err: unknown;
    try {
      a.sendManySync(['x', 'y'], { timeoutMs: 30 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'IpcError', code: 'ETIMEDOUT', syscall: 'sendmmsg', sent: 0 });
    const taken = b.receiveManySync(1024, { messageSize: 1000 })!;
    expect(taken.map((m) => m.data.toString())).toEqual(messages.slice(0, sent));
    a.sendManySync(messages.slice(sent, sent + 3));
    expect(b.tryReceiveMany(10).map((m) => m.data.toString())).toEqual(messages.slice(sent, sent + 3));
    a.close();
    b.close();
  });

  test('a message the kernel refuses ends the batch: the ones before it went (err.sent)', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const huge = Buffer.alloc(a.sendBufferSize + 1);
    await expect(a.sendMany(['ok 1', 'ok 2', huge, 'never'])).rejects.toMatchObject({ code: 'EMSGSIZE', syscall: 'sendmmsg', sent: 2 });
    expect(() => a.sendManySync([huge])).toThrow(expect.objectContaining({ code: 'EMSGSIZE', sent: 0, message: expect.stringContaining('SO_SNDBUF') }));
    expect(b.tryReceiveMany(10).map((m) => m.data.toString())).toEqual(['ok 1', 'ok 2']);
    a.close();
    b.close();
  });
});

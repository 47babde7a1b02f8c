import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { readdirSync, readFileSync, readlinkSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, IpcError, MessageQueue } from '../lib';
import { binding } from '../lib/binding';
import { expectPooledReceives, expectTimedOut, fdFlags, fdsOpenedSince, fixture, fsReadLatency, namesUnlinkedAfterEach, O_CLOEXEC, O_NONBLOCK, openFds, run, runInSignalStorm, runNode, withOtherUser, withUmask } from './helpers';

/** A fresh queue name that afterEach unlinks if the test left it behind. */
const name = namesUnlinkedAfterEach(MessageQueue.unlink);

/** The descriptor this process holds for queue `n`, from /proc/self/fd. */
function descriptorOf(n: string): string {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === n) return fd;
    } catch {
      // a descriptor that closed while we looked
    }
  }
  throw new Error(`no descriptor for ${n}`);
}

const texts = (messages: { data: Buffer; priority: number }[]) => messages.map((m) => [m.data.toString(), m.priority]);

describe('MessageQueue.open', () => {
  test('creates with the asked attributes, 0600 under umask 000, non-blocking and close-on-exec', () => {
    const n = name();
    const q = withUmask(0, () => MessageQueue.open(n, { create: true, maxMessages: 4, messageSize: 100 }));
    expect(q).toMatchObject({ name: n, access: 'readwrite', maxMessages: 4, messageSize: 100, closed: false });
    expect(q.attributes).toEqual({ maxMessages: 4, messageSize: 100, currentMessages: 0 });
    const fd = descriptorOf(n);
    expect(statSync(`/proc/self/fd/${fd}`).mode & 0o777).toBe(0o600);
    expect(fdFlags(Number(fd)) & (O_CLOEXEC | O_NONBLOCK)).toBe(O_CLOEXEC | O_NONBLOCK);
    q.close();
  });

  test('the mode is exact under any umask; exclusive create of a taken name is EEXIST', () => {
    const n = name();
    withUmask(0o077, () => MessageQueue.open(n, { create: true, mode: 0o640 }).close());
    const q = MessageQueue.open(n);
    expect(statSync(`/proc/self/fd/${descriptorOf(n)}`).mode & 0o777).toBe(0o640);
    expect(() => MessageQueue.open(n, { create: true, exclusive: true })).toThrow(
      expect.objectContaining({ code: 'EEXIST', errno: -17, syscall: 'mq_open', path: n, message: `EEXIST: file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${n}\` removes it if no process holds it), mq_open '${n}'` }),
    );
    // create without exclusive opens the existing queue as it is.
    const again = MessageQueue.open(n, { create: true, maxMessages: 2, messageSize: 10 });
    expect(again.attributes.messageSize).toBe(8192);
    again.close();
    q.close();
  });

  test('a missing queue is ENOENT; bad options fail before any syscall', () => {
    const n = name();
    expect(() => MessageQueue.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'mq_open', path: n }));
    expect(() => MessageQueue.open(n, { maxMessages: 5 })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => MessageQueue.open(n, { create: true, maxMessages: 0 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => MessageQueue.open(n, { create: true, messageSize: '8' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => MessageQueue.open(n, { access: 'append' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => MessageQueue.open('a/b', { create: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => MessageQueue.open(n)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  test('only one attribute given: the other is the system default', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 3 });
    expect(q.attributes).toMatchObject({ maxMessages: 3, messageSize: Number(readFileSync('/proc/sys/fs/mqueue/msgsize_default', 'utf8')) });
    q.close();
  });

  test('another uid: 0600 keeps it out, 0644 lets it read but not write', async () => {
    const priv = name();
    const pub = name();
    MessageQueue.open(priv, { create: true }).close();
    MessageQueue.open(pub, { create: true, mode: 0o644 }).close();
    await withOtherUser(async (runAs) => {
      const open = async (n: string, access: string) => JSON.parse((await runAs('mq.js', ['open', n, access])).stdout);
      expect((await open(priv, 'read')).error).toMatchObject({ code: 'EACCES', syscall: 'mq_open', path: priv });
      expect(await open(pub, 'read')).toEqual({ ok: true });
      expect((await open(pub, 'write')).error).toMatchObject({ code: 'EACCES', syscall: 'mq_open', path: pub });
    });
  });
});

describe('hostile buffers', () => {
  test('a Proxy or an unreal view sends nothing: a coded error in JS, -EINVAL from the addon', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 8, messageSize: 64 });
    const proxy = new Proxy(Buffer.from('x'), {});
    expect(() => q.trySend(proxy)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => q.sendSync(proxy)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const { EINVAL } = osConstants.errno;
    expect(binding.mqSend(q.fd, proxy, 0)).toBe(-EINVAL);
    expect(binding.mqSend(q.fd, new DataView(new ArrayBuffer(1)) as never, 0)).toBe(-EINVAL);
    expect(binding.mqReceive(q.fd, proxy, new Uint32Array(1))).toBe(-EINVAL);
    expect(q.tryReceive()).toBeNull();
    q.close();
  });

  test('an options getter that detaches the data is refused (ERR_INVALID_STATE); a detached view is -EINVAL to the addon, never an empty message', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 8, messageSize: 64 });
    const detaching = (ab: ArrayBuffer) => ({
      get timeoutMs() {
        structuredClone(ab, { transfer: [ab] });
        return 1000;
      },
    });
    const first = new ArrayBuffer(8);
    expect(() => q.sendSync(new Uint8Array(first).fill(7), 0, detaching(first)))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    const second = new ArrayBuffer(8);
    await expect(q.send(new Uint8Array(second).fill(7), 0, detaching(second))).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    const gone = new ArrayBuffer(8);
    const view = new Uint8Array(gone);
    structuredClone(gone, { transfer: [gone] });
    expect(binding.mqSend(q.fd, view, 0)).toBe(-osConstants.errno.EINVAL);
    expect(q.tryReceive()).toBeNull();
    q.close();
  });
});

describe('sending and receiving', () => {
  test('highest priority first, FIFO within a priority; Buffer, TypedArray, DataView and string data', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 8, messageSize: 64 });
    expect(q.trySend('low', 1)).toBe(true);
    expect(q.trySend(Buffer.from('high-a'), 9)).toBe(true);
    expect(q.trySend(new Uint16Array([0x6d69, 0x64]), 5)).toBe(true); // 'im' 'd\0' little-endian
    expect(q.trySend(new DataView(new TextEncoder().encode('xhigh-bx').buffer, 1, 6), 9)).toBe(true);
    expect(q.trySend('zero')).toBe(true);
    expect(q.attributes.currentMessages).toBe(5);
    const got = [q.tryReceive()!, q.tryReceive()!, q.tryReceive()!, q.tryReceive()!, q.tryReceive()!];
    expect(texts(got)).toEqual([['high-a', 9], ['high-b', 9], ['imd\0', 5], ['low', 1], ['zero', 0]]);
    expect(got[0].data).toBeInstanceOf(Buffer);
    expect(q.tryReceive()).toBeNull();
    q.close();
  });

  test('trySend is false when full; a message larger than messageSize is EMSGSIZE before any syscall', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 2, messageSize: 8 });
    expect(q.trySend('1')).toBe(true);
    expect(q.trySend('2')).toBe(true);
    expect(q.trySend('3')).toBe(false);
    q.tryReceive();
    expect(() => q.trySend('123456789')).toThrow(
      expect.objectContaining({ code: 'EMSGSIZE', syscall: 'mq_send', message: expect.stringContaining('message of 9 bytes exceeds messageSize 8') }),
    );
    expect(() => q.sendSync('123456789')).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    expect(q.attributes.currentMessages).toBe(1);
    q.close();
  });

  test('priorities outside 0 .. MQ_PRIO_MAX - 1 are RangeErrors; data must be bytes or a string', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 2, messageSize: 8 });
    expect(MessageQueue.PRIORITY_MAX).toBe(32768);
    for (const p of [-1, 1.5, 32768]) {
      expect(() => q.trySend('x', p)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
      await expect(q.send('x', p)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    }
    expect(q.trySend('top', 32767)).toBe(true);
    expect(() => q.trySend(42 as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    await expect(q.receive({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(q.receive({ signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(q.tryReceive()!.priority).toBe(32767);
    q.close();
  });

  test('access limits what a handle may do, with a clear error', async () => {
    const n = name();
    const reader = MessageQueue.open(n, { create: true, access: 'read' });
    const writer = MessageQueue.open(n, { access: 'write' });
    expect(() => reader.trySend('x')).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'mq_send', message: expect.stringContaining("access: 'read'") }));
    expect(() => writer.tryReceive()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'mq_receive' }));
    // A bad argument is told first, as for any call.
    expect(() => writer.receiveSync({ timeoutMs: -1 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    await expect(writer.receive({ timeoutMs: -1 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    writer.trySend('ok');
    expect(reader.tryReceive()!.data.toString()).toBe('ok');
    reader.close();
    writer.close();
  });

  test('a process that shares the descriptor and makes it blocking cannot make a try or the event loop wait', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 1, messageSize: 8 });
    // The child clears O_NONBLOCK on the open file description it shares with q.
    const child = await run('python3', ['-c', 'import os; os.set_blocking(3, True); print(os.get_blocking(3))'], { stdio: ['pipe', 'pipe', 'pipe', q.fd] });
    expect(child).toMatchObject({ code: 0, stdout: 'True\n' });
    expect(q.tryReceive()).toBeNull(); // blocked for good before
    await expect(q.receive({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(q.trySend('a')).toBe(true);
    expect(q.trySend('b')).toBe(false);
    await expect(q.send('c', 0, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(q.tryReceive()!.data.toString()).toBe('a');
    q.close();
  });

  test('sync variants wait with a timeout: ETIMEDOUT from mq_timedreceive / mq_timedsend', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 1, messageSize: 8 });
    expect(() => q.receiveSync({ timeoutMs: 30 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', errno: -110, syscall: 'mq_timedreceive', message: expect.stringContaining('timed out after 30 ms') }),
    );
    q.sendSync('a', 0, { timeoutMs: 0 });
    expect(() => q.sendSync('b', 0, { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'mq_timedsend' }));
    expect(q.receiveSync({ timeoutMs: 0 }).data.toString()).toBe('a');
    q.close();
  });

  test('sync variants work on an unlinked queue, and their timeout holds through a signal storm', async () => {
    const n = name();
    const q = MessageQueue.open(n, { create: true, maxMessages: 1, messageSize: 8 });
    q.unlink();
    q.sendSync('x', 1, { timeoutMs: 1000 });
    expect(q.receiveSync({ timeoutMs: 1000 }).data.toString()).toBe('x');

    q.close();
    // A process that receives SIGUSR2 every millisecond (jest's sandbox cannot
    // install signal handlers, so the storm runs in a child of its own).
    expectTimedOut(await runInSignalStorm('mq.js', ['timeoutInStorm', n, '300']), 290, 'mq_timedreceive');
  });

  test('receiveSync blocks until another process sends', async () => {
    const n = name();
    const q = MessageQueue.open(n, { create: true, maxMessages: 4, messageSize: 32 });
    // The sender starts only after we are blocked; it runs on its own.
    const child = spawn(process.execPath, ['-e', `setTimeout(() => require('child_process').execFileSync(process.execPath, [${JSON.stringify(fixture('mq.js'))}, 'send', ${JSON.stringify(n)}, 'late:4']), 200)`], { stdio: 'ignore' });
    const msg = q.receiveSync({ timeoutMs: 20000 });
    expect([msg.data.toString(), msg.priority]).toEqual(['late', 4]);
    await new Promise((resolve) => child.on('exit', resolve));
    q.close();
  });
});

describe('copying receives and the receive pool', () => {
  test('small messages share a 64 KiB pool and stay valid and unshared; longer ones get their own Buffer', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 10, messageSize: 8192 });
    // Three pools' worth of 64-byte messages, through every copying receive.
    await expectPooledReceives((data) => q.trySend(data), async (i) =>
      (i % 3 === 0 ? q.tryReceive()! : i % 3 === 1 ? q.receiveSync() : await q.receive()).data);
    q.trySend('after');
    expect(q.tryReceive()!.data.toString()).toBe('after');
    q.close();
  });

  test('a queue whose messageSize is over a quarter of the pool receives into a scratch and copies out (private IPC namespace)', async () => {
    // Each message a Buffer of its own or Node's pool's (Buffer.allocUnsafe), never the receive pool's.
    const code = `
      const { MessageQueue } = require(${JSON.stringify(path.resolve(__dirname, '../dist'))});
      const q = MessageQueue.open('/wide', { create: true, maxMessages: 3, messageSize: 100000 });
      MessageQueue.unlink('/wide');
      q.trySend(Buffer.alloc(70000, 3));
      q.trySend('small');
      q.trySend('last');
      const big = q.tryReceive().data, small = q.receiveSync().data;
      q.receive().then(({ data: last }) => {
        console.log(JSON.stringify({ big: big.equals(Buffer.alloc(70000, 3)), small: small.toString(), last: last.toString(),
          pools: [big, small, last].map((d) => d.buffer.byteLength === 64 * 1024) }));
        q.close();
      });`;
    const setup = 'echo 1048576 > /proc/sys/fs/mqueue/msgsize_max && exec "$0" "$@"';
    const r = await run('unshare', ['-Ur', '--ipc', 'sh', '-c', setup, process.execPath, '-e', code]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ big: true, small: 'small', last: 'last', pools: [false, false, false] });
  });

  test('a pool detached behind its back is replaced; a bad pool or offset is -EINVAL from the addon', () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 10, messageSize: 64 });
    q.trySend('one');
    const one = q.tryReceive()!.data;
    structuredClone(one.buffer, { transfer: [one.buffer] as never });
    q.trySend('two');
    expect(q.tryReceive()!.data.toString()).toBe('two');
    const prio = new Uint32Array(1);
    const pool = new ArrayBuffer(128);
    q.trySend('three');
    for (const offset of [-1, 129, 1.5, NaN, '0' as unknown as number]) expect(binding.mqReceive(q.fd, pool, prio, offset)).toBe(-osConstants.errno.EINVAL);
    expect(binding.mqReceive(q.fd, new Uint8Array(128) as unknown as ArrayBuffer, prio, 0))
      .toBe(-osConstants.errno.EINVAL);
    // Less than messageSize left from the offset: the kernel refuses, and the message stays.
    expect(binding.mqReceive(q.fd, pool, prio, 100)).toBe(-osConstants.errno.EMSGSIZE);
    expect(binding.mqReceive(q.fd, pool, prio, 64)).toBe(5);
    expect(Buffer.from(pool, 64, 5).toString()).toBe('three');
    q.close();
  });
});

describe('asynchronous waits', () => {
  test('a send queued behind another keeps its own copy: the caller may change or detach its data at once', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 1, messageSize: 32 });
    q.trySend('full');
    const first = q.send('first');
    const changed = Buffer.from('second');
    const second = q.send(changed);
    changed.fill('x');
    const ab = new ArrayBuffer(5);
    new Uint8Array(ab).set(Buffer.from('third'));
    const third = q.send(new Uint8Array(ab));
    structuredClone(ab, { transfer: [ab] });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push((await q.receive({ timeoutMs: 20000 })).data.toString());
    await Promise.all([first, second, third]);
    expect(got).toEqual(['full', 'first', 'second', 'third']);
    q.close();
  });

  test('receive() resolves when a process started later sends; send() waits for room', async () => {
    const n = name();
    const q = MessageQueue.open(n, { create: true, maxMessages: 2, messageSize: 32 });
    const pending = q.receive({ timeoutMs: 20000 });
    const r = await runNode('mq.js', ['send', n, 'from-child:7']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(texts([await pending])).toEqual([['from-child', 7]]);

    q.trySend('1');
    q.trySend('2');
    let sent = false;
    const sending = q.send('3', 3).then(() => (sent = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent).toBe(false);
    const drained = await runNode('mq.js', ['receive', n, '1']);
    expect(JSON.parse(drained.stdout)).toEqual([['1', 0]]);
    await sending;
    expect(texts([q.tryReceive()!, q.tryReceive()!])).toEqual([['3', 3], ['2', 0]]);
    q.close();
  });

  test('a waiting send copies its data, so the caller may reuse the buffer at once', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 1, messageSize: 8 });
    q.trySend('first');
    const buf = Buffer.from('second');
    const sending = q.send(buf);
    buf.write('XXXXXX');
    q.tryReceive();
    await sending;
    expect(q.tryReceive()!.data.toString()).toBe('second');
    q.close();
  });

  test('timeouts reject with ETIMEDOUT; waiters are served in order', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 4, messageSize: 8 });
    await expect(q.receive({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'mq_receive', errno: -110 });
    const first = q.receive();
    const second = q.receive();
    q.trySend('a');
    q.trySend('b');
    expect((await first).data.toString()).toBe('a');
    expect((await second).data.toString()).toBe('b');
    q.close();
  });

  test('AbortSignal: already aborted rejects at once, aborting a wait rejects it with AbortError', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 4, messageSize: 8 });
    q.trySend('kept');
    const reason = new Error('changed my mind');
    await expect(q.receive({ signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(q.attributes.currentMessages).toBe(1); // nothing was taken
    q.tryReceive();
    const ac = new AbortController();
    const pending = q.receive({ signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    q.trySend('after');
    expect(q.tryReceive()!.data.toString()).toBe('after'); // the aborted waiter took nothing
    q.close();
  });

  test('close() rejects pending operations with ERR_IPC_CLOSED; use after close is ERR_IPC_CLOSED', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 1, messageSize: 8 });
    const receiving = q.receive();
    q.close();
    await expect(receiving).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'MessageQueue is closed' });
    await expect(q.send('x')).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(() => q.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => q.attributes).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(q.closed).toBe(true);
    expect(() => q.close()).not.toThrow();
  });

  test('aborted and closed waits leave no watcher behind: the process exits by itself', async () => {
    const r = await run(process.execPath, [fixture('mq.js'), 'abortThenExit', name()], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ aborted: 'AbortError' }, { closed: 'ERR_IPC_CLOSED' }]);
  });

  test('for await yields messages until the queue is closed, and throws AbortError on abort', async () => {
    const q = MessageQueue.open(name(), { create: true, maxMessages: 4, messageSize: 8 });
    q.trySend('m1');
    q.trySend('m2');
    const seen: string[] = [];
    setTimeout(() => q.trySend('m3'), 20);
    for await (const { data } of q) {
      seen.push(data.toString());
      if (seen.length === 3) setTimeout(() => q.close(), 10);
    }
    expect(seen).toEqual(['m1', 'm2', 'm3']);

    const q2 = MessageQueue.open(name(), { create: true, maxMessages: 4, messageSize: 8 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect((async () => {
      for await (const m of q2.messages({ signal: ac.signal })) void m;
    })()).rejects.toMatchObject({ name: 'AbortError' });
    q2.close();
  });

  test('16 pending receives park no thread: fs stays prompt, and they resolve from another process', async () => {
    const baseline = await fsReadLatency();
    const names = Array.from({ length: 16 }, () => name());
    const queues = names.map((n) => MessageQueue.open(n, { create: true, maxMessages: 2, messageSize: 64 }));
    const pending = queues.map((q) => q.receive({ timeoutMs: 30000 }));
    // Four pool threads parked on these waits would make readFile hang outright.
    expect(await fsReadLatency()).toBeLessThan(2 * baseline);
    const r = await runNode('mq.js', ['sendEach', ...names]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect((await Promise.all(pending)).map((m) => m.data.toString())).toEqual(names.map((n) => `to ${n}`));
    for (const q of queues) q.close();
  });
});

describe('with worker_threads', () => {
  test('a Worker ended with receives pending closes its watchers and descriptors; nothing crashes', async () => {
    const before = openFds();
    const n = name();
    MessageQueue.open(n, { create: true }).close();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { MessageQueue } = require(workerData.dist);
       const queues = [1, 2, 3].map(() => MessageQueue.open(workerData.name));
       for (const q of queues) q.receive().then(() => parentPort.postMessage('got one'));
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: { name: n, dist: path.join(__dirname, '..', 'dist') } },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(await worker.terminate()).toBe(1);
    expect(fdsOpenedSince(before)).toEqual([]);
    // The queue is intact and nobody took anything.
    const q = MessageQueue.open(n);
    q.trySend('still here');
    expect(q.attributes.currentMessages).toBe(1);
    q.close();
  });

  test('handles collected without close() give back watcher and descriptor; reused fd numbers keep working', async () => {
    const r = await run(process.execPath, ['--expose-gc', fixture('mq.js'), 'collectThenReuse', name(), '10'], { timeout: 60000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(out.echoes).toBe(10);
    expect(out.fdsGrew).toBeLessThanOrEqual(0);
  });

  test('process.exit() with receives pending exits at once', async () => {
    const n = name();
    MessageQueue.open(n, { create: true }).close();
    const code = `const { MessageQueue } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      const q = MessageQueue.open(${JSON.stringify(n)});
      q.receive(); q.receive();
      setTimeout(() => process.exit(7), 20);`;
    const r = await run(process.execPath, ['-e', code], { timeout: 20000 });
    expect(r).toMatchObject({ code: 7, signal: null, stderr: '' });
  });
});

describe('between processes', () => {
  test('3 producers and 3 consumers: every message delivered exactly once', async () => {
    const n = name();
    const q = MessageQueue.open(n, { create: true, maxMessages: 10, messageSize: 32 });
    const consumers = [1, 2, 3].map(() => runNode('mq.js', ['consume', n]));
    const producers = await Promise.all(['a', 'b', 'c'].map((id) => runNode('mq.js', ['produce', n, id, '2000'])));
    for (const p of producers) expect(p).toMatchObject({ code: 0, stderr: '' });
    // Priority 0 stops come after every priority-1 message still queued.
    for (let i = 0; i < 3; i++) await q.send('stop', 0);
    const results = await Promise.all(consumers);
    const all: string[] = [];
    for (const c of results) {
      expect(c).toMatchObject({ code: 0, stderr: '' });
      all.push(...JSON.parse(c.stdout));
    }
    expect(all).toHaveLength(6000);
    expect(new Set(all).size).toBe(6000);
    for (const id of ['a', 'b', 'c']) expect(all.filter((m) => m.startsWith(`${id}-`))).toHaveLength(2000);
    q.close();
  });

  test('priority order holds across processes', async () => {
    const n = name();
    const q = MessageQueue.open(n, { create: true, maxMessages: 10, messageSize: 32 });
    const r = await runNode('mq.js', ['send', n, 'p1:1', 'p30:30', 'p5:5', 'p30b:30', 'p0:0']);
    expect(r.code).toBe(0);
    expect(texts([1, 2, 3, 4, 5].map(() => q.tryReceive()!))).toEqual([['p30', 30], ['p30b', 30], ['p5', 5], ['p1', 1], ['p0', 0]]);
    q.close();
  });

  describe('interop with C (mq_send / mq_receive, linked with -lrt)', () => {
    let dir: string;
    let exe: string;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'pipc-c-'));
      exe = path.join(dir, 'mq-interop');
      const cc = await run('cc', ['-O2', '-Wall', '-o', exe, fixture('mq-interop.c'), '-lrt']);
      expect(cc).toMatchObject({ code: 0, stderr: '' });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test('a C program sends with priorities; Node receives them in priority order', async () => {
      const n = name();
      const q = MessageQueue.open(n, { create: true, maxMessages: 8, messageSize: 64 });
      const r = await run(exe, ['send', n, 'c-low:1', 'c-high:20', 'c-mid:10', 'c-high-2:20']);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const got = [];
      for (let i = 0; i < 4; i++) got.push(await q.receive({ timeoutMs: 5000 }));
      expect(texts(got)).toEqual([['c-high', 20], ['c-high-2', 20], ['c-mid', 10], ['c-low', 1]]);
      q.close();
    });

    test('Node sends with priorities; a C program receives them in priority order', async () => {
      const n = name();
      const q = MessageQueue.open(n, { create: true, maxMessages: 8, messageSize: 64 });
      await q.send('n-low', 2);
      await q.send(Buffer.from('n-top'), 31);
      await q.send('n-mid', 7);
      const r = await run(exe, ['receive', n, '3']);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toBe('31 n-top\n7 n-mid\n2 n-low\n');
      q.close();
    });
  });
});

describe('limits', () => {
  test('maxMessages over msg_max and messageSize over msgsize_max name the limit (unprivileged); nothing is half-created', async () => {
    const msgMax = Number(readFileSync('/proc/sys/fs/mqueue/msg_max', 'utf8'));
    const prefix = name();
    await withOtherUser(async (runAs) => {
      const out = JSON.parse((await runAs('mq.js', ['createUntilFailure', prefix, String(msgMax + 1), '64'])).stdout);
      expect(out.created).toBe(0);
      expect(out.error).toMatchObject({ code: 'EINVAL', syscall: 'mq_open', leftover: false });
      expect(out.error.message).toBe(`EINVAL: maxMessages ${msgMax + 1} exceeds /proc/sys/fs/mqueue/msg_max (${msgMax}), mq_open '${prefix}-0'`);

      const sizeMax = Number(readFileSync('/proc/sys/fs/mqueue/msgsize_max', 'utf8'));
      const big = JSON.parse((await runAs('mq.js', ['createUntilFailure', prefix, '1', String(sizeMax + 1)])).stdout);
      expect(big.error).toMatchObject({ code: 'EINVAL', leftover: false });
      expect(big.error.message).toContain(`messageSize ${sizeMax + 1} exceeds /proc/sys/fs/mqueue/msgsize_max (${sizeMax})`);
    });
  });

  test('RLIMIT_MSGQUEUE is named with its value (it binds root too)', async () => {
    const prefix = name();
    // The limit counts every queue of the user, system-wide: a user namespace
    // of its own (and an IPC namespace) starts the count at zero, whatever
    // else runs as root meanwhile.
    const r = await run('unshare', ['-Uri', 'prlimit', '--msgqueue=100000', process.execPath, fixture('mq.js'), 'createUntilFailure', prefix, '10', '8192']);
    const out = JSON.parse(r.stdout);
    expect(out.created).toBe(1);
    expect(out.error).toMatchObject({ code: 'EMFILE', syscall: 'mq_open', leftover: false });
    expect(out.error.message).toContain('RLIMIT_MSGQUEUE (100000 bytes, ulimit -q)');
  });

  test('queues_max is named with its value (in a private IPC namespace, unprivileged)', async () => {
    const prefix = name();
    await withOtherUser(async (runAs) => {
      const setup = ['unshare', '--ipc', 'sh', '-c', 'echo 3 > /proc/sys/fs/mqueue/queues_max && exec "$0" "$@"'];
      const r = await runAs('mq.js', ['createUntilFailure', prefix, '1', '16'], setup);
      const out = JSON.parse(r.stdout);
      expect(out.created).toBe(3);
      expect(out.error).toMatchObject({ code: 'ENOSPC', syscall: 'mq_open', leftover: false });
      expect(out.error.message).toContain('/proc/sys/fs/mqueue/queues_max (3)');
    });
  });

  test('list() reads the mqueue filesystem wherever it is mounted, and says how to mount it when it is not', async () => {
    const a = name();
    const b = name();
    const mounted = await run('unshare', ['--ipc', '--mount', 'sh', '-c',
      'mount -t tmpfs none /mnt && mkdir /mnt/mq && mount -t mqueue none /mnt/mq && exec "$0" "$@"',
      process.execPath, fixture('mq.js'), 'list', b, a]);
    expect(mounted).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(mounted.stdout)).toEqual({ list: [a, b].sort() });

    const unmounted = await run('unshare', ['--mount', 'sh', '-c',
      'for m in $(awk \'$3 == "mqueue" { print $2 }\' /proc/self/mounts); do umount "$m"; done; exec "$0" "$@"',
      process.execPath, fixture('mq.js'), 'list']);
    expect(JSON.parse(unmounted.stdout).error).toMatchObject({ code: 'ENOENT', path: '/dev/mqueue' });
    expect(JSON.parse(unmounted.stdout).error.message).toContain('mount -t mqueue none /dev/mqueue');
  });

  /**
   * Runs mq.js `args` in an IPC and mount namespace of its own, whose
   * mqueue filesystem is mounted at /mnt/other, and then in a second IPC
   * namespace inside it (same mounts), which mounts its own at /mnt/mq when
   * `mountOwn`: the fixture's queues are the second namespace's, and the
   * first mqueue mount in /proc/self/mountinfo shows another namespace's.
   */
  function inNestedNamespace(mountOwn: boolean, ...args: string[]) {
    const inner = `${mountOwn ? 'mount -t mqueue none /mnt/mq && ' : ''}exec "$0" "$@"`;
    return run('unshare', ['--ipc', '--mount', 'sh', '-c',
      'mount -t tmpfs none /mnt && mkdir /mnt/other /mnt/mq && mount -t mqueue none /mnt/other && exec unshare --ipc sh -c "$INNER" "$0" "$@"',
      process.execPath, fixture('mq.js'), ...args], { env: { ...process.env, INNER: inner } });
  }

  test("list() lists this IPC namespace's queues when another namespace's mqueue mount comes first", async () => {
    const a = name();
    const b = name();
    const r = await inNestedNamespace(true, 'list', b, a);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ list: [a, b].sort() });
  });

  test("list() with only another namespace's mqueue mount says so, instead of listing that namespace's queues", async () => {
    const r = await inNestedNamespace(false, 'list', name());
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const { error } = JSON.parse(r.stdout);
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'scandir', path: '/dev/mqueue' });
    expect(error.message).toContain("no mqueue filesystem of this process's IPC namespace is mounted (/mnt/other shows another namespace's queues)");
  });

  test('list() finds its namespace by a queue that exists when it cannot create one (queues_max reached, another uid)', async () => {
    const a = name();
    // One queue fits: the fixture's; list() has no room for its own (root
    // would: CAP_SYS_RESOURCE passes queues_max).
    const r = await withOtherUser((runAs) => runAs('mq.js', ['list', a], ['unshare', '--ipc', '--mount', 'sh', '-c',
      'echo 1 > /proc/sys/fs/mqueue/queues_max && mount -t tmpfs none /mnt && mkdir /mnt/mq && mount -t mqueue none /mnt/mq && exec "$0" "$@"']));
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ list: [a] });
  });

  test('no descriptor leaks, on success and failure paths', async () => {
    const before = openFds();
    const n = name();
    for (let i = 0; i < 20; i++) {
      const q = MessageQueue.open(n, { create: true, maxMessages: 2, messageSize: 8 });
      expect(() => MessageQueue.open(n, { create: true, exclusive: true })).toThrow(IpcError);
      q.trySend('x');
      const pending = q.receive();
      await pending;
      q.sendSync('y', 0, { timeoutMs: 100 });
      q.receiveSync({ timeoutMs: 100 });
      void q.receive().catch(() => undefined);
      q.close();
      q.unlink();
      expect(() => MessageQueue.open(n)).toThrow(IpcError);
    }
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

test('util.inspect shows kind, name, fd, attributes and state, open and closed', () => {
  const n = `/pipc-${process.pid}-inspect`;
  const q = MessageQueue.open(n, { create: true, maxMessages: 2, messageSize: 16 });
  try {
    expect(inspect(q, { breakLength: Infinity })).toBe(`MessageQueue { name: '${n}', fd: ${q.fd}, access: 'readwrite', maxMessages: 2, messageSize: 16, ref: true, closed: false }`);
    q.unref();
  } finally {
    q.close();
    MessageQueue.unlink(n);
  }
  expect(inspect(q, { breakLength: Infinity })).toBe(`MessageQueue { name: '${n}', fd: -1, access: 'readwrite', maxMessages: 2, messageSize: 16, ref: false, closed: true }`);
});

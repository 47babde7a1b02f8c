import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { once, setMaxListeners } from 'node:events';
import { chmodSync, writeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { AbortError, Fifo, FifoClient, FifoServer, IpcError, mkfifo } from '../lib';
import { binding } from '../lib/binding';
import { fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, O_NONBLOCK, openFds, run, runNode, until, withOtherUser, withUmask } from './helpers';

let dir: string;
/** What afterEach undoes even when a test failed half-way: children, servers, clients. */
const cleanups: Array<() => unknown> = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-fifo-'));
});

afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) {
    try {
      await undo();
    } catch {
      // already undone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** FifoServer.listen, closed after the test. */
function listen<Q, R>(
  requestPath: string, handler: (request: Q) => R | Promise<R>, options?: { mode?: number },
): FifoServer {
  const server = FifoServer.listen(requestPath, handler, options);
  cleanups.push(() => server.close());
  return server;
}

/** FifoClient.connect, closed after the test. */
async function connect(requestPath: string, options?: Parameters<typeof FifoClient.connect>[1]): Promise<FifoClient> {
  const client = await FifoClient.connect(requestPath, options);
  cleanups.push(() => client.close());
  return client;
}

/** A path in this test's own directory. */
const at = (name: string) => path.join(dir, name);

const dist = path.join(__dirname, '..', 'dist');

/** Everything a readable stream gives until 'end'. */
function readAll(stream: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text)).on('error', reject);
  });
}

/** Resolves when the stream has closed its descriptor. */
const closed = (stream: Socket) => new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve())));

/** The JSON lines a fixture printed. */
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l));

/** How a child ended, and what it wrote. */
interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Starts a child and resolves with its output when it ends, without waiting for it now. */
function start(command: string, args: string[]): { done: Promise<Finished>; pid: number } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject).on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { done, pid: child.pid! };
}

describe('hostile buffers', () => {
  test('the addon refuses a write from anything but a real Uint8Array (-EINVAL), writing nothing', () => {
    const { EINVAL } = osConstants.errno;
    // Any descriptor will do: the refusal comes before the write(2).
    expect(binding.fifoWrite(1, new Proxy(Buffer.from('x'), {}))).toBe(-EINVAL);
    expect(binding.fifoWrite(1, new DataView(new ArrayBuffer(1)) as never)).toBe(-EINVAL);
    expect(binding.fifoWrite(1, 'x' as never)).toBe(-EINVAL);
  });
});

describe('mkfifo', () => {
  test('creates a FIFO, 0600 by default under umask 000, and the exact mode under umask 077', () => {
    withUmask(0, () => mkfifo(at('default')));
    withUmask(0o077, () => {
      mkfifo(at('shared'), 0o644);
      Fifo.mkfifo(at('wide'), 0o666);
    });
    expect(lstatSync(at('default')).isFIFO()).toBe(true);
    expect(lstatSync(at('default')).mode & 0o7777).toBe(0o600);
    expect(lstatSync(at('shared')).mode & 0o7777).toBe(0o644);
    expect(lstatSync(at('wide')).mode & 0o7777).toBe(0o666);
    expect(Fifo.PIPE_BUF).toBe(4096);
  });

  test('a taken path is EEXIST, a symbolic link included (even a dangling one): it is never followed', () => {
    const file = at('file');
    writeFileSync(file, 'keep me');
    chmodSync(file, 0o640);
    symlinkSync(file, at('link'));
    symlinkSync(at('nowhere'), at('dangling'));
    mkfifo(at('fifo'));
    for (const p of [file, at('link'), at('dangling'), at('fifo')]) {
      expect(() => mkfifo(p, 0o666)).toThrow(expect.objectContaining({
        name: 'IpcError', code: 'EEXIST', errno: -17, syscall: 'mkfifo', path: p, message: `EEXIST: file already exists, mkfifo '${p}'`,
      }));
    }
    expect(statSync(file).mode & 0o777).toBe(0o640); // the link's target was not touched
    expect(existsSync(at('nowhere'))).toBe(false); // nothing was created through the dangling link
    expect(() => mkfifo(at('missing/dir/fifo'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'mkfifo', path: at('missing/dir/fifo') }));
  });

  test('bad arguments fail before any syscall', () => {
    expect(() => mkfifo(42 as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => mkfifo('')).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mkfifo(at('a\0b'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mkfifo(at('x'), 0o1000)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mkfifo(at('x'), '600' as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(readdirSync(dir)).toEqual([]);
  });

  test('Fifo.unlink removes a FIFO and refuses anything else', () => {
    mkfifo(at('fifo'));
    writeFileSync(at('file'), '');
    Fifo.unlink(at('fifo'));
    expect(existsSync(at('fifo'))).toBe(false);
    expect(() => Fifo.unlink(at('fifo'))).toThrow(expect.objectContaining({ name: 'IpcError', code: 'ENOENT', path: at('fifo') }));
    expect(() => Fifo.unlink(at('file'))).toThrow(expect.objectContaining({
      code: 'EINVAL', syscall: 'unlink', message: `EINVAL: not a FIFO but a regular file, unlink '${at('file')}'`,
    }));
    expect(existsSync(at('file'))).toBe(true);
  });
});

describe('opening', () => {
  test('ends are non-blocking and close-on-exec; a reader opens without a writer, at once', async () => {
    mkfifo(at('f'));
    const reader = await Fifo.openReader(at('f'));
    expect(reader).toMatchObject({ path: at('f'), direction: 'read', closed: false });
    expect(fdFlags(reader.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
    const writer = await Fifo.openWriter(at('f'));
    expect(writer).toMatchObject({ direction: 'write' });
    expect(fdFlags(writer.fd) & (O_NONBLOCK | O_CLOEXEC | 3)).toBe(O_NONBLOCK | O_CLOEXEC | 1); // O_WRONLY
    expect(fdFlags(reader.fd) & 3).toBe(0); // O_RDONLY
    writer.close();
    reader.close();
  });

  test('a symbolic link is refused (ELOOP); a path that is not a FIFO is EINVAL and says what it is', async () => {
    mkfifo(at('fifo'));
    symlinkSync(at('fifo'), at('link'));
    writeFileSync(at('file'), 'data');
    mkdirSync(at('dir'));
    await expect(Fifo.openReader(at('link'))).rejects.toMatchObject({
      name: 'IpcError', code: 'ELOOP', errno: -40, syscall: 'open', path: at('link'),
      message: `ELOOP: a symbolic link, which a FIFO open never follows, open '${at('link')}'`,
    });
    await expect(Fifo.openWriter(at('link'))).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open' });
    await expect(Fifo.openReader(at('file'))).rejects.toMatchObject({
      code: 'EINVAL', errno: -22, syscall: 'open', path: at('file'), message: `EINVAL: not a FIFO but a regular file, open '${at('file')}'`,
    });
    await expect(Fifo.openWriter(at('dir'), { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('not a FIFO but a directory') });
    await expect(Fifo.openReader('/dev/null')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('not a FIFO but a character device') });
    await expect(Fifo.openReader(at('missing'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path: at('missing') });
    await expect(Fifo.openReader(at('missing'))).rejects.toBeInstanceOf(IpcError);
    expect(readFileSync(at('file'), 'utf8')).toBe('data');
  });

  test('bad arguments reject before any syscall', async () => {
    await expect(Fifo.openReader(7 as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    await expect(Fifo.openWriter('')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Fifo.openWriter(at('f'), { timeoutMs: -1 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Fifo.openWriter(at('f'), { signal: 'no' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(Fifo.openWriter(at('f'), null as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });

  test('another uid: a 0600 FIFO is EACCES for both ends, a 0666 one opens', async () => {
    chmodSync(dir, 0o755);
    mkfifo(at('private'));
    mkfifo(at('public'), 0o666);
    await withOtherUser(async (runAs) => {
      const open = async (p: string) => JSON.parse((await runAs('fifo.js', ['open', p])).stdout);
      expect(await open(at('private'))).toMatchObject({
        reader: { error: { code: 'EACCES', syscall: 'open', path: at('private') } },
        writer: { error: { code: 'EACCES', syscall: 'open', path: at('private') } },
      });
      // The writer gets past the permission check and waits for a reader.
      expect(await open(at('public'))).toMatchObject({ reader: { ok: 'read' }, writer: { error: { code: 'ETIMEDOUT', syscall: 'open' } } });
    });
  });

  test('without /proc (a chroot, a minimal container): exact modes, the same checks, and FIFOs still open', async () => {
    mkfifo(at('fifo'));
    symlinkSync(at('fifo'), at('link'));
    writeFileSync(at('file'), '');
    const r = await run('unshare', ['--mount', process.execPath, fixture('fifo.js'), 'withoutProc', at('made'), at('fifo'), at('link'), at('file'), '/dev/null']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({
      proc: false,
      results: [
        { ok: '640' }, // the exact mode without /proc: fchmodat2 (Linux >= 6.6)
        { ok: 'read' },
        { error: { code: 'ELOOP', syscall: 'open' } },
        { error: { code: 'EINVAL', message: expect.stringContaining('not a FIFO but a regular file') } },
        { error: { code: 'EINVAL', message: expect.stringContaining('not a FIFO but a character device') } },
        { ok: 'through the fallback' },
      ],
    });
  });
});

describe('capacity', () => {
  test('setPipeSize on one end is the FIFO\'s: the other end sees it; it lasts while an end is open; errors name the path', async () => {
    const before = openFds();
    const file = at('sized');
    mkfifo(file);
    const reader = await Fifo.openReader(file);
    const writer = await Fifo.openWriter(file);
    expect(reader.pipeSize).toBe(65536);
    writer.setPipeSize(300_000);
    expect(reader.pipeSize).toBe(524288); // rounded up to a power-of-two number of pages
    expect(writeSync(writer.fd, Buffer.alloc(100 * 1024))).toBe(100 * 1024);
    expect(() => reader.setPipeSize(4096)).toThrow(expect.objectContaining({ code: 'EBUSY', syscall: 'fcntl', path: file }));
    writer.close();
    expect(reader.pipeSize).toBe(524288);
    reader.close();
    const again = await Fifo.openReader(file);
    expect(again.pipeSize).toBe(65536); // a FIFO's pipe is made anew when it is opened again
    expect(() => again.setPipeSize(0)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    again.close();
    expect(() => again.pipeSize).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('a reader streams with onread into one buffer', async () => {
    const file = at('onread');
    mkfifo(file);
    const reader = await Fifo.openReader(file);
    const writer = (await Fifo.openWriter(file)).stream();
    const buffer = Buffer.alloc(1024);
    let text = '';
    const stream = reader.stream({ onread: { buffer, callback: (n) => void (text += buffer.toString('utf8', 0, n)) } });
    writer.end('through one buffer');
    await once(stream, 'end');
    expect(text).toBe('through one buffer');
    stream.destroy();
  });
});

describe('streams', () => {
  test('the reader waits for the first writer, then ends when the last writer closes', async () => {
    mkfifo(at('f'));
    const reader = (await Fifo.openReader(at('f'))).stream();
    let ended = false;
    const text = readAll(reader).finally(() => (ended = true));
    // No writer has come yet: the kernel reports no end of file.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ended).toBe(false);
    const one = (await Fifo.openWriter(at('f'))).stream();
    const two = (await Fifo.openWriter(at('f'))).stream();
    one.end('first ');
    await closed(one);
    expect(ended).toBe(false); // another writer is still there
    two.end('second');
    expect(await text).toBe('first second');
    await closed(reader);
  });

  test('shell interop: `echo hello > fifo` is read by Node', async () => {
    mkfifo(at('f'));
    // The shell blocks in open(2) until a reader exists.
    const shell = run('sh', ['-c', 'echo hello > "$0"', at('f')], { timeout: 20000 });
    const text = await readAll((await Fifo.openReader(at('f'))).stream());
    expect(text).toBe('hello\n');
    expect(await shell).toMatchObject({ code: 0, stderr: '' });
  });

  test('shell interop: what Node writes is read by `cat fifo`, a reader blocked in open(2)', async () => {
    mkfifo(at('f'));
    const cat = run('cat', [at('f')], { timeout: 20000 });
    const writer = (await Fifo.openWriter(at('f'), { timeoutMs: 20000 })).stream();
    writer.write('from ');
    writer.end('node\n');
    expect(await cat).toEqual({ code: 0, signal: null, stdout: 'from node\n', stderr: '' });
  });

  test('openWriter waits for a reader that a process started later opens', async () => {
    mkfifo(at('f'));
    const writing = Fifo.openWriter(at('f'), { timeoutMs: 20000 });
    const reader = start('sh', ['-c', 'sleep 0.2; exec "$0" "$@"', process.execPath, fixture('fifo.js'), 'read', at('f')]);
    const writer = (await writing).stream();
    writer.end('waited for you');
    expect(await reader.done).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse((await reader.done).stdout)).toEqual({ read: 'waited for you' });
  });

  test('megabytes flow with backpressure into another process', async () => {
    mkfifo(at('f'));
    const reader = start(process.execPath, [fixture('fifo.js'), 'readCount', at('f')]);
    const writer = (await Fifo.openWriter(at('f'), { timeoutMs: 20000 })).stream();
    const chunk = Buffer.alloc(64 * 1024);
    let sum = 0;
    for (let i = 0; i < chunk.length; i++) {
      chunk[i] = (i * 7) & 0xff;
      sum = (sum + chunk[i]) % 65521;
    }
    let full = 0;
    for (let i = 0; i < 64; i++) {
      if (!writer.write(chunk)) {
        full++;
        await new Promise((resolve) => writer.once('drain', resolve));
      }
    }
    writer.end();
    const r = await reader.done;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ bytes: 64 * chunk.length, sum: (sum * 64) % 65521 });
    expect(full).toBeGreaterThan(0); // write() did report a full pipe
  });

  test('a write without a reader is an EPIPE error event, never SIGPIPE', async () => {
    mkfifo(at('f'));
    const reader = await Fifo.openReader(at('f'));
    const writer = (await Fifo.openWriter(at('f'))).stream();
    reader.close();
    const error = await new Promise<Error>((resolve) => {
      writer.on('error', resolve);
      writer.write('lost');
    });
    expect(error).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    await closed(writer);

    // The same in a process of its own: it reports the error and exits normally.
    mkfifo(at('g'));
    const r = await runNode('fifo.js', ['epipe', at('g')], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'EPIPE', syscall: 'write' }, destroyed: true });
  });

  test('stream() hands the descriptor over; the handle is closed after it', async () => {
    mkfifo(at('f'));
    const fifo = await Fifo.openReader(at('f'));
    const fd = fifo.fd;
    const stream = fifo.stream();
    expect(fifo.closed).toBe(true);
    expect(fifo.fd).toBe(-1);
    expect(() => fifo.stream()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED', message: 'Fifo is closed' }));
    expect(() => fifo.close()).not.toThrow();
    expect(existsSync(`/proc/self/fd/${fd}`)).toBe(true); // the stream owns it now
    stream.destroy();
    await closed(stream);
    {
      using other = await Fifo.openReader(at('f'));
      expect(other.closed).toBe(false);
    }
  });
});

describe('waiting for a reader', () => {
  test('timeoutMs rejects with ETIMEDOUT; an AbortSignal with AbortError', async () => {
    mkfifo(at('f'));
    await expect(Fifo.openWriter(at('f'), { timeoutMs: 30 })).rejects.toMatchObject({
      name: 'IpcError', code: 'ETIMEDOUT', errno: -110, syscall: 'open', path: at('f'),
      message: `ETIMEDOUT: timed out after 30 ms waiting for a reader, open '${at('f')}'`,
    });
    await expect(Fifo.openWriter(at('f'), { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const reason = new Error('changed my mind');
    await expect(Fifo.openWriter(at('f'), { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    const ac = new AbortController();
    const pending = Fifo.openWriter(at('f'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    // A failure other than "no reader yet" ends the wait at once.
    const gone = Fifo.openWriter(at('f'));
    Fifo.unlink(at('f'));
    await expect(gone).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  test('aborted and timed-out waits leave no timer behind: the process exits by itself', async () => {
    mkfifo(at('f'));
    const r = await runNode('fifo.js', ['abortThenExit', at('f')], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(lines(r.stdout)).toEqual([
      { aborted: expect.objectContaining({ name: 'AbortError', code: 'ABORT_ERR' }) },
      { timedOut: expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'open', path: at('f') }) },
    ]);
  });

  test('16 waiting writers park no thread: fs calls still complete', async () => {
    const ac = new AbortController();
    setMaxListeners(16, ac.signal); // one signal for all of them
    const waits = Array.from({ length: 16 }, (_, i) => {
      mkfifo(at(`w${i}`));
      return Fifo.openWriter(at(`w${i}`), { signal: ac.signal }).catch((err: Error) => err.name);
    });
    writeFileSync(at('data'), Buffer.alloc(64 * 1024, 1));
    // Four pool threads parked on these waits would make these hang.
    const reads = await Promise.all(Array.from({ length: 8 }, () => readFile(at('data'))));
    expect(reads.map((b) => b.length)).toEqual(Array(8).fill(64 * 1024));
    ac.abort();
    expect(await Promise.all(waits)).toEqual(Array(16).fill('AbortError'));
  });
});

describe('lifetime', () => {
  test('no descriptor leaks, on success and failure paths', async () => {
    mkfifo(at('f'));
    writeFileSync(at('file'), '');
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      const reader = await Fifo.openReader(at('f'));
      const writer = await Fifo.openWriter(at('f'));
      const r = reader.stream();
      const w = writer.stream();
      const text = readAll(r);
      w.end(`round ${i}`);
      expect(await text).toBe(`round ${i}`);
      await Promise.all([closed(r), closed(w)]);
      await expect(Fifo.openWriter(at('f'), { timeoutMs: 0 })).rejects.toThrow(IpcError);
      await expect(Fifo.openReader(at('file'))).rejects.toThrow(IpcError);
      (await Fifo.openReader(at('f'))).close();
    }
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('a Worker ended with ends open and a writer waiting closes them all', async () => {
    mkfifo(at('f'));
    mkfifo(at('nobody-reads'));
    const before = openFds();
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Fifo } = require(workerData.dist + '/fifo');
       (async () => {
         const reader = await Fifo.openReader(workerData.f);
         const writer = await Fifo.openWriter(workerData.f);
         const stream = (await Fifo.openReader(workerData.f)).stream();
         Fifo.openWriter(workerData.waiting);
         parentPort.postMessage([reader.fd, writer.fd]);
       })();`,
      { eval: true, workerData: { dist, f: at('f'), waiting: at('nobody-reads') } },
    );
    const fds = await new Promise<number[]>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(fds.every((fd) => fd > 2)).toBe(true);
    expect(await worker.terminate()).toBe(1);
    await until(() => fdsOpenedSince(before).length === 0);
    expect(fdsOpenedSince(before)).toEqual([]);
  });
});

describe('FifoServer and FifoClient', () => {
  test('20 client processes at once, each with 10 requests near PIPE_BUF in flight; every reply FIFO is removed', async () => {
    const before = openFds();
    const requestPath = at('server');
    let handled = 0;
    const server = listen(requestPath, async (request: { pid: number; i: number; padding: string }) => {
      handled++;
      // Answer out of order, so replies must be matched by id.
      await new Promise((resolve) => setTimeout(resolve, (request.i * 7) % 5));
      return { pid: request.pid, i: request.i, length: request.padding.length, ok: /^(\d)\1*$/.test(request.padding) };
    });
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    expect(lstatSync(requestPath).mode & 0o7777).toBe(0o600);
    const clients = await Promise.all(Array.from({ length: 20 }, () => runNode('fifo.js', ['client', requestPath, dir, '10', '3900'])));
    for (const c of clients) {
      expect(c).toMatchObject({ code: 0, stderr: '' });
      const { pid, replyPath, replies } = JSON.parse(c.stdout);
      expect(path.basename(replyPath)).toMatch(new RegExp(`^posix-ipc-${pid}-\\d+\\.fifo$`));
      expect(replies).toEqual(Array.from({ length: 10 }, (_, i) => ({ pid, i, length: 3900, ok: true })));
    }
    expect(handled).toBe(200);
    expect(errors).toEqual([]);
    expect(readdirSync(dir)).toEqual(['server']);
    await server.close();
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('errors: a handler that throws, data that is not JSON, a request over PIPE_BUF, timeouts and aborts', async () => {
    const requestPath = at('server');
    const seen: unknown[] = [];
    const server = listen(requestPath, (request: string) => {
      seen.push(request);
      if (request === 'throw') throw Object.assign(new RangeError('out of range'), { code: 'E_RANGE' });
      if (request === 'slow') return new Promise((resolve) => setTimeout(() => resolve('late'), 200));
      if (request === 'bigint') return 10n;
      return `echo ${request}`;
    });
    const client = await connect(requestPath, { replyDir: dir });
    expect(client).toMatchObject({ requestPath, closed: false });
    expect(client.replyPath.startsWith(`${dir}/posix-ipc-${process.pid}-`)).toBe(true);
    expect(lstatSync(client.replyPath).mode & 0o7777).toBe(0o600);

    expect(await client.request('a')).toBe('echo a');
    await expect(client.request('throw')).rejects.toMatchObject({
      code: 'ERR_IPC_REMOTE', message: 'out of range', cause: { name: 'RangeError', message: 'out of range', code: 'E_RANGE' },
    });
    await expect(client.request('bigint')).rejects.toMatchObject({ code: 'ERR_IPC_REMOTE', message: expect.stringContaining('not JSON-serializable') });
    await expect(client.request(10n)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    const big = 'x'.repeat(4096);
    await expect(client.request(big)).rejects.toMatchObject({
      name: 'IpcError', code: 'EMSGSIZE', syscall: 'write', path: requestPath,
      message: expect.stringContaining('exceeds PIPE_BUF (4096), the most a FIFO writes atomically'),
    });
    await expect(client.request('slow', { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', syscall: 'read', path: client.replyPath, message: expect.stringContaining('no reply within 20 ms'),
    });
    const ac = new AbortController();
    const aborted = client.request('slow', { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(client.request('b', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(client.request('c', { timeoutMs: 1.5 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    // The late replies to the given-up requests arrive and are ignored.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await client.request('d')).toBe('echo d');
    expect(seen).toEqual(['a', 'throw', 'bigint', 'slow', 'slow', 'd']); // nothing else reached the server

    client.close();
    await server.close();
  });

  test('close: in-flight requests are answered; later ones get EPIPE; a closed client is ERR_IPC_CLOSED', async () => {
    const before = openFds();
    const requestPath = at('server');
    let handling!: () => void;
    const handled = new Promise<void>((resolve) => (handling = resolve));
    const server = listen(requestPath, (n: number) => {
      handling();
      return new Promise((resolve) => setTimeout(() => resolve(n * 2), 100));
    });
    const client = await connect(requestPath, { replyDir: dir });
    const inflight = client.request(21);
    await handled; // the server has read it and is working on it
    const closing = server.close();
    expect(server.close()).toBe(closing);
    expect(server.closed).toBe(true);
    expect(existsSync(requestPath)).toBe(false); // no new client can find it
    expect(await inflight).toBe(42);
    await closing;
    await expect(client.request(1)).rejects.toMatchObject({ code: 'EPIPE', syscall: 'write', path: requestPath });

    const replyPath = client.replyPath;
    client.close();
    expect(client.closed).toBe(true);
    expect(() => client.close()).not.toThrow();
    expect(existsSync(replyPath)).toBe(false);
    await expect(client.request(1)).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'FifoClient is closed' });
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('a client closed with requests pending rejects them with ERR_IPC_CLOSED; the server shrugs off the lost reply', async () => {
    const server = listen(at('server'), () => new Promise((resolve) => setTimeout(() => resolve('too late'), 100)));
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    const client = await connect(at('server'), { replyDir: dir });
    const pending = [client.request(1), client.request(2)];
    await new Promise((resolve) => setTimeout(resolve, 30));
    client.close();
    await Promise.all(pending.map((p) => expect(p).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' })));
    await until(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'ENOENT', syscall: 'open' }); // the reply FIFO is gone
    const again = await connect(at('server'), { replyDir: dir });
    expect(await again.request(3)).toBe('too late');
    again.close();
    await server.close();
  });

  test('a server that dies: pending requests reject with EPIPE instead of hanging', async () => {
    const requestPath = at('server');
    const child = start(process.execPath, [fixture('fifo.js'), 'serve', requestPath]);
    const client = await connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    expect(await client.request('echo')).toBe('echo');
    const hanging = client.request('hang');
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(child.pid, 'SIGKILL');
    await expect(hanging).rejects.toMatchObject({
      name: 'IpcError', code: 'EPIPE', syscall: 'poll', path: requestPath,
      message: `EPIPE: the server closed the request FIFO before replying, poll '${requestPath}'`,
    });
    expect((await child.done).signal).toBe('SIGKILL');
    // Writing to a FIFO nobody reads is EPIPE too, and this process lives on.
    await expect(client.request('echo')).rejects.toMatchObject({ code: 'EPIPE', syscall: 'write' });
    client.close();
    // The killed server left its request FIFO: a new server there is EEXIST until it is removed.
    expect(() => listen(requestPath, (request: string) => request)).toThrow(expect.objectContaining({ code: 'EEXIST', path: requestPath }));
    rmSync(requestPath);
    const next = listen(requestPath, (request: string) => request);
    const again = await connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    expect(await again.request('back')).toBe('back');
    again.close();
    await next.close();
  });

  test('a server with no descriptor to spare (RLIMIT_NOFILE): that reply is a clientError (EMFILE) and the request times out; with two free, it answers again', async () => {
    const requestPath = at('server');
    const child = spawn('prlimit', ['--nofile=128:128', process.execPath, fixture('fifo.js'), 'serveWithoutFds', requestPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    const closed = once(child, 'close');
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
    expect(await next()).toEqual({ ready: 1 });
    const client = await connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    await expect(client.request(21, { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(await next()).toEqual({ ready: 2 });
    expect(await client.request(21, { timeoutMs: 20000 })).toBe(42);
    const out = await next();
    expect(out).toMatchObject({ error: { code: 'EMFILE', syscall: 'open' }, then: 'answered' });
    expect(out.filled).toBeGreaterThan(10);
    client.close();
    expect(await closed).toEqual([0, null]);
  });

  test('a client that dies: its reply fails as a clientError, and the server goes on', async () => {
    const requestPath = at('server');
    const server = listen(requestPath, (request: string) => (request === 'hang' ? new Promise((resolve) => setTimeout(() => resolve('late'), 300)) : request));
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    const child = start(process.execPath, [fixture('fifo.js'), 'clientThenHang', requestPath, dir]);
    await until(() => readdirSync(dir).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100)); // its request is in
    process.kill(child.pid, 'SIGKILL');
    const { replyPath } = JSON.parse((await child.done).stdout);
    await until(() => errors.length > 0);
    // Its reply FIFO is still there (it was killed), but nobody reads it.
    expect(errors[0]).toMatchObject({ code: 'ENXIO', syscall: 'open', path: replyPath });
    const client = await connect(requestPath, { replyDir: dir });
    expect(await client.request('still here')).toBe('still here');
    client.close();
    await server.close();
  });

  test('a shell script can be a client: one JSON line each way', async () => {
    const requestPath = at('server');
    listen(requestPath, (n: number) => n + 1);
    const script = 'mkfifo -m 600 "$1" && exec 3<>"$1" && echo "{\\"id\\": 7, \\"reply\\": \\"$1\\", \\"data\\": 20}" > "$0" && head -n 1 <&3 && rm "$1"';
    const r = await run('sh', ['-c', script, requestPath, at('shell-reply')], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ id: 7, data: 21 });
  });

  test('junk in the request FIFO (from a shell) is reported and skipped', async () => {
    const requestPath = at('server');
    const server = listen(requestPath, (request: string) => request);
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    expect(await run('sh', ['-c', 'echo "not json" > "$0"; echo "{\\"id\\": 1}" > "$0"', requestPath])).toMatchObject({ code: 0 });
    expect(await run('sh', ['-c', `head -c 5000 /dev/zero | tr '\\0' a > "$0"; echo > "$0"`, requestPath])).toMatchObject({ code: 0 });
    await until(() => errors.length === 3);
    expect(errors[0]).toMatchObject({ code: 'EINVAL', syscall: 'read', path: requestPath, message: expect.stringContaining('malformed request "not json"') });
    expect(errors[1]).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('malformed request') });
    expect(errors[2]).toMatchObject({ code: 'EMSGSIZE', message: expect.stringContaining('exceeds PIPE_BUF (4096)') });
    const client = await connect(requestPath, { replyDir: dir });
    expect(await client.request('fine')).toBe('fine');
    client.close();
    await server.close();
  });

  test('connect waits for a server that starts later, and gives up on timeout or abort leaving nothing behind', async () => {
    const requestPath = at('server');
    mkfifo(at('nobody-listens'));
    writeFileSync(at('file'), '');
    await expect(FifoClient.connect(at('nobody-listens'), { replyDir: dir, timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'open' });
    await expect(FifoClient.connect(at('nobody-listens'), { replyDir: dir, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    // A request FIFO that does not exist yet is waited for, like one nobody reads.
    await expect(FifoClient.connect(at('missing'), { replyDir: dir, timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', path: at('missing') });
    await expect(FifoClient.connect(at('file'), { replyDir: dir })).rejects.toMatchObject({ code: 'EINVAL', syscall: 'open' });
    expect(readdirSync(dir).sort()).toEqual(['file', 'nobody-listens']);

    const connecting = connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const server = listen(requestPath, (request: number) => request + 1);
    const client = await connecting;
    expect(await client.request(1)).toBe(2);
    expect(() => FifoServer.listen(requestPath, () => 0)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo', path: requestPath }));
    expect(() => FifoServer.listen(at('x'), 'nope' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => FifoServer.listen(at('x'), () => 0, { mode: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    await expect(FifoClient.connect(requestPath, { replyDir: 5 as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    client.close();
    await server.close();
    expect(readdirSync(dir).sort()).toEqual(['file', 'nobody-listens']);
  });

  test('another uid: a 0600 server is EACCES to it, a 0622 one answers it', async () => {
    chmodSync(dir, 0o755);
    const closedServer = listen(at('private'), (request: unknown) => request);
    const openServer = listen(at('public'), (request: { pid: number; i: number }) => ({ ...request, served: true }), { mode: 0o622 });
    try {
      await withOtherUser(async (runAs) => {
        const denied = await runAs('fifo.js', ['client', at('private'), tmpdir(), '1']);
        expect(denied.code).toBe(1);
        expect(denied.stderr).toContain(`EACCES: permission denied, open '${at('private')}'`);
        const served = await runAs('fifo.js', ['client', at('public'), tmpdir(), '2']);
        expect(served).toMatchObject({ code: 0, stderr: '' });
        const { pid, replies } = JSON.parse(served.stdout);
        expect(replies).toEqual([{ pid, i: 0, padding: '', served: true }, { pid, i: 1, padding: '', served: true }]);
      });
    } finally {
      await Promise.all([closedServer.close(), openServer.close()]);
    }
  });
});

test('util.inspect shows Fifo, FifoServer and FifoClient with their paths and state, open and closed', async () => {
  const p = at('inspect.fifo');
  const server = FifoServer.listen(p, (x) => x);
  const client = await FifoClient.connect(p, { replyDir: dir });
  const reader = await Fifo.openReader(client.replyPath);
  expect(inspect(server, { breakLength: Infinity })).toBe(`FifoServer { path: '${p}', handling: 0, ref: true, closed: false }`);
  expect(inspect(client, { breakLength: Infinity })).toMatch(new RegExp(`^FifoClient \\{ requestPath: '${p}', replyPath: '${client.replyPath}', fd: \\d+, pending: 0, ref: true, closed: false \\}$`));
  expect(inspect(reader, { breakLength: Infinity })).toBe(`Fifo { path: '${client.replyPath}', fd: ${reader.fd}, direction: 'read', closed: false }`);
  reader.close();
  client.close();
  await server.close();
  expect(inspect(server, { breakLength: Infinity })).toBe(`FifoServer { path: '${p}', handling: 0, ref: true, closed: true }`);
  expect(inspect(client, { breakLength: Infinity })).toBe(`FifoClient { requestPath: '${p}', replyPath: '${client.replyPath}', fd: -1, pending: 0, ref: true, closed: true }`);
  expect(inspect(reader, { breakLength: Infinity })).toBe(`Fifo { path: '${client.replyPath}', fd: -1, direction: 'read', closed: true }`);
});

test('await using closes a FifoServer and waits: a request being handled is answered first (Symbol.asyncDispose)', async () => {
  const p = at('dispose.fifo');
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let answered = false;
  const client = await (async () => {
    await using server = FifoServer.listen(p, async (x) => {
      await gate;
      answered = true;
      return x;
    });
    const c = await FifoClient.connect(p, { replyDir: dir });
    const reply = c.request('slow');
    await until(() => inspect(server).includes('handling: 1'));
    setTimeout(release, 50);
    return { c, reply, server };
  })();
  // The block ended only once the server had closed: its request was answered.
  expect(answered).toBe(true);
  expect(client.server.closed).toBe(true);
  expect(existsSync(p)).toBe(false);
  await expect(client.reply).resolves.toBe('slow');
  client.c.close();
});

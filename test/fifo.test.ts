/**
 * FIFO ends: mkfifo, opening a reader or a writer, their streams, capacity and
 * lifetime (the request/reply protocol is in fifo-request.test.ts).
 */
import { once, setMaxListeners } from 'node:events';
import {
  chmodSync, writeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, Fifo, IpcError, mkfifo } from '../lib';
import { binding } from '../lib/binding';
import {
  fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, O_NONBLOCK, openFds, run, runNode, until, withOtherUser, withUmask,
} from './helpers';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-fifo-'));
});

// A child a test started ends by itself, or at its run() timeout if the test failed half-way.
afterEach(() => rmSync(dir, { recursive: true, force: true }));

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
const closed = (stream: Socket) =>
  new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve())));

/** The JSON lines a fixture printed. */
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l));


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
        name: 'IpcError', code: 'EEXIST', errno: -17, syscall: 'mkfifo', path: p,
        // The way out is suggested only for a FIFO left there: posix-ipc rm removes nothing else.
        message: p === at('fifo')
          ? `EEXIST: file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${p}\` removes it if no process holds it), mkfifo '${p}'`
          : `EEXIST: file already exists, mkfifo '${p}'`,
      }));
    }
    expect(statSync(file).mode & 0o777).toBe(0o640); // the link's target was not touched
    expect(existsSync(at('nowhere'))).toBe(false); // nothing was created through the dangling link
    expect(() => mkfifo(at('missing/dir/fifo'))).toThrow(expect.objectContaining({
      code: 'ENOENT', syscall: 'mkfifo', path: at('missing/dir/fifo'),
    }));
  });

  test('bad arguments fail before any syscall', () => {
    expect(() => mkfifo(42 as never)).toThrow(expect.objectContaining({
      name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE',
    }));
    expect(() => mkfifo('')).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mkfifo(at('a\0b'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mkfifo(at('x'), 0o1000)).toThrow(expect.objectContaining({
      name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE',
    }));
    expect(() => mkfifo(at('x'), '600' as never)).toThrow(expect.objectContaining({
      name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE',
    }));
    expect(readdirSync(dir)).toEqual([]);
  });

  test('Fifo.unlink removes a FIFO and refuses anything else', () => {
    mkfifo(at('fifo'));
    writeFileSync(at('file'), '');
    Fifo.unlink(at('fifo'));
    expect(existsSync(at('fifo'))).toBe(false);
    expect(() => Fifo.unlink(at('fifo'))).toThrow(expect.objectContaining({
      name: 'IpcError', code: 'ENOENT', path: at('fifo'),
    }));
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
      code: 'EINVAL', errno: -22, syscall: 'open', path: at('file'),
      message: `EINVAL: not a FIFO but a regular file, open '${at('file')}'`,
    });
    await expect(Fifo.openWriter(at('dir'), { timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'EINVAL', message: expect.stringContaining('not a FIFO but a directory'),
    });
    await expect(Fifo.openReader('/dev/null')).rejects.toMatchObject({
      code: 'EINVAL', message: expect.stringContaining('not a FIFO but a character device'),
    });
    await expect(Fifo.openReader(at('missing'))).rejects.toMatchObject({
      code: 'ENOENT', syscall: 'open', path: at('missing'),
    });
    await expect(Fifo.openReader(at('missing'))).rejects.toBeInstanceOf(IpcError);
    expect(readFileSync(at('file'), 'utf8')).toBe('data');
  });

  test('bad arguments reject before any syscall', async () => {
    await expect(Fifo.openReader(7 as never)).rejects.toMatchObject({
      name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE',
    });
    await expect(Fifo.openWriter('')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Fifo.openWriter(at('f'), { timeoutMs: -1 })).rejects.toMatchObject({
      name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE',
    });
    await expect(Fifo.openWriter(at('f'), { signal: 'no' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
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
      expect(await open(at('public'))).toMatchObject({
        reader: { ok: 'read' }, writer: { error: { code: 'ETIMEDOUT', syscall: 'open' } },
      });
    });
  });

  test('without /proc (a chroot, a minimal container): exact modes, the same checks, ' +
    'and FIFOs still open', async () => {
    mkfifo(at('fifo'));
    symlinkSync(at('fifo'), at('link'));
    writeFileSync(at('file'), '');
    const r = await run('unshare', [
      '--mount', process.execPath, fixture('fifo.js'), 'withoutProc', at('made'), at('fifo'), at('link'), at('file'),
      '/dev/null',
    ]);
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
  test('setPipeSize on one end is the FIFO\'s: the other end sees it; it lasts while an end is open; ' +
    'errors name the path', async () => {
    const before = openFds();
    const file = at('sized');
    mkfifo(file);
    const reader = await Fifo.openReader(file);
    const writer = await Fifo.openWriter(file);
    expect(reader.pipeSize).toBe(65536);
    writer.setPipeSize(300_000);
    expect(reader.pipeSize).toBe(524288); // rounded up to a power-of-two number of pages
    expect(writeSync(writer.fd, Buffer.alloc(100 * 1024))).toBe(100 * 1024);
    expect(() => reader.setPipeSize(4096)).toThrow(expect.objectContaining({
      code: 'EBUSY', syscall: 'fcntl', path: file,
    }));
    writer.close();
    expect(reader.pipeSize).toBe(524288);
    reader.close();
    const again = await Fifo.openReader(file);
    expect(again.pipeSize).toBe(65536); // a FIFO's pipe is made anew when it is opened again
    expect(() => again.setPipeSize(0)).toThrow(expect.objectContaining({
      name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE',
    }));
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
    const script = ['-c', 'sleep 0.2; exec "$0" "$@"', process.execPath, fixture('fifo.js'), 'read', at('f')];
    const reader = run('sh', script, { timeout: 20000 });
    const writer = (await writing).stream();
    writer.end('waited for you');
    expect(await reader).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse((await reader).stdout)).toEqual({ read: 'waited for you' });
  });

  test('megabytes flow with backpressure into another process', async () => {
    mkfifo(at('f'));
    const reader = runNode('fifo.js', ['readCount', at('f')], { timeout: 20000 });
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
    const r = await reader;
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
    await expect(Fifo.openWriter(at('f'), { signal: AbortSignal.abort(reason) })).rejects.toMatchObject({
      name: 'AbortError', code: 'ABORT_ERR', cause: reason,
    });
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

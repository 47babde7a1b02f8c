import { openSync, readFileSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { once } from 'node:events';
import { inherited, pipe, SharedMemory, spawn } from '../lib';
import { fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, openFds, withOtherUser } from './helpers';

const PIPE_MAX_SIZE = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}

describe('pipe()', () => {
  test('gives a read end and a write end, both close-on-exec from creation', () => {
    const { readEnd, writeEnd } = pipe();
    expect(readEnd).toMatchObject({ direction: 'read', closed: false });
    expect(writeEnd).toMatchObject({ direction: 'write', closed: false });
    for (const end of [readEnd, writeEnd]) expect(fdFlags(end.fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(fdFlags(readEnd.fd) & 3).toBe(0); // O_RDONLY
    expect(fdFlags(writeEnd.fd) & 3).toBe(1); // O_WRONLY
    readEnd.close();
    writeEnd.close();
    expect(readEnd.fd).toBe(-1);
    expect(() => readEnd.close()).not.toThrow();
  });

  test('streams: data flows, EOF when the write end closes, and the stream owns the descriptor', async () => {
    const before = openFds();
    const { readEnd, writeEnd } = pipe();
    const reader = readEnd.stream();
    const writer = writeEnd.stream();
    expect(readEnd.closed).toBe(true);
    expect(() => readEnd.stream()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    writer.end('one\ntwo\n');
    expect(await readAll(reader.setEncoding('utf8'))).toBe('one\ntwo\n');
    writer.destroy();
    reader.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('backpressure: write() returns false while the pipe is full; every byte arrives', async () => {
    const { readEnd, writeEnd } = pipe();
    const reader = readEnd.stream();
    reader.pause();
    const writer = writeEnd.stream();
    const chunk = Buffer.alloc(64 * 1024, 0xab);
    let writes = 0;
    while (writer.write(chunk)) writes++;
    expect(writes).toBeLessThan(64); // the pipe (64 KiB here) filled up long before 4 MiB
    let received = 0;
    reader.on('data', (d: Buffer) => (received += d.length));
    reader.resume();
    await once(writer, 'drain');
    writer.end();
    await once(reader, 'end');
    expect(received).toBe((writes + 1) * chunk.length);
  });

  test('a write with no reader left is an EPIPE error event, not a crash', async () => {
    const { readEnd, writeEnd } = pipe();
    readEnd.close();
    const writer = writeEnd.stream();
    writer.write('into the void');
    const [err] = await once(writer, 'error');
    expect(err).toMatchObject({ code: 'EPIPE' });
  });

  test('an end passed to a child: it writes, we read to EOF', async () => {
    const { readEnd, writeEnd } = pipe();
    const child = spawn(process.execPath, [fixture('pipe.js'), 'write', '3'], { stdio: ['ignore', 'inherit', 'inherit'], fds: { 3: writeEnd } });
    writeEnd.close(); // the child has its own copy now
    const text = await readAll(readEnd.stream().setEncoding('utf8'));
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(text).toBe(`hello from pid ${child.pid} (ppid ${process.pid}), a write end\n`);
  });

  test('a read end passed to a child: we write, it reads to EOF', async () => {
    const { readEnd, writeEnd } = pipe();
    const child = spawn(process.execPath, [fixture('pipe.js'), 'read', '3'], { stdio: ['ignore', 'pipe', 'inherit'], fds: { 3: readEnd } });
    readEnd.close();
    writeEnd.stream().end('a'.repeat(200_000));
    const out = await readAll(child.stdout!.setEncoding('utf8'));
    expect(JSON.parse(out)).toEqual({ text: 'a'.repeat(200_000) });
  });

  test('a pipe and shared memory passed together', async () => {
    const { readEnd, writeEnd } = pipe();
    const shm = SharedMemory.anonymous(4096);
    const child = spawn(process.execPath, [fixture('pipe.js'), 'both', '3', '4', 'written by the child'], {
      stdio: 'inherit',
      fds: { 3: writeEnd, 4: shm },
    });
    writeEnd.close();
    expect(await readAll(readEnd.stream().setEncoding('utf8'))).toBe('done\n');
    expect(Buffer.from(shm.buffer, 0, 20).toString()).toBe('written by the child');
    await once(child, 'exit');
    shm.close();
  });
});

describe('pipe capacity', () => {
  test('pipe({ size }) sets it for both ends, rounded up to a power-of-two number of pages; setPipeSize grows and shrinks it', () => {
    const { readEnd, writeEnd } = pipe({ size: 100_000 });
    expect(writeEnd.pipeSize).toBe(131072);
    expect(readEnd.pipeSize).toBe(131072);
    readEnd.setPipeSize(PIPE_MAX_SIZE);
    expect(writeEnd.pipeSize).toBe(PIPE_MAX_SIZE);
    writeEnd.setPipeSize(1);
    expect(readEnd.pipeSize).toBe(4096);
    readEnd.close();
    writeEnd.close();
    const plain = pipe();
    expect(plain.readEnd.pipeSize).toBe(65536); // the kernel's default for a new pipe
    plain.readEnd.close();
    plain.writeEnd.close();
  });

  test('a larger pipe takes more before a writer waits; shrinking below what it holds is EBUSY', () => {
    const { readEnd, writeEnd } = pipe({ size: 256 * 1024 });
    // A blocking write end: 200 KiB would wait forever in a 64 KiB pipe.
    expect(writeSync(writeEnd.fd, Buffer.alloc(200 * 1024))).toBe(200 * 1024);
    expect(() => writeEnd.setPipeSize(65536)).toThrow(expect.objectContaining({
      code: 'EBUSY', syscall: 'fcntl', message: 'EBUSY: the pipe holds more data than a capacity of 65536 bytes can take (F_SETPIPE_SZ), fcntl',
    }));
    expect(readEnd.pipeSize).toBe(256 * 1024);
    readEnd.close();
    writeEnd.close();
  });

  test('bad sizes are refused before any syscall, and nothing leaks', () => {
    const before = openFds();
    expect(() => pipe({ size: 0 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'options.size'") }));
    expect(() => pipe({ size: 2 ** 31 + 1 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => pipe({ size: '1' as never })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => pipe(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const { readEnd, writeEnd } = pipe();
    expect(() => readEnd.setPipeSize(1.5)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'bytes'") }));
    readEnd.close();
    writeEnd.close();
    expect(() => readEnd.pipeSize).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => readEnd.setPipeSize(4096)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('a descriptor that is not a pipe says so', () => {
    const end = inherited(openSync('/dev/null', 'r'));
    expect(() => end.pipeSize).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl', message: 'EBADF: not a pipe or FIFO (F_GETPIPE_SZ), fcntl' }));
    expect(() => end.setPipeSize(4096)).toThrow(expect.objectContaining({ code: 'EBADF', message: expect.stringContaining('not a pipe or FIFO (F_SETPIPE_SZ)') }));
    end.close();
  });

  test('another uid: past /proc/sys/fs/pipe-max-size is EPERM naming the limit, both ends closed; up to it works', async () => {
    await withOtherUser(async (runAs) => {
      const r = await runAs('pipe.js', ['sizeLimit', String(PIPE_MAX_SIZE)]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(r.stdout)).toEqual({
        atLimit: PIPE_MAX_SIZE,
        past: expect.objectContaining({
          code: 'EPERM', syscall: 'fcntl',
          message: `EPERM: pipe size ${PIPE_MAX_SIZE + 1} exceeds /proc/sys/fs/pipe-max-size (${PIPE_MAX_SIZE}) for a process without CAP_SYS_RESOURCE, fcntl`,
        }),
        setPast: expect.objectContaining({ code: 'EPERM', message: expect.stringContaining('/proc/sys/fs/pipe-max-size') }),
        leaked: [],
      });
    });
  });
});

describe('stream({ onread })', () => {
  test('every read goes into the one buffer given, up to its length; EOF still ends the stream', async () => {
    const { readEnd, writeEnd } = pipe({ size: 256 * 1024 });
    const buffer = Buffer.alloc(256 * 1024);
    const reads: number[] = [];
    let sum = 0;
    const reader = readEnd.stream({
      onread: {
        buffer,
        callback: (n, buf) => {
          expect(buf).toBe(buffer);
          reads.push(n);
          for (let i = 0; i < n; i++) sum += buf[i];
        },
      },
    });
    expect(readEnd.closed).toBe(true);
    // Written before the reader's first look: one read takes it all.
    writeSync(writeEnd.fd, Buffer.alloc(200 * 1024, 1));
    writeEnd.close();
    await once(reader, 'end');
    expect(reads).toEqual([200 * 1024]);
    expect(sum).toBe(200 * 1024);
    reader.destroy();
  });

  test('a bad onread, or one on a write end, is refused and the handle stays open', () => {
    const { readEnd, writeEnd } = pipe();
    expect(() => readEnd.stream({ onread: { buffer: 'no' as never, callback: () => {} } })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => readEnd.stream({ onread: { buffer: Buffer.alloc(1), callback: 1 as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => readEnd.stream({ onread: null as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => readEnd.stream({ onread: { buffer: new Proxy(Buffer.alloc(8), {}), callback: () => {} } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => readEnd.stream({ onread: { get buffer(): never { throw new Error('boom'); }, callback: () => {} } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => writeEnd.stream({ onread: { buffer: Buffer.alloc(1), callback: () => {} } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(readEnd.closed || writeEnd.closed).toBe(false);
    readEnd.close();
    writeEnd.close();
  });
});

describe('inherited()', () => {
  test('adopts a descriptor: close-on-exec, direction from its access mode; refuses one already owned', () => {
    const { readEnd, writeEnd } = pipe();
    expect(() => inherited(readEnd.fd)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => inherited(1_000_000)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
    expect(() => inherited(-1)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => inherited('3' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    readEnd.close();
    writeEnd.close();
  });
});

test('util.inspect shows kind, fd, direction and state, open and closed', () => {
  const { readEnd, writeEnd } = pipe();
  expect(inspect(readEnd, { breakLength: Infinity })).toBe(`PipeEnd { fd: ${readEnd.fd}, direction: 'read', closed: false }`);
  readEnd.close();
  writeEnd.close();
  expect(inspect(writeEnd, { breakLength: Infinity })).toBe("PipeEnd { fd: -1, direction: 'write', closed: true }");
});

import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { inherited, pipe, SharedMemory, spawn } from '../lib';
import { fixture, openFds } from './helpers';

const flagsOf = (fd: number) => parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);

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
    for (const end of [readEnd, writeEnd]) expect(flagsOf(end.fd) & 0o2000000).toBe(0o2000000);
    expect(flagsOf(readEnd.fd) & 3).toBe(0); // O_RDONLY
    expect(flagsOf(writeEnd.fd) & 3).toBe(1); // O_WRONLY
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
    expect(openFds()).toEqual(before);
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

import { existsSync } from 'node:fs';
import { IpcError, SharedMemory } from '../lib';
import { uniqueName } from './helpers';

describe('IpcError', () => {
  test('is shaped like a Node fs error', () => {
    const err = new IpcError(-17, 'shm_open', '/jobs');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(IpcError);
    expect(err).toMatchObject({ code: 'EEXIST', errno: -17, syscall: 'shm_open', path: '/jobs' });
    expect(err.message).toBe("EEXIST: file already exists, shm_open '/jobs'");
    expect(err.stack).toContain('errors.test.ts');
  });

  test('has no path when the object has no name, and can name a limit', () => {
    const err = new IpcError(-22, 'mq_open', null, 'maxMessages 64 exceeds /proc/sys/fs/mqueue/msg_max (10)');
    expect(err.message).toBe('EINVAL: maxMessages 64 exceeds /proc/sys/fs/mqueue/msg_max (10), mq_open');
    expect('path' in err).toBe(false);
  });

  test('knows errno names libuv does not map', () => {
    const err = new IpcError(-130, 'pthread_mutex_lock');
    expect(err).toMatchObject({ code: 'EOWNERDEAD', errno: -130 });
    expect(err.message).toBe('EOWNERDEAD: owner died, pthread_mutex_lock');
    expect(new IpcError(-99999, 'x').code).toBe('Unknown system error -99999');
  });
});

describe('argument validation happens before any syscall', () => {
  const n = uniqueName();
  afterAll(() => expect(existsSync(`/dev/shm${n}`)).toBe(false));

  test.each([
    ['a number', 42, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['empty', '', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['just a slash', '/', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['an inner slash', 'a/b', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['two leading slashes', '//a', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['a NUL', 'a\0b', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['dot', '.', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['dot dot', '/..', 'ERR_INVALID_ARG_VALUE', TypeError],
    ['256 bytes', 'x'.repeat(256), 'ERR_INVALID_ARG_VALUE', TypeError],
    ['256 bytes of UTF-8', 'é'.repeat(128), 'ERR_INVALID_ARG_VALUE', TypeError],
  ])('a name that is %s', (_what, bad, code, Ctor) => {
    expect(() => SharedMemory.create(bad as string, 64)).toThrow(Ctor);
    expect(() => SharedMemory.open(bad as string)).toThrow(expect.objectContaining({ code }));
    expect(() => SharedMemory.unlink(bad as string)).toThrow(expect.objectContaining({ code }));
  });

  test('a 255-byte name is fine', () => {
    const long = `${n}-${'y'.repeat(255 - n.length)}`;
    expect(Buffer.byteLength(long.slice(1))).toBe(255);
    const shm = SharedMemory.create(long, 1);
    shm.close();
    shm.unlink();
  });

  test.each([
    [0, RangeError, 'ERR_INVALID_ARG_VALUE'],
    [-1, RangeError, 'ERR_INVALID_ARG_VALUE'],
    [1.5, RangeError, 'ERR_INVALID_ARG_VALUE'],
    [NaN, RangeError, 'ERR_INVALID_ARG_VALUE'],
    [2 ** 53, RangeError, 'ERR_INVALID_ARG_VALUE'],
    ['64', TypeError, 'ERR_INVALID_ARG_TYPE'],
    [64n, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ])('size %p', (size, Ctor, code) => {
    expect(() => SharedMemory.create(n, size as number)).toThrow(Ctor);
    expect(() => SharedMemory.create(n, size as number)).toThrow(expect.objectContaining({ code }));
    expect(() => SharedMemory.anonymous(size as number)).toThrow(expect.objectContaining({ code }));
  });

  test('options', () => {
    expect(() => SharedMemory.create(n, 1, null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => SharedMemory.create(n, 1, { mode: 0o1000 })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => SharedMemory.create(n, 1, { mode: '600' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => SharedMemory.create(n, 1, { exclusive: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => SharedMemory.open(n, { readOnly: 'yes' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => SharedMemory.anonymous(1, { seal: 'no' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => SharedMemory.fromFd(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  test('messages read like Node', () => {
    expect(() => SharedMemory.create(n, '64' as never)).toThrow('The "size" argument must be of type number. Received type string (\'64\')');
    expect(() => SharedMemory.create('a/b', 1)).toThrow("The argument 'name' must not contain '/' after the leading one (a POSIX IPC name). Received 'a/b'");
  });

  test('a bad descriptor is EBADF from the kernel, not a crash', () => {
    expect(() => SharedMemory.fromFd(1_000_000)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
  });
});

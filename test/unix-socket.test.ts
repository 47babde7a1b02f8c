import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, IpcError, pipe, SharedMemory, spawn as spawnWithFds } from '../lib';
import { socketPair, UnixSocket, type UnixMessage, type UnixSocketType } from '../lib';
import { binding } from '../lib/binding';
import {
  expectPooledReceives, expectTimedOut, fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, O_NONBLOCK, openFds, run,
  runInSignalStorm, runNode, runWithFewFds, uniqueName, withOtherUser, withUmask,
} from './helpers';

const TYPES: UnixSocketType[] = ['stream', 'seqpacket', 'dgram'];
const LONG = 20000;

let dir: string;
let counter = 0;

/** A fresh socket path in this file's private directory. */
function sockPath(): string {
  return path.join(dir, `s${counter++}`);
}

/** A fresh abstract name no other jest worker uses. */
function abstractName(): string {
  return uniqueName().slice(1);
}

const text = (m: UnixMessage | null) => m!.data.toString();

/** Resolves after the event loop has gone round a few times. */
const turns = () => new Promise((resolve) => setTimeout(resolve, 20));

/** Reads a stream or message socket until `count` bytes or a message with descriptors has come. */
async function receiveAll(sock: UnixSocket, count: number): Promise<{ data: Buffer; fds: number[] }> {
  const chunks: Buffer[] = [];
  const fds: number[] = [];
  let got = 0;
  while (got < count) {
    const m = await sock.receive({ timeoutMs: LONG });
    if (m === null) break;
    chunks.push(m.data);
    fds.push(...m.fds);
    got += m.data.length;
  }
  return { data: Buffer.concat(chunks), fds };
}

/** Waits for a message that carries descriptors (a stream may deliver other bytes first). */
async function receiveWithFds(sock: UnixSocket): Promise<UnixMessage> {
  for (;;) {
    const m = await sock.receive({ timeoutMs: LONG });
    if (m === null) throw new Error('connection ended before descriptors came');
    if (m.fds.length > 0) return m;
  }
}

/**
 * The test's side of a conversation with another process: a listening socket
 * (stream, seqpacket) or a bound datagram socket at `where`, and, once the
 * other process has shown up, a way to talk to it.
 */
function host(type: UnixSocketType, where: { path: string } | { abstract: string }) {
  if (type === 'dgram') {
    const sock = UnixSocket.datagram(where);
    return {
      async peer() {
        const hello = await sock.receive({ timeoutMs: LONG });
        return {
          sock,
          hello: hello!,
          send: (data: string, fds?: number[]) => sock.send(data, { fds, to: hello!.from }),
          close: () => sock.close(),
        };
      },
    };
  }
  const server = UnixSocket.listen({ ...where, type });
  return {
    async peer() {
      const conn = await server.accept({ timeoutMs: LONG });
      return {
        sock: conn,
        hello: null,
        send: (data: string, fds?: number[]) => conn.send(data, { fds }),
        close: () => {
          conn.close();
          server.close();
        },
      };
    },
  };
}

let fdsBefore: string[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-sock-'));
  // Child processes make libuv open its signal pipe once; do it before the
  // descriptor snapshots.
  await run(process.execPath, ['-e', '']);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every test leaves this process with the descriptors it found.
beforeEach(() => {
  fdsBefore = openFds();
});
afterEach(() => {
  expect(fdsOpenedSince(fdsBefore)).toEqual([]);
});

describe('socketPair', () => {
  test.each(TYPES)('%s: two connected ends, non-blocking and close-on-exec from creation', async (type) => {
    const [a, b] = socketPair({ type });
    expect(a.type).toBe(type);
    for (const s of [a, b]) expect(fdFlags(s.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
    await a.send('ping');
    expect(text(await b.receive())).toBe('ping');
    await b.send(Buffer.from('pong'));
    expect(text(await a.receive())).toBe('pong');
    expect(a.peerCredentials).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(a.address).toBeNull();
    a.close();
    b.close();
  });

  test('the default is a stream; a bad type fails before any syscall', () => {
    const [a, b] = socketPair();
    expect(a.type).toBe('stream');
    a.close();
    b.close();
    expect(() => socketPair({ type: 'raw' as never })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => socketPair('dgram' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('messages', () => {
  test.each(['seqpacket', 'dgram'] as const)('%s keeps message boundaries, empty and large messages included', async (type) => {
    const [a, b] = socketPair({ type });
    const big = Buffer.alloc(150000, 7);
    const sent = ['one', '', 'three', new Uint16Array([0x6261]), big] as const;
    for (const m of sent) await a.send(m);
    const got = [];
    for (let i = 0; i < sent.length; i++) got.push((await b.receive({ timeoutMs: LONG }))!.data);
    expect(got.slice(0, 4).map((d) => d.toString())).toEqual(['one', '', 'three', 'ab']);
    expect(got[4].equals(big)).toBe(true);
    expect(b.tryReceive()).toBeNull();
    a.close();
    b.close();
  });

  test('a stream delivers the bytes in order, in whatever chunks', async () => {
    const [a, b] = socketPair({ type: 'stream' });
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    // More than the socket holds: the send goes out in parts as the reader takes them.
    const sending = a.send(big);
    const { data } = await receiveAll(b, big.length);
    await sending;
    expect(data.equals(big)).toBe(true);
    a.close();
    b.close();
  });

  test.each(['stream', 'seqpacket'] as const)('%s: the end of the stream is null and `ended`; sending to a closed peer is EPIPE', async (type) => {
    const [a, b] = socketPair({ type });
    await a.send('last words');
    const pending = b.receive();
    a.close();
    expect(text(await pending)).toBe('last words');
    expect(b.ended).toBe(false);
    expect(await b.receive()).toBeNull();
    expect(b.ended).toBe(true);
    expect(b.tryReceive()).toBeNull();
    await expect(b.send('anyone?')).rejects.toMatchObject({ code: 'EPIPE', syscall: 'sendmsg', message: 'EPIPE: broken pipe, sendmsg' });
    b.close();
  });

  test('for await yields messages until the end of the stream', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    for (const m of ['m1', 'm2', 'm3']) await a.send(m);
    a.close();
    const seen: string[] = [];
    for await (const m of b) seen.push(m.data.toString());
    expect(seen).toEqual(['m1', 'm2', 'm3']);
    b.close();
  });

  test('bad arguments fail before any syscall', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    expect(() => a.trySend(42 as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }));
    await expect(a.send('x', { fds: 3 as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(a.send('x', { fds: [-1] })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(a.send('x', { fds: [1.5] })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(a.send('x', { to: { path: '/tmp/x' } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('only for datagram sockets') });
    await expect(a.send('x', { timeoutMs: -1 })).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(a.receive({ signal: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(a.receive({ timeoutMs: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => a.setSendBufferSize(0)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(b.tryReceive()).toBeNull();
    a.close();
    b.close();

    const [s, t] = socketPair({ type: 'stream' });
    await expect(s.send('', { fds: [s.fd] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('at least one byte') });
    expect(() => s.trySend('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_SOCKET_TYPE' }));
    await s.send(''); // nothing to do
    s.close();
    t.close();
  });
});

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

describe('datagram sockets', () => {
  test('bound to a path: 0600 under umask 000, receives from anyone with their address; close removes the file', async () => {
    const p = sockPath();
    const server = withUmask(0, () => UnixSocket.datagram({ path: p }));
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(p).isSocket()).toBe(true);
    expect(server.address).toEqual({ path: p });
    expect(fdFlags(server.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);

    const unbound = UnixSocket.datagram();
    const named = UnixSocket.datagram({ abstract: abstractName() });
    const onDisk = UnixSocket.datagram({ path: sockPath() });
    await unbound.send('from nobody', { to: { path: p } });
    await named.send('from a name', { to: { path: p } });
    await onDisk.send('from a file', { to: { path: p } });
    const got = [await server.receive(), await server.receive(), await server.receive()];
    expect(got.map((m) => [text(m), m!.from])).toEqual([
      ['from nobody', undefined],
      ['from a name', named.address],
      ['from a file', onDisk.address],
    ]);
    // Answer whoever has an address.
    await server.send('reply 1', { to: got[1]!.from });
    await server.send('reply 2', { to: got[2]!.from });
    expect(text(await named.receive())).toBe('reply 1');
    expect(text(await onDisk.receive())).toBe('reply 2');
    for (const s of [unbound, named, onDisk, server]) s.close();
    expect(existsSync(p)).toBe(false);
  });

  test('the mode is exact under any umask', () => {
    using _umask077 = withUmask(0o077);
    const a = sockPath();
    UnixSocket.datagram({ path: a, mode: 0o640 }).close();
    const s = UnixSocket.datagram({ path: a, mode: 0o640 });
    expect(statSync(a).mode & 0o777).toBe(0o640);
    s.close();
    using _umask022 = withUmask(0o022);
    const b = sockPath();
    const t = UnixSocket.datagram({ path: b, mode: 0o666 });
    expect(statSync(b).mode & 0o777).toBe(0o666);
    t.close();
  });

  test.each(['stream', 'seqpacket'] as const)('%s: a peer killed with SIGKILL, data of ours unread: receive rejects ECONNRESET, send EPIPE', async (type) => {
    const [a, b] = socketPair({ type });
    const child = spawnWithFds('sleep', ['60'], { stdio: 'ignore', fds: { 3: b } });
    b.close();
    await a.send('never read');
    const pending = a.receive();
    await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET', syscall: 'recvmsg' });
    await expect(a.send('more')).rejects.toMatchObject({ code: 'EPIPE' });
    a.close();
  });

  test('a listening socket made blocking by a process it was passed to still never blocks an accept', async () => {
    const server = UnixSocket.listen({ abstract: abstractName() });
    const child = await run('python3', ['-c', 'import os; os.set_blocking(3, True); print(os.get_blocking(3))'], { stdio: ['pipe', 'pipe', 'pipe', server.fd] });
    expect(child).toMatchObject({ code: 0, stdout: 'True\n' });
    expect(server.tryAccept()).toBeNull(); // blocked for good before
    await expect(server.accept({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    server.close();
  });

  test('a socket file whose chmod fails is removed again: nothing left to make the next bind EADDRINUSE', async () => {
    // /proc unmounted in a private mount namespace: the umask cannot be read and the chmod (through /proc/self/fd)
    // fails.
    const r = await run('unshare', ['--mount', process.execPath, fixture('unix-socket.js'), 'bindWhereChmodFails', dir]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ listen: 'ENOENT chmod', listenLeft: false, datagram: 'ENOENT chmod', datagramLeft: false });
  });

  test('connected to a peer: send needs no `to`, remoteAddress names it; unconnected without `to` is ENOTCONN', async () => {
    const p = sockPath();
    const server = UnixSocket.datagram({ path: p });
    const client = await UnixSocket.connect({ path: p, type: 'dgram' });
    expect(client.remoteAddress).toEqual({ path: p });
    await client.send('connected');
    const m = await server.receive();
    expect([text(m), m!.from]).toEqual(['connected', undefined]);
    expect(() => client.peerCredentials).toThrow(expect.objectContaining({ code: 'ENOTCONN', syscall: 'getsockopt', message: expect.stringContaining('SO_PEERCRED') }));
    await expect(server.send('where to?')).rejects.toMatchObject({ code: 'ENOTCONN', syscall: 'sendmsg', path: p });
    client.close();
    server.close();
  });

  test("an address as a string, as net takes it: connect(path), listen(path), datagram(path), to: path; '\\0name' is abstract", async () => {
    const p = sockPath();
    const server = UnixSocket.listen(p, { type: 'seqpacket' });
    const client = await UnixSocket.connect(p, { type: 'seqpacket', timeoutMs: 1000 });
    const conn = await server.accept();
    await client.send('by path');
    expect(text(await conn.receive())).toBe('by path');
    expect(server.address).toEqual({ path: p });

    const name = abstractName();
    const abstractServer = UnixSocket.listen(`\0${name}`);
    const abstractClient = await UnixSocket.connect(`\0${name}`);
    expect(abstractServer.address).toEqual({ abstract: name });
    expect(abstractClient.remoteAddress).toEqual({ abstract: name });

    const d = sockPath();
    const receiver = UnixSocket.datagram(d);
    const sender = UnixSocket.datagram();
    await sender.send('to a path', { to: d });
    sender.sendSync('to a path, sync', { to: d });
    expect([text(await receiver.receive()), text(await receiver.receive())]).toEqual(['to a path', 'to a path, sync']);

    // One place for the address: a string, or path/abstract in the options, not both.
    await expect(UnixSocket.connect(p, { path: p } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(UnixSocket.connect({ path: p } as never, {} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => UnixSocket.listen('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => UnixSocket.listen('\0')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    await expect(sender.send('x', { to: 'a\0b' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    for (const s of [server, client, conn, abstractServer, abstractClient, receiver, sender]) s.close();
  });

  test('abstract names have no file; a name in use is EADDRINUSE; nobody there is ECONNREFUSED', async () => {
    const name = abstractName();
    const a = UnixSocket.datagram({ abstract: name });
    expect(a.address).toEqual({ abstract: name });
    expect(() => UnixSocket.datagram({ abstract: name })).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind', path: `@${name}`, message: `EADDRINUSE: address already in use, bind '@${name}'` }),
    );
    const free = abstractName();
    await expect(a.send('x', { to: { abstract: free } })).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'sendmsg', path: `@${free}` });
    await expect(UnixSocket.connect({ abstract: free })).rejects.toMatchObject({
      code: 'ECONNREFUSED', syscall: 'connect', path: `@${free}`, message: `ECONNREFUSED: connection refused, connect '@${free}'`,
    });
    a.close();
  });

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
});

describe('addresses are validated before any syscall', () => {
  test('lengths, types, and one of path or abstract', async () => {
    const longPath = `/${'x'.repeat(107)}`;
    const invalid = (message: string) => expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(message) });
    expect(() => UnixSocket.datagram({ path: longPath })).toThrow(invalid('must be at most 107 bytes (sun_path holds 108, with the terminating NUL)'));
    expect(() => UnixSocket.datagram({ abstract: 'é'.repeat(54) })).toThrow(invalid('must be at most 107 bytes'));
    expect(() => UnixSocket.datagram({ path: '' })).toThrow(invalid('must not be empty'));
    expect(() => UnixSocket.datagram({ path: 'a\0b' })).toThrow(invalid('NUL'));
    expect(() => UnixSocket.datagram({ path: 5 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => UnixSocket.datagram({ path: '/a', abstract: 'b' })).toThrow(invalid('only one of path and abstract'));
    expect(() => UnixSocket.datagram({ path: '/a', mode: 0o1000 })).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => UnixSocket.listen({} as never)).toThrow(invalid('must set path or abstract'));
    expect(() => UnixSocket.listen({ abstract: 'x', type: 'dgram' as never })).toThrow(invalid("must be 'stream' or 'seqpacket'"));
    expect(() => UnixSocket.listen({ abstract: 'x', backlog: -1 })).toThrow(expect.objectContaining({ name: 'RangeError' }));
    await expect(UnixSocket.connect({ path: '/a', type: 'raw' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(UnixSocket.connect(undefined as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    const d = UnixSocket.datagram();
    await expect(d.send('x', { to: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    // A string is a path, as net takes it: nobody is there.
    const nobody = sockPath();
    await expect(d.send('x', { to: nobody })).rejects.toMatchObject({ code: 'ENOENT', syscall: 'sendmsg', path: nobody });
    await expect(d.send('x', { to: 42 as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    d.close();
  });

  test('the longest path and abstract name (107 bytes) work', async () => {
    const p = path.join(dir, 'l'.repeat(107 - dir.length - 1));
    expect(Buffer.byteLength(p)).toBe(107);
    const name = `${abstractName()}-`.padEnd(107, 'a');
    const server = UnixSocket.listen({ path: p, type: 'seqpacket' });
    const abstract = UnixSocket.listen({ abstract: name, type: 'seqpacket' });
    const c1 = await UnixSocket.connect({ path: p, type: 'seqpacket' });
    const c2 = await UnixSocket.connect({ abstract: name, type: 'seqpacket' });
    expect(server.address).toEqual({ path: p });
    expect(c2.remoteAddress).toEqual({ abstract: name });
    const conns = [server.tryAccept()!, abstract.tryAccept()!];
    for (const s of [c1, c2, ...conns, server, abstract]) s.close();
  });
});

describe('listening and connecting', () => {
  test.each(['stream', 'seqpacket'] as const)('%s: a 0600 socket file (umask 000), accept, and a message each way', async (type) => {
    const p = sockPath();
    const server = withUmask(0, () => UnixSocket.listen({ path: p, type }));
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(server.type).toBe(type);
    expect(fdFlags(server.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
    const accepting = server.accept();
    const client = await UnixSocket.connect({ path: p, type });
    const conn = await accepting;
    expect(conn.type).toBe(type);
    expect(fdFlags(conn.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
    expect(conn.address).toEqual({ path: p });
    expect(client.remoteAddress).toEqual({ path: p });
    await client.send('hello');
    expect(text(await conn.receive())).toBe('hello');
    await conn.send('welcome');
    expect(text(await client.receive())).toBe('welcome');
    expect(conn.peerCredentials.pid).toBe(process.pid);
    expect(server.tryAccept()).toBeNull();
    for (const s of [client, conn, server]) s.close();
    expect(existsSync(p)).toBe(false);
  });

  test('a stale socket file: EADDRINUSE says to remove it, connecting is ECONNREFUSED, a missing one ENOENT', async () => {
    const p = sockPath();
    // A process that binds and exits without closing leaves its file behind.
    const code = `require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'unix-socket'))}).UnixSocket.datagram({ path: ${JSON.stringify(p)} })`;
    expect(await run(process.execPath, ['-e', code])).toMatchObject({ code: 0, stderr: '' });
    expect(statSync(p).isSocket()).toBe(true);
    expect(() => UnixSocket.listen({ path: p })).toThrow(expect.objectContaining({
      code: 'EADDRINUSE', syscall: 'bind', path: p, message: expect.stringContaining('if no process uses it, remove it first'),
    }));
    await expect(UnixSocket.connect({ path: p })).rejects.toMatchObject({
      code: 'ECONNREFUSED', errno: -111, syscall: 'connect', path: p, message: `ECONNREFUSED: connection refused, connect '${p}'`,
    });
    rmSync(p);
    await expect(UnixSocket.connect({ path: p, type: 'seqpacket' })).rejects.toMatchObject({
      code: 'ENOENT', syscall: 'connect', path: p, message: `ENOENT: no such file or directory, connect '${p}'`,
    });
    // Nothing was left listening on the failure path.
    expect(existsSync(p)).toBe(false);
  });

  test('a socket file of another type is EPROTOTYPE; abstract names are per type', async () => {
    const p = sockPath();
    const server = UnixSocket.listen({ path: p, type: 'seqpacket' });
    await expect(UnixSocket.connect({ path: p, type: 'stream' })).rejects.toMatchObject({ code: 'EPROTOTYPE', syscall: 'connect', path: p });
    server.close();
    const name = abstractName();
    const packets = UnixSocket.listen({ abstract: name, type: 'seqpacket' });
    await expect(UnixSocket.connect({ abstract: name, type: 'stream' })).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
    const stream = UnixSocket.listen({ abstract: name, type: 'stream' });
    const client = await UnixSocket.connect({ abstract: name, type: 'stream' });
    const conn = stream.tryAccept();
    expect(conn?.type).toBe('stream');
    expect(packets.tryAccept()).toBeNull();
    for (const s of [client, conn!, stream, packets]) s.close();
  });

  test('connect waits while the backlog is full: ETIMEDOUT, AbortError, or a connection once one is accepted', async () => {
    const name = abstractName();
    const server = UnixSocket.listen({ abstract: name, type: 'seqpacket', backlog: 0 });
    const first = await UnixSocket.connect({ abstract: name, type: 'seqpacket' });
    await expect(UnixSocket.connect({ abstract: name, type: 'seqpacket', timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', syscall: 'connect', path: `@${name}`, message: expect.stringContaining('timed out after 30 ms'),
    });
    const ac = new AbortController();
    const aborted = UnixSocket.connect({ abstract: name, type: 'seqpacket', signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    let connected = false;
    const waiting = UnixSocket.connect({ abstract: name, type: 'seqpacket' }).then((s) => {
      connected = true;
      return s;
    });
    await turns();
    expect(connected).toBe(false);
    const conn1 = server.tryAccept()!;
    const third = await waiting;
    const conn3 = await server.accept();
    await third.send('third');
    expect(text(await conn3.receive())).toBe('third');
    for (const s of [first, third, conn1, conn3, server]) s.close();
  });

  test('accept with no descriptor to spare (RLIMIT_NOFILE): EMFILE, and the connection waits for the next accept', async () => {
    const out = await runWithFewFds('unix-socket.js', ['acceptWithoutFds', sockPath()]);
    expect(out).toMatchObject({ error: { code: 'EMFILE', syscall: 'accept4' }, then: 'waiting' });
  });

  test('accept: timeouts, aborts, and close() with accepts pending', async () => {
    const p = sockPath();
    const server = UnixSocket.listen({ path: p, type: 'seqpacket' });
    await expect(server.accept({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'accept4', path: p });
    await expect(server.accept({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    const pending = [server.accept(), server.accept()];
    server.close();
    for (const a of pending) await expect(a).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'UnixSocketServer is closed' });
    await expect(server.accept()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(() => server.tryAccept()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(server.closed).toBe(true);
    expect(existsSync(p)).toBe(false);
    expect(() => server.close()).not.toThrow();
  });

  test('for await accepts connections until the server is closed', async () => {
    const name = abstractName();
    const server = UnixSocket.listen({ abstract: name });
    const clients = await Promise.all([1, 2, 3].map(() => UnixSocket.connect({ abstract: name })));
    const accepted: UnixSocket[] = [];
    for await (const conn of server) {
      accepted.push(conn);
      if (accepted.length === 3) setTimeout(() => server.close(), 10);
    }
    expect(accepted).toHaveLength(3);
    for (const s of [...clients, ...accepted]) s.close();
  });
});

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

describe('descriptor passing', () => {
  test.each(TYPES)('%s: an unrelated process maps a SharedMemory it receives and writes into it', async (type) => {
    const p = sockPath();
    const h = host(type, { path: p });
    using shm = SharedMemory.anonymous(4096);
    const child = runNode('unix-socket.js', ['mapAndWrite', type, p, `written by a ${type} peer`]);
    const peer = await h.peer();
    await peer.send('map this', [shm.fd]);
    const reply = JSON.parse(type === 'stream' ? (await receiveAll(peer.sock, 1)).data.toString() : text(await peer.sock.receive({ timeoutMs: LONG })));
    expect(reply).toEqual({ told: 'map this', cloexec: true, fds: 1 });
    expect(Buffer.from(shm.buffer).toString('utf8', 0, `written by a ${type} peer`.length)).toBe(`written by a ${type} peer`);
    peer.close();
    expect(await child).toMatchObject({ code: 0, stderr: '' });
  });

  test.each(TYPES)('%s: an unrelated process writes into the pipe end it receives', async (type) => {
    const name = abstractName();
    const h = host(type, { abstract: name });
    const { readEnd, writeEnd } = pipe();
    const child = runNode('unix-socket.js', ['pipeWrite', type, `@${name}`, `through a pipe, over ${type}`]);
    const peer = await h.peer();
    await peer.send('write here', [writeEnd.fd]);
    writeEnd.close();
    const chunks: Buffer[] = [];
    const reader = readEnd.stream();
    for await (const chunk of reader) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`through a pipe, over ${type}`);
    expect(text(await peer.sock.receive({ timeoutMs: LONG }))).toBe('written');
    peer.close();
    expect(await child).toMatchObject({ code: 0, stderr: '' });
  });

  test.each(TYPES)('%s: receives a file and a socket from another process, close-on-exec, and uses both', async (type) => {
    const file = path.join(dir, `file-${counter++}`);
    writeFileSync(file, 'contents of the file');
    const name = abstractName();
    const h = host(type, { abstract: name });
    const child = runNode('unix-socket.js', ['sendBack', type, `@${name}`, file, 'seqpacket']);
    const peer = await h.peer();
    const m = await receiveWithFds(peer.sock);
    expect(m.data.toString()).toBe('here you go');
    expect(m.fds).toHaveLength(2);
    const [fileFd, socketFd] = m.fds;
    for (const fd of m.fds) expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    const buf = Buffer.alloc(100);
    expect(buf.toString('utf8', 0, readSync(fileFd, buf, 0, 100, 0))).toBe('contents of the file');
    closeSync(fileFd);
    const pair = UnixSocket.fromFd(socketFd);
    expect(pair.type).toBe('seqpacket');
    const creds = pair.peerCredentials;
    await pair.send('ping');
    expect(text(await pair.receive({ timeoutMs: LONG }))).toBe('pong to ping');
    pair.close();
    peer.close();
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    // The pair was made in the child: its credentials are the child's.
    expect(creds.pid).toBe(JSON.parse(r.stdout).pid);
  });

  test('descriptors over a stream socket travel with their bytes; then the socket becomes a net.Socket', async () => {
    const [a, b] = socketPair({ type: 'stream' });
    using shm = SharedMemory.anonymous(4096);
    const big = Buffer.alloc(1024 * 1024, 'a');
    // Bigger than the socket buffer: the descriptor goes with the first part.
    const sending = a.send(big, { fds: [shm.fd] });
    const { data, fds } = await receiveAll(b, big.length);
    await sending;
    expect(data.equals(big)).toBe(true);
    expect(fds).toHaveLength(1);
    const mapped = SharedMemory.fromFd(fds[0]);
    Buffer.from(mapped.buffer).write('via stream');
    mapped.close();
    expect(Buffer.from(shm.buffer).toString('utf8', 0, 10)).toBe('via stream');

    const net: Socket = a.stream();
    expect(a.closed).toBe(true);
    expect(a.fd).toBe(-1);
    await new Promise<void>((resolve) => net.end('through net', resolve));
    const rest = await receiveAll(b, 11);
    expect(rest.data.toString()).toBe('through net');
    expect(await b.receive()).toBeNull();
    b.close();
    await new Promise((resolve) => net.on('close', resolve).destroy());
    const [c, d] = socketPair({ type: 'seqpacket' });
    expect(() => c.stream()).toThrow(expect.objectContaining({ code: 'ERR_IPC_SOCKET_TYPE' }));
    c.close();
    d.close();
    expect(() => c.stream()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });

  test('sendFds over a plain net.Socket: queued writes go first, never interleaved; the peer maps the memory', async () => {
    const p = sockPath();
    using shm = SharedMemory.anonymous(4096);
    const head = Buffer.alloc(2 * 1024 * 1024, 'h');
    const tail = Buffer.alloc(5000, 't');
    const done = new Promise<void>((resolve, reject) => {
      const server = createServer((conn) => {
        server.close();
        // Queued in libuv (more than the socket holds), then the descriptor, then more.
        conn.write(head);
        UnixSocket.sendFds(conn, [shm.fd], 'X')
          .then(() => new Promise<void>((r) => conn.end(tail, r)))
          .then(resolve, reject);
      });
      server.listen(p);
    });
    const child = runNode('unix-socket.js', ['netPeer', p, 'written over net']);
    await done;
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ upToFds: head.length + 1, last: 'X', fds: 1, after: tail.length });
    expect(Buffer.from(shm.buffer).toString('utf8', 0, 16)).toBe('written over net');
  });

  test('sendFds: several in a row keep their order; bad arguments fail before any syscall', async () => {
    const [a, b] = socketPair({ type: 'stream' });
    const net = a.stream();
    const files = [0, 1, 2].map((i) => {
      const f = path.join(dir, `order-${counter++}`);
      writeFileSync(f, `file ${i}`);
      return openSync(f, 'r');
    });
    await Promise.all(files.map((fd, i) => UnixSocket.sendFds(net, [fd], `${i}`)));
    const got: string[] = [];
    while (got.length < 3) {
      const m = await b.receive({ timeoutMs: LONG });
      for (const fd of m!.fds) {
        const buf = Buffer.alloc(10);
        got.push(`${m!.data.toString()}:${buf.toString('utf8', 0, readSync(fd, buf, 0, 10, 0))}`);
        closeSync(fd);
      }
    }
    expect(got).toEqual(['0:file 0', '1:file 1', '2:file 2']);
    for (const fd of files) closeSync(fd);

    await expect(UnixSocket.sendFds({} as never, [1])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(UnixSocket.sendFds(net, [])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(UnixSocket.sendFds(net, [1], '')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('at least one byte') });
    await expect(UnixSocket.sendFds(net, [1], 'x', { timeoutMs: -5 })).rejects.toMatchObject({ name: 'RangeError' });
    await new Promise((resolve) => net.on('close', resolve).destroy());
    await expect(UnixSocket.sendFds(net, [1])).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    b.close();
  });

  test.each(TYPES)('%s: Python (socket.send_fds / recv_fds) exchanges descriptors with Node both ways', async (type) => {
    const p = sockPath();
    const file = path.join(dir, `py-${counter++}`);
    writeFileSync(file, 'a file for python');
    const h = host(type, { path: p });
    using shm = SharedMemory.anonymous(4096);
    const fileFd = openSync(file, 'r');
    const child = run('python3', [fixture('unix-socket-interop.py'), type, p]);
    const peer = await h.peer();
    if (type === 'dgram') expect(text(peer.hello)).toBe('hello from python');
    await peer.send('node says hi', [shm.fd, fileFd]);
    closeSync(fileFd);
    const m = await receiveWithFds(peer.sock);
    expect(JSON.parse(m.data.toString())).toEqual({ told: 'node says hi', file: 'a file for python', flags: 0 });
    expect(m.fds).toHaveLength(2);
    for (const fd of m.fds) expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    const theirs = SharedMemory.fromFd(m.fds[0]);
    expect(Buffer.from(theirs.buffer).toString('utf8', 0, 19)).toBe('from a python memfd');
    theirs.close();
    const buf = Buffer.alloc(100);
    expect(buf.toString('utf8', 0, readSync(m.fds[1], buf, 0, 100, null))).toBe('through a python pipe');
    closeSync(m.fds[1]);
    expect(Buffer.from(shm.buffer).toString('utf8', 0, 15)).toBe('python was here');
    peer.close();
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, received: 2 });
  });

  test('at most 253 descriptors per message (SCM_MAX_FD); 253 arrive as 253 new descriptors', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    const many = Array.from({ length: 254 }, () => a.fd);
    await expect(a.send('too many', { fds: many })).rejects.toMatchObject({
      name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('at most 253 descriptors (SCM_MAX_FD'),
    });
    await a.send('just enough', { fds: many.slice(1) });
    const m = await b.receive();
    expect(text(m)).toBe('just enough');
    expect(new Set(m!.fds).size).toBe(253);
    for (const fd of m!.fds) closeSync(fd);
    a.close();
    b.close();
  });

  test('descriptors the receiver cannot take (RLIMIT_NOFILE): ERR_IPC_TRUNCATED, nothing leaks, the connection goes on', async () => {
    const p = sockPath();
    const server = UnixSocket.listen({ path: p, type: 'seqpacket' });
    const child = run('prlimit', ['--nofile=64:64', process.execPath, fixture('unix-socket.js'), 'truncated', p]);
    const conn = await server.accept({ timeoutMs: LONG });
    expect(text(await conn.receive({ timeoutMs: LONG }))).toBe('ready');
    await conn.send('many', { fds: Array.from({ length: 200 }, () => conn.fd) });
    await conn.send('next');
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(out.error).toMatchObject({ code: 'ERR_IPC_TRUNCATED', data: 'many', message: expect.stringContaining('MSG_CTRUNC') });
    expect(out.error.message).toContain('RLIMIT_NOFILE (64)');
    expect(out.after).toBe(out.before);
    expect(out.next).toBe('next');
    conn.close();
    server.close();
  });
});

describe('peer credentials', () => {
  test.each(['stream', 'seqpacket'] as const)('%s: the connecting process’s pid, uid and gid', async (type) => {
    const p = sockPath();
    const server = UnixSocket.listen({ path: p, type });
    const child = runNode('unix-socket.js', ['credentials', type, p]);
    const conn = await server.accept({ timeoutMs: LONG });
    const creds = conn.peerCredentials;
    conn.close();
    server.close();
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(creds).toEqual(JSON.parse(r.stdout));
    expect(creds.pid).not.toBe(process.pid);
  });

  test("another uid: a 0600 socket file keeps it out; an abstract name lets it in, and its credentials say who it is", async () => {
    const open = mkdtempSync(path.join(tmpdir(), 'pipc-sock-open-'));
    chmodSync(open, 0o755);
    try {
      const priv = path.join(open, 'private');
      const pub = path.join(open, 'public');
      const privServer = UnixSocket.listen({ path: priv, type: 'seqpacket' });
      const pubServer = UnixSocket.listen({ path: pub, type: 'seqpacket', mode: 0o666 });
      const name = abstractName();
      const abstract = UnixSocket.listen({ abstract: name });
      await withOtherUser(async (runAs) => {
        const denied = JSON.parse((await runAs('unix-socket.js', ['connect', 'seqpacket', priv])).stdout);
        expect(denied.error).toMatchObject({ code: 'EACCES', syscall: 'connect', path: priv, message: `EACCES: permission denied, connect '${priv}'` });
        const allowed = runAs('unix-socket.js', ['connect', 'seqpacket', pub]);
        const conn = await pubServer.accept({ timeoutMs: LONG });
        expect(conn.peerCredentials).toMatchObject({ uid: 65534, gid: 65534 });
        expect(text(await conn.receive({ timeoutMs: LONG }))).toBe('hi');
        conn.close();
        expect(JSON.parse((await allowed).stdout)).toEqual({ ok: true });

        const child = runAs('unix-socket.js', ['credentials', 'stream', `@${name}`]);
        const other = await abstract.accept({ timeoutMs: LONG });
        const creds = other.peerCredentials;
        other.close();
        const printed = JSON.parse((await child).stdout);
        expect(creds).toEqual(printed);
        expect(creds).toMatchObject({ uid: 65534, gid: 65534 });
      });
      for (const s of [privServer, pubServer, abstract]) s.close();
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
});

describe('lifetime', () => {
  test('close() rejects pending receives and sends with ERR_IPC_CLOSED; use after close is ERR_IPC_CLOSED', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    while (a.trySend(Buffer.alloc(1000)));
    const receiving = a.receive();
    const sending = a.send('stuck');
    a.close();
    await expect(receiving).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'UnixSocket is closed' });
    await expect(sending).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await expect(a.send('x')).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await expect(a.receive()).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(() => a.trySend('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => a.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => a.peerCredentials).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => a.address).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(a).toMatchObject({ closed: true, fd: -1 });
    expect(() => a.close()).not.toThrow();
    b.close();
  });

  test('receive: ETIMEDOUT and AbortError take nothing; `using` closes', async () => {
    let fd: number;
    {
      const [x, y] = socketPair({ type: 'seqpacket' });
      using a = x;
      using b = y;
      fd = b.fd;
      await expect(a.receive({ timeoutMs: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'recvmsg', message: 'ETIMEDOUT: timed out after 20 ms, recvmsg' });
      const ac = new AbortController();
      const pending = a.receive({ signal: ac.signal });
      ac.abort();
      await expect(pending).rejects.toBeInstanceOf(AbortError);
      await b.send('after');
      expect(text(a.tryReceive())).toBe('after'); // the given-up receives took nothing
    }
    expect(existsSync(`/proc/self/fd/${fd}`)).toBe(false);
    expect(fd).toBeGreaterThan(0);
  });

  test('aborted, timed-out and closed receives leave no watcher behind: the process exits by itself', async () => {
    const r = await run(process.execPath, [fixture('unix-socket.js'), 'abortThenExit'], { timeout: LONG });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ aborted: 'AbortError', timed: 'ETIMEDOUT' }, { closed: 'ERR_IPC_CLOSED' }]);
  });

  test('fromFd adopts a Unix socket; refuses other descriptors, owned ones and listening sockets', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const file = openSync(__filename, 'r');
    expect(() => UnixSocket.fromFd(file)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('is not a socket') }));
    closeSync(file);
    expect(() => UnixSocket.fromFd(a.fd)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('already belongs') }));
    expect(() => UnixSocket.fromFd(-1)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    const server = UnixSocket.listen({ abstract: abstractName() });
    expect(() => UnixSocket.fromFd(server.fd)).toThrow(expect.objectContaining({ message: expect.stringContaining('already belongs') }));
    server.close();
    // A listening socket nobody here owns: net's, by its libuv handle's descriptor.
    const netServer = createServer();
    await new Promise<void>((resolve) => netServer.listen(`\0${abstractName()}`, resolve));
    const listeningFd = (netServer as unknown as { _handle: { fd: number } })._handle.fd;
    expect(() => UnixSocket.fromFd(listeningFd)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('is a listening socket') }));
    await new Promise((resolve) => netServer.close(resolve));
    a.close();
    b.close();
  });

  test('a socket end passed to a child through stdio works there with fromFd', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    const code = `const { UnixSocket } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'unix-socket'))});
      const s = UnixSocket.fromFd(3);
      s.receive().then((m) => s.send('child got ' + m.data)).then(() => s.close());`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', b.fd] });
    b.close();
    await a.send('hello');
    expect(text(await a.receive({ timeoutMs: LONG }))).toBe('child got hello');
    await new Promise((resolve) => child.on('exit', resolve));
    a.close();
  });

  test('a Worker ended with receives and sends pending closes its descriptors; nothing crashes', async () => {
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { socketPair } = require(workerData.lib);
       const [a, b] = socketPair({ type: 'dgram' });
       while (a.trySend(Buffer.alloc(1000)));
       a.send('stuck');
       b.receive(); a.receive();
       parentPort.postMessage('waiting');`,
      { eval: true, workerData: { lib: path.join(__dirname, '..', 'dist', 'unix-socket') } },
    );
    await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    expect(await worker.terminate()).toBe(1);
  });

  test('no descriptor leaks on success and failure paths', async () => {
    for (let i = 0; i < 10; i++) {
      const name = abstractName();
      const server = UnixSocket.listen({ abstract: name, type: 'seqpacket' });
      expect(() => UnixSocket.listen({ abstract: name, type: 'seqpacket' })).toThrow(IpcError);
      await expect(UnixSocket.connect({ abstract: `${name}-none` })).rejects.toThrow(IpcError);
      const client = await UnixSocket.connect({ abstract: name, type: 'seqpacket' });
      const conn = await server.accept();
      await client.send('x', { fds: [client.fd, conn.fd] });
      const m = await conn.receive();
      for (const fd of m!.fds) closeSync(fd);
      void conn.receive().catch(() => undefined);
      for (const s of [client, conn, server]) s.close();
    }
  });
});

describe('blocking variants (sendSync, receiveSync, acceptSync)', () => {
  /** Waits for a child's exit and its stdout, one JSON value per line. */
  function outputOf(
    child: ReturnType<typeof spawnWithFds>,
  ): Promise<{ code: number | null; lines: unknown[]; stderr: string }> {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, lines: stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) })));
  }

  test('a round trip with a child over a datagram pair passed with spawn, descriptors both ways', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const child = spawnWithFds(process.execPath, [fixture('unix-socket.js'), 'syncPeer'], { fds: { 3: b }, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = outputOf(child);
    b.close();
    // Both sides block: the child runs on its own.
    a.sendSync('ping', { timeoutMs: LONG });
    expect(text(a.receiveSync({ timeoutMs: LONG }))).toBe('echo:ping');

    const file = path.join(dir, `f${counter++}`);
    writeFileSync(file, 'contents of the file');
    const fd = openSync(file, 'r');
    a.sendSync('read this', { fds: [fd], timeoutMs: LONG });
    closeSync(fd);
    expect(JSON.parse(text(a.receiveSync({ timeoutMs: LONG })))).toEqual({ told: 'read this', read: 'contents of the file', cloexec: true, fds: 1 });

    a.sendSync(`file:${file}`);
    const m = a.receiveSync({ timeoutMs: LONG })!;
    expect([m.data.toString(), m.fds.length]).toEqual(['here', 1]);
    expect(fdFlags(m.fds[0]) & O_CLOEXEC).toBe(O_CLOEXEC);
    const buffer = Buffer.alloc(64);
    expect(buffer.toString('utf8', 0, readSync(m.fds[0], buffer, 0, 64, 0))).toBe('contents of the file');
    closeSync(m.fds[0]);

    // The async side meets the sync side too.
    await a.send('async');
    expect(text(await a.receive({ timeoutMs: LONG }))).toBe('echo:async');
    a.sendSync('bye');
    expect(await done).toEqual({ code: 0, stderr: '', lines: [{ bye: true, answered: 4 }] });
    a.close();
  });

  test('receiveSync in a child returns null at the end of the stream (seqpacket)', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    const child = spawnWithFds(process.execPath, [fixture('unix-socket.js'), 'syncPeer'], { fds: { 3: b }, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = outputOf(child);
    b.close();
    await a.send('one');
    expect(text(await a.receive({ timeoutMs: LONG }))).toBe('echo:one');
    a.close();
    expect(await done).toEqual({ code: 0, stderr: '', lines: [{ ended: true, answered: 1 }] });
  });

  test.each(['stream', 'seqpacket'] as const)('end of stream is null on %s, after what came before it', (type) => {
    const [a, b] = socketPair({ type });
    b.sendSync('last words');
    b.close();
    expect(text(a.receiveSync({ timeoutMs: LONG }))).toBe('last words');
    expect(a.receiveSync({ timeoutMs: LONG })).toBeNull();
    expect(a.ended).toBe(true);
    a.close();
  });

  test('after a call that had to wait (the next one waits first), messages that are there come at once, even with timeoutMs 0', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const buffer = Buffer.alloc(8);
    // Nothing there: waited and timed out, twice, so the next calls on b wait first.
    expect(() => b.receiveSync({ timeoutMs: 5 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(() => b.receiveIntoSync(buffer, { timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    for (let i = 0; i < 40; i++) a.sendSync(`m${i}`);
    for (let i = 0; i < 40; i += 2) {
      expect(text(b.receiveSync({ timeoutMs: 0 }))).toBe(`m${i}`);
      expect(buffer.toString('utf8', 0, b.receiveIntoSync(buffer, { timeoutMs: 0 })!)).toBe(`m${i + 1}`);
    }
    expect(() => b.receiveSync({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    a.close();
    b.close();
  });

  test('timeouts reject with ETIMEDOUT naming the syscall, and do not come early', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    let start = Date.now();
    expect(() => b.receiveSync({ timeoutMs: 50 })).toThrow(expect.objectContaining({
      name: 'IpcError', code: 'ETIMEDOUT', errno: -110, syscall: 'recvmsg', message: 'ETIMEDOUT: timed out after 50 ms, recvmsg',
    }));
    expect(Date.now() - start).toBeGreaterThanOrEqual(49);
    expect(() => b.receiveSync({ timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));

    while (a.trySend(Buffer.alloc(1000)));
    start = Date.now();
    expect(() => a.sendSync('x', { timeoutMs: 50 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'sendmsg' }));
    expect(Date.now() - start).toBeGreaterThanOrEqual(49);
    // Room again: it goes at once.
    b.receiveSync();
    a.sendSync('x', { timeoutMs: 50 });

    const name = abstractName();
    const server = UnixSocket.listen({ abstract: name });
    expect(() => server.acceptSync({ timeoutMs: 30 })).toThrow(expect.objectContaining({
      code: 'ETIMEDOUT', syscall: 'accept4', path: `@${name}`, message: `ETIMEDOUT: timed out after 30 ms, accept4 '@${name}'`,
    }));
    for (const s of [a, b, server]) s.close();
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

  test('timeouts hold through a signal storm (in a child)', async () => {
    const out = await runInSignalStorm('unix-socket.js', ['syncTimeoutsInStorm', '300']);
    for (const [op, syscall] of [['receive', 'recvmsg'], ['send', 'sendmsg'], ['accept', 'accept4']]) {
      expectTimedOut(out[op], 290, syscall);
    }
  });

  test('acceptSync takes a connection; connections made with it carry messages', async () => {
    const name = abstractName();
    const server = UnixSocket.listen({ abstract: name, type: 'seqpacket' });
    const connecting = UnixSocket.connect({ abstract: name, type: 'seqpacket' });
    const conn = server.acceptSync({ timeoutMs: LONG });
    const client = await connecting;
    client.sendSync('hi');
    expect(text(conn.receiveSync({ timeoutMs: LONG }))).toBe('hi');
    expect(fdFlags(conn.fd) & (O_NONBLOCK | O_CLOEXEC)).toBe(O_NONBLOCK | O_CLOEXEC);
    for (const s of [client, conn, server]) s.close();
  });

  test('refused while an async operation of the same direction is pending', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const pending = a.receive({ timeoutMs: LONG });
    expect(() => a.receiveSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    // The other direction is free.
    a.sendSync('to b');
    b.sendSync('to a');
    expect(text(await pending)).toBe('to a');
    b.sendSync('again');
    expect(text(a.receiveSync({ timeoutMs: 10 }))).toBe('again');

    while (a.trySend(Buffer.alloc(1000)));
    const queued = a.send('queued', { timeoutMs: LONG });
    expect(() => a.sendSync('overtaker', { timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    while (b.tryReceive() !== null);
    await queued;

    const server = UnixSocket.listen({ abstract: abstractName() });
    const accepting = server.accept().catch((err) => err.code);
    expect(() => server.acceptSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_IPC_BUSY' }));
    server.close();
    expect(await accepting).toBe('ERR_IPC_CLOSED');
    a.close();
    b.close();
  });

  test('arguments are validated before any syscall', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    expect(() => a.receiveSync({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => a.sendSync('x', { timeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => a.sendSync('x', { signal: new AbortController().signal } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => a.sendSync('x', { fds: ['3'] as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const [c, d] = socketPair({ type: 'seqpacket' });
    expect(() => c.sendSync('x', { to: { abstract: 'x' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    c.close();
    d.close();
    a.close();
    expect(() => a.receiveSync()).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => a.sendSync('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    b.close();
  });
});

describe('batches (sendMany, receiveMany) and receiveInto', () => {
  /** A regular file to pass as a descriptor; the caller closes it. */
  function someFd(): number {
    const file = path.join(dir, `f${counter++}`);
    writeFileSync(file, 'x');
    return openSync(file, 'r');
  }

  test.each(['dgram', 'seqpacket'] as const)('%s: messages in order, each whole with its own descriptors (close-on-exec), up to max per call', async (type) => {
    const before = openFds();
    const [a, b] = socketPair({ type });
    const fd = someFd();
    await a.sendMany(['one', Buffer.from('two'), new Uint16Array([0x6874, 0x6572]), { data: 'four', fds: [fd, fd] }, { data: 'five' }]);
    closeSync(fd);
    const first = await b.receiveMany(3, { timeoutMs: LONG });
    expect(first!.map((m) => m.data.toString())).toEqual(['one', 'two', 'thre']);
    expect(first!.map((m) => m.fds)).toEqual([[], [], []]);
    const rest = b.receiveManySync(10, { timeoutMs: LONG })!;
    expect(rest.map((m) => m.data.toString())).toEqual(['four', 'five']);
    expect(rest[0].fds).toHaveLength(2);
    for (const received of rest[0].fds) {
      expect(fdFlags(received) & O_CLOEXEC).toBe(O_CLOEXEC);
      closeSync(received);
    }
    expect(b.tryReceiveMany(10)).toEqual([]);
    expect(a.trySendMany([])).toBe(0);
    a.close();
    b.close();
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('a datagram batch says who sent each message; sendMany to an address', async () => {
    const name = abstractName();
    const receiver = UnixSocket.datagram({ abstract: name });
    const sender = UnixSocket.datagram({ abstract: `${name}-from` });
    const anonymous = UnixSocket.datagram();
    await sender.sendMany(['a', 'b'], { to: { abstract: name } });
    anonymous.sendManySync(['c'], { to: { abstract: name } });
    const got = await receiver.receiveMany(5);
    expect(got!.map((m) => [m.data.toString(), m.from])).toEqual([
      ['a', { abstract: `${name}-from` }], ['b', { abstract: `${name}-from` }], ['c', undefined],
    ]);
    for (const s of [receiver, sender, anonymous]) s.close();
  });

  test('a child answers batches with batches (receiveManySync / sendManySync), descriptors included', async () => {
    const [a, b] = socketPair({ type: 'seqpacket' });
    const child = spawnWithFds(process.execPath, [fixture('unix-socket.js'), 'batchPeer'], { fds: { 3: b }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    b.close();
    const fd = someFd();
    const messages = Array.from({ length: 40 }, (_, i) => (i === 7 ? { data: 'with fds', fds: [fd, fd, fd] } : `m${i}`));
    await a.sendMany(messages);
    closeSync(fd);
    const replies: string[] = [];
    while (replies.length < 40) {
      for (const m of (await a.receiveMany(64, { timeoutMs: LONG }))!) replies.push(m.data.toString());
    }
    expect(replies).toEqual(messages.map((_, i) => (i === 7 ? 'fds:3' : `echo:m${i}`)));
    a.sendManySync(['bye']);
    expect(await exited).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.answered).toBe(40);
    expect(out.batches).toBeGreaterThan(1);
    expect(await a.receiveMany(4, { timeoutMs: LONG })).toBeNull();
    expect(a.ended).toBe(true);
    a.close();
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

  test('arguments are validated before any syscall; streams take no batches; closed sockets none at all', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    await expect(a.sendMany('x' as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    await expect(a.sendMany([1] as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"messages[0]"') });
    await expect(a.sendMany([{ data: 'x', fds: ['3'] }] as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(a.sendMany(['x'], { fds: [1] } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => a.sendManySync(['x'], { timeoutMs: -2 })).toThrow(RangeError);
    await expect(a.receiveMany(0)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => a.tryReceiveMany(1025)).toThrow(RangeError);
    expect(() => a.receiveManySync(1024, { messageSize: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('67108864 bytes') }));
    await expect(a.receiveInto('x' as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => a.tryReceiveInto(Buffer.alloc(0))).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    // Nothing was sent or taken by any of that.
    expect(b.tryReceiveMany(4)).toEqual([]);

    const [s, t] = socketPair({ type: 'stream' });
    await expect(s.sendMany(['x'])).rejects.toMatchObject({ code: 'ERR_IPC_SOCKET_TYPE' });
    expect(() => s.receiveManySync(4)).toThrow(expect.objectContaining({ code: 'ERR_IPC_SOCKET_TYPE' }));
    for (const sock of [a, b, s, t]) sock.close();
    await expect(a.sendMany(['x'])).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(() => a.tryReceiveMany(1)).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(() => a.receiveIntoSync(Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });
});

describe('hostile buffers: refused with a code, and nothing is sent', () => {
  test('a Proxy of a Uint8Array (or one message of a batch) sends nothing on any send call', async () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const proxy = new Proxy(new Uint8Array([1, 2, 3]), {});
    const revoked = Proxy.revocable(new Uint8Array(1), {});
    revoked.revoke();
    const typeError = expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => a.trySend(proxy)).toThrow(typeError);
    expect(() => a.sendSync(proxy)).toThrow(typeError);
    await expect(a.send(proxy)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    // The first messages are fine: they must not go either.
    for (const bad of [proxy, revoked.proxy]) {
      expect(() => a.trySendMany([Buffer.from('x'), bad])).toThrow(typeError);
      expect(() => a.sendManySync([Buffer.from('x'), bad])).toThrow(typeError);
      await expect(a.sendMany([Buffer.from('x'), bad])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      expect(() => a.trySendMany([Buffer.from('x'), { data: bad }])).toThrow(typeError);
    }
    // A Proxy of the batch itself, and an entry whose getter throws.
    expect(() => a.trySendMany(new Proxy([Buffer.from('x')], {}))).toThrow(typeError);
    const throwing = { get data(): never { throw new Error('boom'); } };
    expect(() => a.trySendMany([Buffer.from('x'), throwing])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const element = [Buffer.from('x')];
    Object.defineProperty(element, 1, { get() { throw new Error('boom'); }, enumerable: true });
    expect(() => a.trySendMany(element)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => a.trySend('x', { fds: new Proxy([0], {}) })).toThrow(typeError);
    expect(b.tryReceiveMany(8)).toEqual([]);
    a.close();
    b.close();
  });

  test('the addon reads each buffer from the engine and refuses what is not a real view, sending nothing', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const fd = a.fd;
    const { EINVAL } = osConstants.errno;
    const proxy = new Proxy(new Uint8Array([1, 2, 3]), {});
    expect(binding.socketSend(fd, proxy, null, null)).toBe(-EINVAL);
    expect(binding.socketSend(fd, new DataView(new ArrayBuffer(1)) as never, null, null)).toBe(-EINVAL);
    expect(binding.socketSendSync(fd, proxy, null, null, 0)).toBe(-EINVAL);
    expect(binding.socketSendMany(fd, [Buffer.from('x'), proxy], null, null, 0, null)).toBe(-EINVAL);
    expect(binding.socketSend(fd, Buffer.from('x'), new Proxy(new Int32Array([0]), {}) as never, null)).toBe(-EINVAL);
    expect(binding.socketSend(fd, Buffer.from('x'), null, proxy)).toBe(-EINVAL);
    expect(b.tryReceiveMany(8)).toEqual([]);
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
});

describe('close() removes only its own socket file', () => {
  test.each(['server', 'dgram'] as const)("%s: another socket made at the path after ours was removed survives our close()", async (kind) => {
    const file = sockPath();
    const ours = kind === 'server' ? UnixSocket.listen({ path: file }) : UnixSocket.datagram({ path: file });
    rmSync(file);
    const theirs = UnixSocket.listen({ path: file });
    ours.close();
    expect(statSync(file).isSocket()).toBe(true);
    // Still theirs: a connection reaches it.
    const client = await UnixSocket.connect({ path: file });
    const conn = await theirs.accept({ timeoutMs: LONG });
    client.sendSync('hi');
    expect(text(await conn.receive({ timeoutMs: LONG }))).toBe('hi');
    for (const s of [client, conn, theirs]) s.close();
    expect(existsSync(file)).toBe(false);
  });

  test('a regular file put at the path is not removed either', () => {
    const file = sockPath();
    const server = UnixSocket.listen({ path: file });
    rmSync(file);
    writeFileSync(file, 'not a socket');
    server.close();
    expect(readFileSync(file, 'utf8')).toBe('not a socket');
    rmSync(file);
  });
});

test('util.inspect shows kind, type, address, fd and state of sockets and servers, open and closed', async () => {
  const name = `pipc-${process.pid}-inspect`;
  const server = UnixSocket.listen({ abstract: name, type: 'seqpacket' });
  const client = await UnixSocket.connect({ abstract: name, type: 'seqpacket' });
  expect(inspect(server, { breakLength: Infinity })).toBe(`UnixSocketServer { type: 'seqpacket', address: '@${name}', fd: ${server.fd}, ref: true, closed: false }`);
  expect(inspect(client.unref(), { breakLength: Infinity })).toBe(`UnixSocket { type: 'seqpacket', address: '@${name}', fd: ${client.fd}, ended: false, ref: false, closed: false }`);
  server.close();
  client.close();
  expect(inspect(server, { breakLength: Infinity })).toBe(`UnixSocketServer { type: 'seqpacket', address: '@${name}', fd: -1, ref: true, closed: true }`);
  expect(inspect(client, { breakLength: Infinity })).toBe(`UnixSocket { type: 'seqpacket', address: '@${name}', fd: -1, ended: false, ref: false, closed: true }`);
});

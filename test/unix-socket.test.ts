// UnixSocket (lib/unix-socket.ts): socket pairs, messages, datagram sockets, descriptor passing,
// peer credentials, lifetime and blocking calls.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { inspect } from 'node:util';
import {
  chmodSync, closeSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  AbortError, IpcError, pipe, SharedMemory, spawn as spawnWithFds, socketPair, UnixSocket, type UnixMessage,
  type UnixSocketType,
} from '../lib';
import { binding } from '../lib/binding';
import {
  expectTimedOut, fdFlags, fdsOpenedSince, fixture, LONG, O_CLOEXEC, O_NONBLOCK, openFds, run, runInSignalStorm,
  runNode, socketTestFiles, text, withOtherUser, withUmask,
} from './helpers';

const TYPES: UnixSocketType[] = ['stream', 'seqpacket', 'dgram'];
const sockets = socketTestFiles();
const { sockPath, abstractName, someFd } = sockets;

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

  describe('seqpacket: an empty message is a message, even once the peer has closed', () => {
    // The kernel reads both an empty record and the end of the stream as 0
    // bytes; every call must tell them apart.
    const SENT = [
      ['m1', '', 'm3', 'm4'],
      ['', '', '', 'x', '', ''],
      ['m1', ''],
      [''],
    ];
    const DRAINS: Record<string, (sock: UnixSocket) => Promise<(string | null)[]>> = {
      receive: async (sock) => {
        const seen: (string | null)[] = [];
        for (let m = await sock.receive({ timeoutMs: LONG }); ; m = await sock.receive({ timeoutMs: LONG })) {
          seen.push(m === null ? null : m.data.toString());
          if (m === null) return seen;
        }
      },
      tryReceive: async (sock) => {
        const seen: (string | null)[] = [];
        for (let m = sock.tryReceive(); ; m = sock.tryReceive()) {
          seen.push(m === null ? null : m.data.toString());
          if (m === null) return seen;
        }
      },
      receiveSync: async (sock) => {
        const seen: (string | null)[] = [];
        for (let m = sock.receiveSync({ timeoutMs: LONG }); ; m = sock.receiveSync({ timeoutMs: LONG })) {
          seen.push(m === null ? null : m.data.toString());
          if (m === null) return seen;
        }
      },
      receiveInto: async (sock) => {
        const seen: (string | null)[] = [];
        const buffer = Buffer.alloc(16);
        for (let n = await sock.receiveInto(buffer); ; n = await sock.receiveInto(buffer)) {
          seen.push(n === null ? null : buffer.toString('utf8', 0, n));
          if (n === null) return seen;
        }
      },
      receiveMany: async (sock) => {
        const seen: (string | null)[] = [];
        // A batch of 2 also ends a batch between an empty message and the end.
        for (let r = await sock.receiveMany(2); ; r = await sock.receiveMany(2)) {
          if (r === null) return [...seen, null];
          seen.push(...r.map((m) => m.data.toString()));
        }
      },
      receiveManySync: async (sock) => {
        const seen: (string | null)[] = [];
        for (let r = sock.receiveManySync(8, { timeoutMs: LONG }); ; r = sock.receiveManySync(8, { timeoutMs: LONG })) {
          if (r === null) return [...seen, null];
          seen.push(...r.map((m) => m.data.toString()));
        }
      },
      'for await': async (sock) => {
        const seen: (string | null)[] = [];
        for await (const m of sock) seen.push(m.data.toString());
        return [...seen, null];
      },
    };
    test.each(Object.keys(DRAINS))('%s: every message in order, then the end', async (how) => {
      for (const sent of SENT) {
        const [a, b] = socketPair({ type: 'seqpacket' });
        for (const m of sent) await a.send(m);
        a.close();
        expect(await DRAINS[how](b)).toEqual([...sent, null]);
        expect(b.ended).toBe(true);
        // The end stays the end.
        expect(b.tryReceive()).toBeNull();
        b.close();
      }
    });

    test('a receive waiting when the empty message and the close come gets the message, then the end', async () => {
      const [a, b] = socketPair({ type: 'seqpacket' });
      const first = b.receive({ timeoutMs: LONG });
      const many = b.receiveMany(8, { timeoutMs: LONG });
      await a.send('');
      await a.send('');
      a.close();
      expect(text(await first)).toBe('');
      expect((await many)!.map((m) => m.data.toString())).toEqual(['']);
      expect(await b.receive()).toBeNull();
      b.close();
    });

    test('a receiver that later sends unbound is autobound to an abstract address, which its peer sees', async () => {
      // Receives turn SO_PASSCRED on for good; a socket passing credentials
      // that sends unbound is bound by the kernel (unix(7), autobind).
      const [a, b] = socketPair({ type: 'seqpacket' });
      await b.send('before');
      expect(b.address).toBeNull();
      expect(text(await a.receive())).toBe('before');
      await a.send('');
      expect(text(await b.receive())).toBe('');
      expect(b.tryReceiveMany(4)).toEqual([]);
      await b.send('answer');
      expect(text(await a.receive())).toBe('answer');
      expect(b.address).toEqual({ abstract: expect.stringMatching(/^[0-9a-f]{5}$/) });
      expect(a.remoteAddress).toEqual(b.address);
      a.close();
      b.close();
    });

    test('two processes receiving on one socket: each message taken once in all, the end only once the peer closed', async () => {
      // A receive must never see the end while the peer is open, whatever
      // another receiver of the same socket does meanwhile.
      const [a, b] = socketPair({ type: 'seqpacket' });
      const children = [0, 1].map(() => spawnWithFds(process.execPath, [fixture('unix-seq-share.js')], {
        fds: { 3: b }, stdio: ['ignore', 'pipe', 'inherit'],
      }));
      b.close();
      const outputs = children.map(async (child) => {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
        const [code] = await once(child, 'exit');
        expect(code).toBe(0);
        return JSON.parse(out) as { empty: number; numbers: number[]; afterEnd: string };
      });
      const COUNT = 40000;
      for (let i = 0; i < COUNT; i += 100) {
        await a.sendMany(Array.from({ length: 100 }, (_, j) => ((i + j) % 3 === 0 ? String(i + j) : '')), { timeoutMs: LONG });
      }
      a.close();
      const results = await Promise.all(outputs);
      expect(results.map((r) => r.afterEnd)).toEqual(['end', 'end']);
      expect(results[0].empty + results[1].empty).toBe(COUNT - Math.ceil(COUNT / 3));
      const numbers = [...results[0].numbers, ...results[1].numbers].sort((x, y) => x - y);
      expect(numbers).toEqual(Array.from({ length: Math.ceil(COUNT / 3) }, (_, k) => k * 3));
    });
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
    const file = sockets.path('file-');
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

  test.each(TYPES)('%s: Python (socket.send_fds / recv_fds) exchanges descriptors with Node both ways', async (type) => {
    const p = sockPath();
    const file = sockets.path('py-');
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

    const file = sockets.path('f');
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

  test('timeouts hold through a signal storm (in a child)', async () => {
    const out = await runInSignalStorm('unix-socket.js', ['syncTimeoutsInStorm', '300']);
    for (const [op, syscall] of [['receive', 'recvmsg'], ['send', 'sendmsg'], ['accept', 'accept4']]) {
      expectTimedOut(out[op], 290, syscall);
    }
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

describe('options are read before the bytes', () => {
  /** Options whose `key` getter transfers `ab` away (detaching every view of it). */
  const detaching = (ab: ArrayBuffer, key: 'timeoutMs' | 'to') => ({
    get [key]() {
      structuredClone(ab, { transfer: [ab] });
      return key === 'to' ? undefined : 1000;
    },
  });
  const detachable = () => {
    const ab = new ArrayBuffer(8);
    return { ab, view: new Uint8Array(ab).fill(7) };
  };

  test('a getter that detaches the data is refused (ERR_INVALID_STATE): no empty message goes out', async () => {
    const invalidState = expect.objectContaining({ code: 'ERR_INVALID_STATE' });
    const [a, b] = socketPair({ type: 'dgram' });
    let d = detachable();
    expect(() => a.trySend(d.view, detaching(d.ab, 'to'))).toThrow(invalidState);
    d = detachable();
    expect(() => a.sendSync(d.view, detaching(d.ab, 'timeoutMs'))).toThrow(invalidState);
    d = detachable();
    await expect(a.send(d.view, detaching(d.ab, 'timeoutMs'))).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    d = detachable();
    expect(() => a.sendManySync([d.view, 'ok'], detaching(d.ab, 'timeoutMs'))).toThrow(invalidState);
    expect(b.tryReceive()).toBeNull();
    a.close();
    b.close();
    const [s, t] = socketPair();
    d = detachable();
    await expect(s.send(d.view, detaching(d.ab, 'timeoutMs'))).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    s.sendSync('after');
    expect(text(await t.receive({ timeoutMs: LONG }))).toBe('after');
    s.close();
    t.close();
  });

  test('a detached view is -EINVAL to the addon, never an empty message', () => {
    const [a, b] = socketPair({ type: 'dgram' });
    const gone = new ArrayBuffer(8);
    const view = new Uint8Array(gone);
    structuredClone(gone, { transfer: [gone] });
    expect(binding.socketSend(a.fd, view, null, null)).toBe(-osConstants.errno.EINVAL);
    expect(b.tryReceive()).toBeNull();
    a.close();
    b.close();
  });
});

describe('descriptors owned by another thread', () => {
  test('a Worker cannot adopt a descriptor a handle of the main thread owns: its teardown would close it under that handle', async () => {
    const [a, b] = socketPair();
    const shm = SharedMemory.anonymous(4096);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { SharedMemory, UnixSocket } = require(workerData.lib);
       const outcome = (call) => { try { call(); return 'adopted'; } catch (e) { return e.code; } };
       parentPort.postMessage({
         socket: outcome(() => UnixSocket.fromFd(workerData.socket)),
         shm: outcome(() => SharedMemory.fromFd(workerData.shm)),
       });`,
      { eval: true, workerData: { lib: path.join(__dirname, '..', 'dist'), socket: a.fd, shm: shm.fd } },
    );
    const outcomes = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await new Promise((resolve) => worker.once('exit', resolve));
    expect(outcomes).toEqual({ socket: 'ERR_INVALID_ARG_VALUE', shm: 'ERR_INVALID_ARG_VALUE' });
    // The Worker's teardown closed nothing of the main thread's.
    a.sendSync('still mine');
    expect(text(b.receiveSync({ timeoutMs: LONG }))).toBe('still mine');
    expect(fstatSync(shm.fd).size).toBe(4096);
    a.close();
    b.close();
    shm.close();
  });
});

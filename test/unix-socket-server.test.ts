// UnixSocketServer (lib/unix-socket-server.ts): listening, connecting and accepting.
import { existsSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { AbortError, UnixSocket } from '../lib';
import {
  fdFlags, LONG, O_CLOEXEC, O_NONBLOCK, run, runWithFewFds, socketTestFiles, text, turns, withUmask,
} from './helpers';

const sockets = socketTestFiles();
const { sockPath, abstractName } = sockets;

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

  test('a listening socket made blocking by a process it was passed to still never blocks an accept', async () => {
    const server = UnixSocket.listen({ abstract: abstractName() });
    const child = await run('python3', ['-c', 'import os; os.set_blocking(3, True); print(os.get_blocking(3))'], { stdio: ['pipe', 'pipe', 'pipe', server.fd] });
    expect(child).toMatchObject({ code: 0, stdout: 'True\n' });
    expect(server.tryAccept()).toBeNull(); // blocked for good before
    await expect(server.accept({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    server.close();
  });
});

describe('acceptSync', () => {
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
});

// Unix-socket addresses and binding (lib/internal/unix-address.ts): validation, string forms,
// modes and socket files.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { UnixSocket } from '../lib';
import { fixture, LONG, run, socketTestFiles, text, withUmask } from './helpers';

const sockets = socketTestFiles();
const { sockPath, abstractName } = sockets;

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
    const p = path.join(sockets.dir, 'l'.repeat(107 - sockets.dir.length - 1));
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

describe('binding to an address', () => {
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

  test('a socket file whose chmod fails is removed again: nothing left to make the next bind EADDRINUSE', async () => {
    // /proc unmounted in a private mount namespace: the umask cannot be read and the chmod (through /proc/self/fd)
    // fails.
    const r = await run('unshare', ['--mount', process.execPath, fixture('unix-socket.js'), 'bindWhereChmodFails', sockets.dir]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ listen: 'ENOENT chmod', listenLeft: false, datagram: 'ENOENT chmod', datagramLeft: false });
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

/**
 * The request/reply protocol over FIFOs: FifoServer and FifoClient, in this
 * process and across processes (FIFO ends themselves are in fifo.test.ts).
 */
import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { AbortError, Fifo, FifoClient, FifoServer, mkfifo } from '../lib';
import {
  fdFlags, fdsOpenedSince, fixture, O_CLOEXEC, O_NONBLOCK, openFds, run, runNode, until, withOtherUser,
} from './helpers';

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

describe('FifoServer and FifoClient', () => {
  test('20 client processes at once, each with 10 requests near PIPE_BUF in flight; ' +
    'every reply FIFO is removed', async () => {
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
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => runNode('fifo.js', ['client', requestPath, dir, '10', '3900'])),
    );
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

  test('errors: a handler that throws, data that is not JSON, a request over PIPE_BUF, ' +
    'timeouts and aborts', async () => {
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
      code: 'ERR_IPC_REMOTE', message: 'out of range', cause: {
        name: 'RangeError', message: 'out of range', code: 'E_RANGE',
      },
    });
    await expect(client.request('bigint')).rejects.toMatchObject({
      code: 'ERR_IPC_REMOTE', message: expect.stringContaining('not JSON-serializable'),
    });
    await expect(client.request(10n)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    const big = 'x'.repeat(4096);
    await expect(client.request(big)).rejects.toMatchObject({
      name: 'IpcError', code: 'EMSGSIZE', syscall: 'write', path: requestPath,
      message: expect.stringContaining('exceeds PIPE_BUF (4096), the most a FIFO writes atomically'),
    });
    await expect(client.request('slow', { timeoutMs: 20 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', syscall: 'read', path: client.replyPath,
      message: expect.stringContaining('no reply within 20 ms'),
    });
    const ac = new AbortController();
    const aborted = client.request('slow', { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await expect(client.request('b', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(client.request('c', { timeoutMs: 1.5 })).rejects.toMatchObject({
      name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE',
    });
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

  test('a client closed with requests pending rejects them with ERR_IPC_CLOSED; ' +
    'the server shrugs off the lost reply', async () => {
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
    expect(() => listen(requestPath, (request: string) => request)).toThrow(expect.objectContaining({
      code: 'EEXIST', path: requestPath,
    }));
    rmSync(requestPath);
    const next = listen(requestPath, (request: string) => request);
    const again = await connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    expect(await again.request('back')).toBe('back');
    again.close();
    await next.close();
  });

  test('a server with no descriptor to spare (RLIMIT_NOFILE): that reply is a clientError (EMFILE) ' +
    'and the request times out; with two free, it answers again', async () => {
    const requestPath = at('server');
    const child = spawn('prlimit', [
      '--nofile=128:128', process.execPath, fixture('fifo.js'), 'serveWithoutFds', requestPath,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
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
    const server = listen(requestPath, (request: string) =>
      (request === 'hang' ? new Promise((resolve) => setTimeout(() => resolve('late'), 300)) : request));
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
    const script = 'mkfifo -m 600 "$1" && exec 3<>"$1" && ' +
      'echo "{\\"id\\": 7, \\"reply\\": \\"$1\\", \\"data\\": 20}" > "$0" && head -n 1 <&3 && rm "$1"';
    const r = await run('sh', ['-c', script, requestPath, at('shell-reply')], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ id: 7, data: 21 });
  });

  test('junk in the request FIFO (from a shell) is reported and skipped', async () => {
    const requestPath = at('server');
    const server = listen(requestPath, (request: string) => request);
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    expect(await run('sh', [
      '-c', 'echo "not json" > "$0"; echo "{\\"id\\": 1}" > "$0"', requestPath,
    ])).toMatchObject({ code: 0 });
    expect(await run('sh', [
      '-c', `head -c 5000 /dev/zero | tr '\\0' a > "$0"; echo > "$0"`, requestPath,
    ])).toMatchObject({ code: 0 });
    await until(() => errors.length === 3);
    expect(errors[0]).toMatchObject({
      code: 'EINVAL', syscall: 'read', path: requestPath,
      message: expect.stringContaining('malformed request "not json"'),
    });
    expect(errors[1]).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('malformed request') });
    expect(errors[2]).toMatchObject({ code: 'EMSGSIZE', message: expect.stringContaining('exceeds PIPE_BUF (4096)') });
    const client = await connect(requestPath, { replyDir: dir });
    expect(await client.request('fine')).toBe('fine');
    client.close();
    await server.close();
  });

  test('connect waits for a server that starts later, and gives up on timeout or abort ' +
    'leaving nothing behind', async () => {
    const requestPath = at('server');
    mkfifo(at('nobody-listens'));
    writeFileSync(at('file'), '');
    await expect(FifoClient.connect(at('nobody-listens'), { replyDir: dir, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', syscall: 'open',
    });
    await expect(FifoClient.connect(at('nobody-listens'), { replyDir: dir, signal: AbortSignal.abort() }))
      .rejects.toMatchObject({ name: 'AbortError' });
    // A request FIFO that does not exist yet is waited for, like one nobody reads.
    await expect(FifoClient.connect(at('missing'), { replyDir: dir, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'ETIMEDOUT', path: at('missing'),
    });
    await expect(FifoClient.connect(at('file'), { replyDir: dir })).rejects.toMatchObject({
      code: 'EINVAL', syscall: 'open',
    });
    expect(readdirSync(dir).sort()).toEqual(['file', 'nobody-listens']);

    const connecting = connect(requestPath, { replyDir: dir, timeoutMs: 20000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const server = listen(requestPath, (request: number) => request + 1);
    const client = await connecting;
    expect(await client.request(1)).toBe(2);
    expect(() => FifoServer.listen(requestPath, () => 0)).toThrow(expect.objectContaining({
      code: 'EEXIST', syscall: 'mkfifo', path: requestPath,
    }));
    expect(() => FifoServer.listen(at('x'), 'nope' as never)).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_TYPE',
    }));
    expect(() => FifoServer.listen(at('x'), () => 0, { mode: -1 })).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE',
    }));
    await expect(FifoClient.connect(requestPath, { replyDir: 5 as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    client.close();
    await server.close();
    expect(readdirSync(dir).sort()).toEqual(['file', 'nobody-listens']);
  });

  test('another uid: a 0600 server is EACCES to it, a 0622 one answers it', async () => {
    chmodSync(dir, 0o755);
    const closedServer = listen(at('private'), (request: unknown) => request);
    const openServer = listen(
      at('public'), (request: { pid: number; i: number }) => ({ ...request, served: true }), { mode: 0o622 },
    );
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

test('util.inspect shows Fifo, FifoServer and FifoClient with their paths and state, ' +
  'open and closed', async () => {
  const p = at('inspect.fifo');
  const server = FifoServer.listen(p, (x) => x);
  const client = await FifoClient.connect(p, { replyDir: dir });
  const reader = await Fifo.openReader(client.replyPath);
  const show = (handle: unknown) => inspect(handle, { breakLength: Infinity });
  expect(show(server)).toBe(`FifoServer { path: '${p}', handling: 0, ref: true, closed: false }`);
  expect(show(client)).toMatch(new RegExp(
    `^FifoClient \\{ requestPath: '${p}', replyPath: '${client.replyPath}', fd: \\d+, pending: 0, ref: true, ` +
    'closed: false \\}$',
  ));
  expect(show(reader)).toBe(`Fifo { path: '${client.replyPath}', fd: ${reader.fd}, direction: 'read', closed: false }`);
  reader.close();
  client.close();
  await server.close();
  expect(show(server)).toBe(`FifoServer { path: '${p}', handling: 0, ref: true, closed: true }`);
  expect(show(client)).toBe(
    `FifoClient { requestPath: '${p}', replyPath: '${client.replyPath}', fd: -1, pending: 0, ref: true, closed: true }`,
  );
  expect(show(reader)).toBe(`Fifo { path: '${client.replyPath}', fd: -1, direction: 'read', closed: true }`);
});

test('a FifoClient owns its end of the request FIFO: fd is a non-blocking, close-on-exec write end; ' +
  '`using` closes it, rejects what is pending with ERR_IPC_CLOSED and removes the reply FIFO', async () => {
  listen(at('server'), () => new Promise(() => undefined)); // never answers
  const before = openFds();
  let fd = -1;
  let replyPath = '';
  let pending!: Promise<unknown>;
  {
    using client = await FifoClient.connect(at('server'), { replyDir: dir });
    ({ fd, replyPath } = client);
    expect(client.closed).toBe(false);
    expect(fdFlags(fd) & (O_NONBLOCK | O_CLOEXEC | 3)).toBe(O_NONBLOCK | O_CLOEXEC | 1); // O_WRONLY
    pending = client.request('lost');
    await until(() => inspect(client).includes('pending: 1'));
    expect(client.fd).toBe(fd);
    expect(client.hasRef()).toBe(true);
  }
  await expect(pending).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', message: 'FifoClient is closed' });
  expect(existsSync(replyPath)).toBe(false);
  expect(fdsOpenedSince(before)).toEqual([]);
});

test('await using closes a FifoServer and waits: a request being handled is answered first ' +
  '(Symbol.asyncDispose)', async () => {
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

describe('hostile peers', () => {
  test("another uid cannot answer for a 0622 server: a spoofed reply in a client's reply FIFO " +
    "lacks the request's token and is ignored", async () => {
    chmodSync(dir, 0o755);
    const requestPath = at('public');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: Array<{ amount: number }> = [];
    const server = listen(requestPath, async (request: { amount: number }) => {
      seen.push(request);
      if (request.amount === 10) await gate; // the victim's request takes a while
      return { echo: request };
    }, { mode: 0o622 });
    const client = await connect(requestPath, { replyDir: dir });
    const pending = client.request({ amount: 10 });
    await until(() => seen.length === 1);
    // Reply FIFO names are guessable and ids start at 1.
    const evil = JSON.stringify({ id: 1, reply: client.replyPath, data: { amount: 1e9 } });
    await withOtherUser(async (runAs) => {
      const direct = await runAs('fifo-peer.js', ['write', client.replyPath, evil]);
      expect(direct.code).toBe(1);
      expect(direct.stderr).toContain('EACCES');
      expect(await runAs('fifo-peer.js', ['write', requestPath, evil])).toMatchObject({ code: 0, stderr: '' });
    });
    // The server has written the spoofed reply into the victim's FIFO (its handler ran, its reply is done).
    await until(() => seen.length === 2 && inspect(server).includes('handling: 1'));
    expect(seen[1]).toEqual({ amount: 1e9 });
    release();
    expect(await pending).toEqual({ echo: { amount: 10 } });
    expect(await client.request({ amount: 11 })).toEqual({ echo: { amount: 11 } });
  });

  test('the server echoes a request\'s token; a token that is not a string, or a reply path that is ' +
    'not normalized, is a malformed request', async () => {
    const requestPath = at('server');
    const server = listen(requestPath, (n: number) => n + 1);
    const errors: Error[] = [];
    server.on('clientError', (err: Error) => errors.push(err));
    const script = 'mkfifo -m 600 "$1" && exec 3<>"$1" && ' +
      'echo "{\\"id\\": 7, \\"reply\\": \\"$1\\", \\"token\\": \\"t0k\\", \\"data\\": 20}" > "$0" && ' +
      'head -n 1 <&3 && rm "$1"';
    const r = await run('sh', ['-c', script, requestPath, at('shell-reply')], { timeout: 20000 });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ id: 7, token: 't0k', data: 21 });
    const lines = [
      JSON.stringify({ id: 1, reply: at('x'), token: 5, data: 1 }),
      JSON.stringify({ id: 2, reply: `${dir}/../${path.basename(dir)}/x`, data: 1 }),
      JSON.stringify({ id: 3, reply: `${dir}//x`, data: 1 }),
    ];
    for (const line of lines) writeFileSync(requestPath, `${line}\n`);
    await until(() => errors.length === 3);
    for (const err of errors) {
      expect(err).toMatchObject({ code: 'EINVAL', syscall: 'read', message: expect.stringContaining('malformed request') });
    }
  });

  test('a client that never reads its replies: past 1 MiB of replies waiting, its reply channel is closed ' +
    'with a clientError (ENOBUFS), and the server goes on', async () => {
    const before = openFds();
    const requestPath = at('server');
    const server = listen(requestPath, (data: string) => data);
    const errors: Array<Error & { code?: string }> = [];
    server.on('clientError', (err: Error) => errors.push(err));
    const replyPath = at('hostile-reply');
    // 1000 replies of 3000 bytes: 3 MB, far more than the FIFO (64 KiB) and the bound (1 MiB) hold.
    const child = start(process.execPath, [fixture('fifo-peer.js'), 'noread', requestPath, replyPath, '1000', '3000']);
    expect(await until(() => errors.some((e) => e.code === 'ENOBUFS'), 10000)).toBe(true);
    expect(errors.find((e) => e.code === 'ENOBUFS')).toMatchObject({
      name: 'IpcError', syscall: 'write', path: replyPath,
      message: expect.stringContaining('the client does not read its replies'),
    });
    process.kill(child.pid, 'SIGKILL');
    await child.done;
    const client = await connect(requestPath, { replyDir: dir });
    expect(await client.request('still here')).toBe('still here');
    client.close();
    await server.close();
    expect(fdsOpenedSince(before)).toEqual([]);
  });

  test('one reply larger than the server\'s 1 MiB backlog bound reaches a client that reads: only unread ' +
    'replies count', async () => {
    const requestPath = at('server');
    const errors: Error[] = [];
    const server = listen(requestPath, (n: number) => 'x'.repeat(n));
    server.on('clientError', (err: Error) => errors.push(err));
    const client = await connect(requestPath, { replyDir: dir });
    const replies = await Promise.all([3 << 20, 10, 2 << 20].map((n) => client.request(n, { timeoutMs: 20000 })));
    expect(replies.map((r) => (r as string).length)).toEqual([3 << 20, 10, 2 << 20]);
    expect(errors).toEqual([]);
  });

  test('a reply line longer than maxReplyBytes is dropped up to its newline: the request it answers ' +
    'rejects with EMSGSIZE, an endless line for no request is skipped, the next reply is delivered', async () => {
    const requestPath = at('server');
    mkfifo(requestPath);
    const reader = await Fifo.openReader(requestPath);
    cleanups.push(() => reader.close());
    const requests = createInterface({ input: reader.stream() })[Symbol.asyncIterator]();
    const nextRequest = async () =>
      JSON.parse((await requests.next()).value as string) as { id: number; reply: string; token?: string };
    for (const [maxReplyBytes, code] of [
      ['1', 'ERR_INVALID_ARG_TYPE'], [0, 'ERR_INVALID_ARG_VALUE'], [1.5, 'ERR_INVALID_ARG_VALUE'],
    ] as const) {
      await expect(FifoClient.connect(requestPath, { replyDir: dir, maxReplyBytes: maxReplyBytes as never }))
        .rejects.toMatchObject({ code, message: expect.stringContaining('options.maxReplyBytes') });
    }
    expect(readdirSync(dir)).toEqual(['server']);
    const client = await connect(requestPath, { replyDir: dir, maxReplyBytes: 1024 });
    const big = client.request('big');
    const first = await nextRequest();
    expect(first.token).toMatch(/^[0-9a-f]{32}$/);
    const writer = (await Fifo.openWriter(first.reply)).stream();
    cleanups.push(() => writer.destroy());
    writer.write(`${JSON.stringify({ id: first.id, token: first.token, data: 'y'.repeat(2000) })}\n`);
    await expect(big).rejects.toMatchObject({
      name: 'IpcError', code: 'EMSGSIZE', syscall: 'read', path: client.replyPath,
      message: expect.stringContaining('exceeds maxReplyBytes (1024)'),
    });
    const small = client.request('small');
    const second = await nextRequest();
    expect(second.token).not.toBe(first.token);
    // 4 MiB of one line that answers nothing, then the real reply.
    writer.write(Buffer.alloc(4 << 20, 'A'));
    writer.write(`\n${JSON.stringify({ id: second.id, token: second.token, data: 'fine' })}\n`);
    expect(await small).toBe('fine');
  });
});

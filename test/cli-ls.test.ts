/**
 * `posix-ipc ls`, run as a subprocess, against real objects another process
 * holds: a child (fixtures/cli-ls-holder.js) makes and holds a shm segment, a
 * named semaphore, a message queue, a memfd, a FIFO, a bound Unix socket, an
 * OFD lock and a Channel it produces into; ls must list each with the child's
 * pid as a holder, and filter by kind and by pid.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SharedMemory } from '../lib';
import { fixture, fixtureChild, run, uniqueName, type FixtureChild } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');

interface Row {
  kind: string;
  name: string;
  path: string | null;
  size: number | null;
  mode: string | null;
  uid: number | null;
  owner: string | null;
  holders: Array<{ pid: number; command: string }>;
  creatorAlive: boolean | null;
  lock?: { type: string; access: string; start: number; end: number | string; blocked: boolean };
}

interface Held {
  pid: number;
  names: { shm: string; sem: string; mq: string; channel: string; fifo: string; socket: string; lockFile: string };
}

/** `node scripts/cli.js ...args`. */
const posixIpc = (...args: string[]) => run(process.execPath, [cli, ...args]);

/** `ls --json ...args`, checked to exit 0, parsed. */
async function lsJson(...args: string[]): Promise<Row[]> {
  const r = await posixIpc('ls', '--json', ...args);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(r.stdout) as Row[];
}

let dir: string;
let child: FixtureChild;
let held: Held;
let rows: Row[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-cli-ls-'));
  child = fixtureChild('cli-ls-holder.js', ['hold', uniqueName().slice(1), dir]);
  held = (await child.next()) as unknown as Held;
  rows = await lsJson();
});

afterAll(async () => {
  child.proc.stdin!.end();
  expect(await child.next()).toEqual({ done: true });
  await child.exit;
  rmSync(dir, { recursive: true, force: true });
});

/** The rows of one kind that the child holds. */
const heldRows = (kind: string) => rows.filter((r) => r.kind === kind && r.holders.some((h) => h.pid === held.pid));

describe('posix-ipc ls --json lists what another process holds, with its pid', () => {
  test('a shm segment: its name, size, mode and owner', () => {
    const shm = heldRows('shm').find((r) => r.name === held.names.shm);
    expect(shm).toMatchObject({ path: `/dev/shm${held.names.shm}`, size: 8192, mode: '0600', uid: 0, owner: 'root', creatorAlive: null });
    expect(shm!.holders).toEqual([{ pid: held.pid, command: expect.stringContaining('cli-ls-holder.js') }]);
  });

  test('a named semaphore (/dev/shm/sem.NAME)', () => {
    expect(heldRows('semaphore').map((r) => r.name)).toContain(held.names.sem);
  });

  test('a message queue, with the bytes queued as its size', () => {
    expect(heldRows('mqueue').find((r) => r.name === held.names.mq)).toMatchObject({ size: 5, mode: '0600' });
  });

  test('a memfd', () => {
    expect(heldRows('memfd').map((r) => r.name)).toContain('memfd:posix-ipc');
  });

  test('a FIFO and a bound Unix socket, by path', () => {
    expect(heldRows('fifo').map((r) => r.name)).toEqual([held.names.fifo]);
    expect(heldRows('socket').map((r) => r.name)).toContain(held.names.socket);
  });

  test('an OFD lock (the kernel records no pid: the holder is found through fdinfo), named by its file', () => {
    const lock = heldRows('lock').find((r) => r.name === held.names.lockFile);
    expect(lock?.lock).toMatchObject({ type: 'OFDLCK', access: 'WRITE', start: 0, blocked: false });
  });

  test('a Channel (recognised by its header), whose producer is attached', () => {
    const channel = heldRows('channel').find((r) => r.name === held.names.channel);
    expect(channel).toMatchObject({ path: `/dev/shm${held.names.channel}`, creatorAlive: true });
    // Its producer's liveness lock, on byte 1 of the segment.
    expect(heldRows('lock').some((r) => r.name === `/dev/shm${held.names.channel}` && r.lock!.start === 1)).toBe(true);
  });
});

describe('posix-ipc ls: mappings and hostile names', () => {
  test('a segment mapped with its descriptor closed is still held (through /proc/PID/maps)', async () => {
    const name = uniqueName();
    writeFileSync(`/dev/shm${name}`, Buffer.alloc(4096));
    const mapper = spawn('python3', [fixture('cli-ls-mapped.py'), `/dev/shm${name}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(mapper.stdout!, 'data');
      const shm = (await lsJson('--kind', 'shm')).find((r) => r.name === name);
      expect(shm?.holders).toEqual([{ pid: mapper.pid, command: expect.stringContaining('cli-ls-mapped.py') }]);
    } finally {
      mapper.stdin!.end();
      await once(mapper, 'exit');
      rmSync(`/dev/shm${name}`);
    }
  });

  test('a name with a newline and an escape sequence is printed escaped: one row, no control characters', async () => {
    const name = `${uniqueName()}\n\u001b[2J`;
    writeFileSync(`/dev/shm${name}`, 'x');
    try {
      const r = await posixIpc('ls', '--kind', 'shm', '--output', 'name');
      expect(r.stdout.split('\n')).toContain(`${name.slice(0, name.indexOf('\n'))}\\x0a\\x1b[2J`);
      expect(r.stdout).not.toContain('\u001b');
      expect((await lsJson('--kind', 'shm')).some((row) => row.name === name)).toBe(true);
    } finally {
      rmSync(`/dev/shm${name}`);
    }
  });
});

describe('posix-ipc ls filters', () => {
  test('--kind (repeatable) keeps only those kinds', async () => {
    const some = await lsJson('--kind', 'fifo', '--kind', 'socket');
    expect(new Set(some.map((r) => r.kind))).toEqual(new Set(['fifo', 'socket']));
    expect(some.map((r) => r.name)).toEqual(expect.arrayContaining([held.names.fifo, held.names.socket]));
  });

  test("--pid keeps the objects that process holds: all of the child's, nothing else", async () => {
    const mine = await lsJson('--pid', String(held.pid));
    expect(mine.every((r) => r.holders.some((h) => h.pid === held.pid))).toBe(true);
    const names = mine.map((r) => r.name);
    const { shm, sem, mq, channel, fifo, socket } = held.names;
    expect(names).toEqual(expect.arrayContaining([shm, sem, mq, channel, fifo, socket]));
    expect(await lsJson('--pid', '999999999')).toEqual([]);
  });

  test('the table: a header, then a row per object; --output chooses the columns and their order', async () => {
    const table = await posixIpc('ls', '--pid', String(held.pid));
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^KIND +NAME +SIZE +MODE +OWNER +HOLDERS +ALIVE\n/);
    expect(table.stdout).toMatch(new RegExp(`^shm +${held.names.shm} +8\\.0K +0600 +root +${held.pid} node cli-ls-holder\\.js`, 'm'));
    const two = await posixIpc('ls', '--pid', String(held.pid), '--kind', 'fifo', '--output', 'name,kind');
    expect(two.stdout).toBe(`NAME${' '.repeat(held.names.fifo.length - 2)}KIND\n${held.names.fifo}  fifo\n`);
  });

  test.each([
    [['--kind', 'bogus'], "unknown kind 'bogus'"],
    [['--pid', 'x'], "--pid needs a process id, not 'x'"],
    [['--output', 'kind,bogus'], "unknown column 'bogus'"],
    [['--kind'], "option '--kind' needs a value"],
    [['extra'], "unexpected argument 'extra'"],
  ])('%j is a usage error: %s', async (args, message) => {
    const r = await posixIpc('ls', ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`posix-ipc: ${message}`);
    expect(r.stderr).toMatch(/^Usage: posix-ipc ls /m);
  });
});

describe('posix-ipc ls on a terminal', () => {
  test('a 200-character name is cut in the middle so that lines fit the terminal; --json keeps it whole', async () => {
    const name = `${uniqueName()}-${'a'.repeat(200)}-end`;
    SharedMemory.create(name, 4096).close();
    try {
      // A pseudo-terminal 100 columns wide (script(1)), as a user's terminal is.
      const r = await run('script', ['-qec', `stty cols 100; "${process.execPath}" "${cli}" ls --kind shm --output name,size`, '/dev/null']);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\r\n').filter(Boolean);
      const mine = lines.find((l) => l.startsWith(name.slice(0, 20)));
      expect(mine).toMatch(/^\S+…a*-end +4\.0K$/);
      for (const line of lines) expect({ line, fits: line.length <= 100 }).toEqual({ line, fits: true });
      const json = JSON.parse((await posixIpc('ls', '--kind', 'shm', '--json')).stdout) as Row[];
      expect(json.some((row) => row.name === name)).toBe(true);
    } finally {
      SharedMemory.unlink(name);
    }
  });
});

describe('posix-ipc ls as another user', () => {
  test('skips the processes it may not read, and says on stderr that queues are not visible without an mqueue mount', async () => {
    // A private mount namespace without any mqueue mount, then user nobody.
    const script = 'umount -a -t mqueue 2>/dev/null; exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" "$@"';
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, cli, 'ls', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^posix-ipc: message queues are not listed: no mqueue filesystem is mounted/);
    const seen = JSON.parse(r.stdout) as Row[];
    // /dev/shm is listed (names and sizes), but root's descriptors are not readable: no holders.
    expect(seen.find((r) => r.name === held.names.shm)).toMatchObject({ kind: 'shm', holders: [] });
  });
});

/**
 * `posix-ipc rm`, run as a subprocess: it refuses what another live process
 * holds (saying who), removes it with --force, removes an unheld object, and
 * leaves alone what is not an IPC object. `rm --orphans` runs in a namespace
 * of its own (fixtures/cli-rm-orphans.js: a fresh /dev/shm and IPC
 * namespace), so that it can never touch what other tests make meanwhile.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MessageQueue, Semaphore, SharedMemory } from '../lib';
import { fixture, fixtureChild, leftoverObjects, run, uniqueName, type FixtureChild } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');

/** `node scripts/cli.js ...args`. */
const posixIpc = (...args: string[]) => run(process.execPath, [cli, ...args]);

interface Held {
  pid: number;
  names: { shm: string; sem: string; mq: string; channel: string; fifo: string; socket: string; lockFile: string };
}

/** Whether a message queue exists. */
function queueExists(name: string): boolean {
  try {
    MessageQueue.open(name).close();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw err;
  }
}

describe('posix-ipc rm of what another process holds', () => {
  let dir: string;
  let child: FixtureChild;
  let held: Held;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pipc-cli-rm-'));
    child = fixtureChild('cli-ls-holder.js', ['hold', uniqueName().slice(1), dir]);
    held = (await child.next()) as unknown as Held;
  });

  afterAll(async () => {
    child.proc.stdin!.end();
    expect(await child.next()).toEqual({ done: true });
    await child.exit;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Each kind, the name rm is given for it, and whether it still exists. */
  const objects = (h: Held): Array<[string, string, () => boolean]> => [
    ['shm', h.names.shm, () => existsSync(`/dev/shm${h.names.shm}`)],
    ['semaphore', `sem.${h.names.sem.slice(1)}`, () => existsSync(`/dev/shm/sem.${h.names.sem.slice(1)}`)],
    ['mqueue', h.names.mq, () => queueExists(h.names.mq)],
    ['channel', `/dev/shm${h.names.channel}`, () => existsSync(`/dev/shm${h.names.channel}`)],
    ['fifo', h.names.fifo, () => existsSync(h.names.fifo)],
    ['socket', h.names.socket, () => existsSync(h.names.socket)],
  ];

  test('refuses each (a shm segment, a semaphore, a queue, a Channel, a FIFO, a socket), naming the holder; exit 1', async () => {
    const refused = await posixIpc('rm', ...objects(held).map(([, name]) => name));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    for (const [i, [kind]] of objects(held).entries()) {
      expect(lines[i]).toMatch(new RegExp(`^posix-ipc: not removing ${kind} .*: held by ${held.pid} \\(node cli-ls-holder\\.js.*--force`));
    }
    for (const [kind, , exists] of objects(held)) expect([kind, exists()]).toEqual([kind, true]);
  });

  test('--force removes each all the same, saying so', async () => {
    const forced = await posixIpc('rm', '--force', ...objects(held).map(([, name]) => name));
    expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: '' });
    expect(forced.stdout.trimEnd().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')))
      .toEqual(objects(held).map(([kind]) => `removed ${kind}`));
    for (const [kind, , exists] of objects(held)) expect([kind, exists()]).toEqual([kind, false]);
  });
});

describe('posix-ipc rm of what nobody holds', () => {
  test('removes a segment, a semaphore and a queue by name, each said on stdout; --dry-run removes nothing', async () => {
    const [shm, sem, mq] = [uniqueName(), uniqueName(), uniqueName()];
    SharedMemory.create(shm, 4096).close();
    Semaphore.open(sem, { create: true }).close();
    MessageQueue.open(mq, { create: true, maxMessages: 1, messageSize: 8 }).close();
    const dry = await posixIpc('rm', '--dry-run', shm, sem, mq);
    expect(dry).toMatchObject({ code: 0, stderr: '', stdout: `would remove shm ${shm}\nwould remove semaphore ${sem}\nwould remove mqueue ${mq}\n` });
    expect(existsSync(`/dev/shm${shm}`) && existsSync(`/dev/shm/sem.${sem.slice(1)}`) && queueExists(mq)).toBe(true);
    const r = await posixIpc('rm', shm, sem, mq);
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: `removed shm ${shm}\nremoved semaphore ${sem}\nremoved mqueue ${mq}\n` });
    expect(leftoverObjects()).toEqual([]);
    expect(queueExists(mq)).toBe(false);
  });

  test('an unknown name: exit 1, and the others are still removed', async () => {
    const shm = uniqueName();
    SharedMemory.create(shm, 4096).close();
    const missing = uniqueName();
    const r = await posixIpc('rm', missing, shm);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`posix-ipc: no such object: ${missing}\n`);
    expect(r.stdout).toBe(`removed shm ${shm}\n`);
    expect(leftoverObjects()).toEqual([]);
  });

  test('a regular file is not an IPC object: left alone, exit 1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-cli-rm-'));
    try {
      const file = path.join(dir, 'data.txt');
      writeFileSync(file, 'keep me');
      const r = await posixIpc('rm', '--force', file);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('is neither a FIFO nor a socket: rm removes only IPC objects');
      expect(existsSync(file)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    [[], "'rm' needs a name, or --orphans"],
    [['--orphans', '/x'], '--orphans takes no names'],
    [['--orphans', '--force'], '--orphans removes only what nobody holds'],
  ])('%j is a usage error', async (args, message) => {
    const r = await posixIpc('rm', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`posix-ipc: ${message}`);
    expect(r.stderr).toMatch(/^Usage: posix-ipc rm /m);
  });
});

describe('posix-ipc rm --orphans (in a namespace of its own)', () => {
  interface Scene {
    dryRun: { code: number; stdout: string; stderr: string };
    afterDryRun: string[];
    queueAfterDryRun: boolean;
    removed: { code: number; stdout: string; stderr: string };
    after: string[];
    queueAfter: boolean;
  }
  let scene: Scene;

  beforeAll(async () => {
    // A user namespace (root inside, without root outside), a private mount namespace
    // with a fresh tmpfs on /dev/shm, and an IPC namespace of its own for the queues.
    const setup = 'mount -t tmpfs none /dev/shm && exec "$0" "$@"';
    const r = await run('unshare', ['-Urm', '--ipc', 'sh', '-c', setup, process.execPath, fixture('cli-rm-orphans.js'), 'scene']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    scene = JSON.parse(r.stdout) as Scene;
  });

  const orphans = ['channel /pipc-orphan-dead', 'shm /pipc-orphan-plain', 'semaphore /pipc-orphan-sem', 'mqueue /pipc-orphan-mq'];

  test('--dry-run prints the orphans and removes nothing', () => {
    expect(scene.dryRun).toEqual({ code: 0, stderr: '', stdout: orphans.map((o) => `would remove ${o}\n`).join('') });
    expect(scene.afterDryRun).toEqual([
      'not-ours', 'pipc-orphan-dead', 'pipc-orphan-held', 'pipc-orphan-live', 'pipc-orphan-plain', 'sem.pipc-orphan-sem',
    ]);
    expect(scene.queueAfterDryRun).toBe(true);
  });

  test("removes the Channel of a SIGKILLed producer and this package's unheld names; not a live producer's Channel, "+
    'not a held segment, not a name that is not ours', () => {
    expect(scene.removed).toEqual({ code: 0, stderr: '', stdout: orphans.map((o) => `removed ${o}\n`).join('') });
    expect(scene.after).toEqual(['not-ours', 'pipc-orphan-held', 'pipc-orphan-live']);
    expect(scene.queueAfter).toBe(false);
  });
});

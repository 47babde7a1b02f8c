/**
 * Shared test helpers: unique object names, descriptor and /dev/shm snapshots,
 * umask and descriptor-flag checks, and running real child processes.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Pool, spawn as spawnWithFds, type PoolOptions } from '../lib';
import { chmodSync, cpSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** The descriptor helpers of test/fixtures/common.js (plain JS for the fixtures), typed for the tests. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fixtureCommon = require('./fixtures/common') as {
  fdFlags(fd: number, pid?: number): number;
  O_NONBLOCK: number;
  O_CLOEXEC: number;
  openFds: () => string[];
};

/** The open flags of descriptor `fd` of process `pid` (this one by default), from /proc/<pid>/fdinfo/<fd>. */
export const fdFlags = fixtureCommon.fdFlags;
/** O_NONBLOCK and O_CLOEXEC, the bits of {@link fdFlags} the tests check. */
export const { O_NONBLOCK, O_CLOEXEC } = fixtureCommon;

/**
 * Sets the process umask to `mask` until the returned Disposable is disposed, which puts back the
 * umask from before: `using _umask = withUmask(0o077);`. With `body`, the umask is `mask` just for
 * that synchronous call, and its result is returned.
 */
export function withUmask(mask: number): Disposable;
export function withUmask<T>(mask: number, body: () => T): T;
export function withUmask<T>(mask: number, body?: () => T): T | Disposable {
  const old = process.umask(mask);
  const restore = { [Symbol.dispose]: () => void process.umask(old) };
  if (body === undefined) return restore;
  using _restore = restore;
  return body();
}

let counter = 0;

/** A name no other jest worker uses: `/pipc-<pid>-<n>`. */
export function uniqueName(): string {
  return `/pipc-${process.pid}-${counter++}`;
}

/** The descriptors this process has open (but the wait-record memfd), sorted: see fixtures/common.js. */
export const openFds: () => string[] = fixtureCommon.openFds;

/**
 * The descriptors open now that were not open at `before` (an {@link openFds}
 * listing): a leak check. Descriptors that closed meanwhile are not leaks:
 * a garbage collection during the test may reclaim earlier tests' handles.
 */
export function fdsOpenedSince(before: string[]): string[] {
  return openFds().filter((fd) => !before.includes(fd));
}

/**
 * Unique names for one test file's objects: the returned `name()` hands out a
 * fresh name (or registers the `exact` one given), and after each test every
 * such name is removed with each of `unlinkers` (a name a test already
 * removed, or never made, is skipped).
 */
export function namesUnlinkedAfterEach(...unlinkers: Array<(name: string) => void>): (exact?: string) => string {
  const made: string[] = [];
  afterEach(() => {
    for (const n of made.splice(0)) {
      for (const unlink of unlinkers) {
        try {
          unlink(n);
        } catch {
          // never made, or already gone
        }
      }
    }
  });
  return (exact) => {
    const n = exact ?? uniqueName();
    made.push(n);
    return n;
  };
}

/** Entries in /dev/shm that this jest worker made and did not remove (named semaphores are `sem.<name>`). */
export function leftoverObjects(): string[] {
  return readdirSync('/dev/shm').filter((n) => n.startsWith(`pipc-${process.pid}-`) || n.startsWith(`sem.pipc-${process.pid}-`));
}

/** The addon file the suite runs against (the sanitizer build under test:asan). */
export function addonPath(): string {
  return process.env.POSIX_IPC_ADDON ?? path.join(__dirname, '..', 'build', 'Release', 'posix_ipc.node');
}

/** Path of a child-process script in test/fixtures. */
export function fixture(name: string): string {
  return path.join(__dirname, 'fixtures', name);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a real process to completion and collects its output. */
export function run(
  command: string, args: string[], options: SpawnOptions & { input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdin = options.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A child may exit before reading its input: that is its business, not an error here.
    child.stdin?.on('error', () => undefined).end(options.input ?? '');
  });
}

/** Runs a Node fixture script with the current Node binary. */
export function runNode(
  script: string, args: string[] = [], options: SpawnOptions & { input?: string } = {},
): Promise<RunResult> {
  return run(process.execPath, [fixture(script), ...args], options);
}

/**
 * Runs `node <fixture> ...args` in a user and mount namespace of its own whose
 * /dev/shm is a tmpfs of `size` (mount's size=, e.g. '1m'), with a file
 * `filler` taking all of it first when `full`: how a process meets a /dev/shm
 * without room. Resolves with the fixture's JSON line (it must write nothing
 * to stderr).
 */
export async function runWithSmallDevShm(
  script: string, args: string[], size: string, full = false,
): Promise<Record<string, unknown>> {
  const fill = full ? ' && (cat /dev/zero > /dev/shm/filler 2>/dev/null; true)' : '';
  const setup = `mount -t tmpfs -o size=${size} none /dev/shm${fill} && exec "$0" "$@"`;
  const r = await run('unshare', ['-Urm', 'sh', '-c', setup, process.execPath, fixture(script), ...args], { env: process.env });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * Runs `node <fixture> ...args` with RLIMIT_NOFILE at 128, for a command
 * built on common.js withoutFds: its JSON line (it must exit 0 with nothing on
 * stderr), having checked that it did run out of descriptors.
 */
export async function runWithFewFds(script: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await run('prlimit', ['--nofile=128:128', process.execPath, fixture(script), ...args]);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(out.filled).toBeGreaterThan(10);
  return out;
}

/**
 * Runs `node <fixture> ...args` for a command built on common.js inSignalStorm: its JSON line (it
 * must exit 0 with nothing on stderr), having checked that the storm came (more than 10 signals).
 */
export async function runInSignalStorm(script: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await runNode(script, args);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(out.signals).toBeGreaterThan(10);
  return out;
}

/**
 * Checks a blocking call a storm fixture timed (common.js timed: { error, took }): it failed with
 * ETIMEDOUT (from `syscall`, when given), no earlier than `atLeastMs`, and well before 10 s: EINTR
 * retries must not restart the clock.
 */
export function expectTimedOut(call: unknown, atLeastMs: number, syscall?: string): void {
  const { error, took } = call as { error: unknown; took: unknown };
  expect(error).toMatchObject(syscall === undefined ? { code: 'ETIMEDOUT' } : { code: 'ETIMEDOUT', syscall });
  expect(took).toBeGreaterThanOrEqual(atLeastMs);
  expect(took).toBeLessThan(10000);
}

/**
 * Runs `node <script> peerScribble <name> <where> 4000 7` (a command built on common.js
 * underScribbler) for an object `named` and one `inside` shared memory, each under a fresh
 * `name()`: every run must exit 0 with nothing on stderr after more than 1,000 bad writes, its
 * outcomes including each of `seen` and none outside `allowed`.
 */
export async function expectPeerScribbleOutcomes(
  script: string, name: () => string, seen: string[], allowed: string[],
): Promise<void> {
  for (const where of ['named', 'inside']) {
    const r = await runNode(script, ['peerScribble', name(), where, '4000', '7'], { timeout: 60000 });
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    const { outcomes, writes } = JSON.parse(r.stdout) as { outcomes: Record<string, number>; writes: number };
    expect(writes).toBeGreaterThan(1000);
    expect(Object.keys(outcomes)).toEqual(expect.arrayContaining(seen));
    for (const outcome of Object.keys(outcomes)) expect(allowed).toContain(outcome);
  }
}

/**
 * Runs fixture scripts as another uid (nobody), from a copy of dist/, the addon
 * and the fixtures that uid can read. CI runs as root, which bypasses
 * permission checks and some kernel limits: tests of those must drop to
 * another uid or they prove nothing. `prefix` runs before setpriv (e.g.
 * ['unshare', '-i', 'sh', '-c', '...; exec "$0" "$@"']).
 */
export async function withOtherUser<T>(
  body: (
    runAs: (script: string, args: string[], prefix?: string[], options?: SpawnOptions) => Promise<RunResult>,
  ) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-uid-'));
  try {
    chmodSync(dir, 0o755);
    cpSync(path.join(__dirname, '..', 'dist'), path.join(dir, 'dist'), { recursive: true });
    cpSync(path.join(__dirname, 'fixtures'), path.join(dir, 'fixtures'), { recursive: true });
    cpSync(addonPath(), path.join(dir, 'posix_ipc.node'));
    const env = { ...process.env, POSIX_IPC_ADDON: path.join(dir, 'posix_ipc.node'), POSIX_IPC_DIST: path.join(dir, 'dist') };
    const setpriv = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath];
    return await body((script, args, prefix = [], options = {}) => {
      const argv = [...prefix, ...setpriv, path.join(dir, 'fixtures', script), ...args];
      return run(argv[0], argv.slice(1), { env, cwd: dir, ...options });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Measures how long Node's fs takes meanwhile: the median of 40 rounds of four
 * parallel 256 KiB readFile calls (they run on libuv's four pool threads, so a
 * parked pool thread shows here first), in nanoseconds.
 */
export async function fsReadLatency(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-fs-'));
  const file = path.join(dir, 'data');
  try {
    writeFileSync(file, Buffer.alloc(256 * 1024, 7));
    const times: number[] = [];
    for (let i = 0; i < 40; i++) {
      const start = process.hrtime.bigint();
      await Promise.all([readFile(file), readFile(file), readFile(file), readFile(file)]);
      times.push(Number(process.hrtime.bigint() - start));
    }
    return times.sort((a, b) => a - b)[times.length >> 1];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Checks `predicate` every 5 ms until it holds or `timeoutMs` passed: whether
 * it held. No timing assertion of its own; without a limit, jest's timeout
 * bounds it.
 */
export async function until(predicate: () => boolean, timeoutMs = Infinity): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (predicate()) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Resolves once waits just started are all up on their threads and asleep in
 * the kernel (starting a few hundred threads takes a while under ASan): what
 * fs latency is then measured against is the waits, not their start.
 */
export function threadWaitsStarted(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 200));
}

/**
 * Resolves once the threads of waits that were given up (cancelled, or of a
 * Worker that ended) have finished their slice (20 ms) and closed what they
 * held, such as the duplicate descriptor of a file-lock wait. For the end of a
 * test file: the next file in the same jest worker compares /proc/self/fd.
 */
export function threadWaitsSettled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * The receive pool's contract (lib/internal/buffer-pool.ts), through `send`
 * and the copying receive `receive(i)` (the caller alternates its kinds by
 * `i`): 3,000 64-byte messages share 64 KiB pools, each intact and its own
 * (writing one changes no other); a 5,000-byte message gets a Buffer of its
 * own. Returns the small messages kept.
 */
export async function expectPooledReceives(
  send: (data: Buffer) => unknown, receive: (i: number) => Buffer | Promise<Buffer>,
): Promise<Buffer[]> {
  const kept: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    send(Buffer.alloc(64, i & 0xff));
    kept.push(await receive(i));
  }
  kept.forEach((data, i) => expect(data.equals(Buffer.alloc(64, i & 0xff))).toBe(true));
  expect(Buffer.isBuffer(kept[0]) && kept[0] instanceof Buffer && kept[0].constructor === Buffer).toBe(true);
  expect(kept[0].buffer.byteLength).toBe(64 * 1024);
  expect(kept[1].buffer).toBe(kept[0].buffer);
  expect(new Set(kept.map((d) => d.buffer)).size).toBeGreaterThanOrEqual(3);
  kept[1].fill(0xee);
  expect(kept[0].equals(Buffer.alloc(64, 0)) && kept[2].equals(Buffer.alloc(64, 2))).toBe(true);
  send(Buffer.alloc(5000, 9));
  const big = await receive(0);
  expect(big.equals(Buffer.alloc(5000, 9))).toBe(true);
  expect(big.buffer).not.toBe(kept[0].buffer);
  return kept;
}

/** A fixture child whose JSON lines are read as they come, with its exit. */
export interface FixtureChild {
  proc: ChildProcess;
  next: () => Promise<Record<string, unknown>>;
  exit: Promise<[number | null, string | null]>;
}

/**
 * Starts `node test/fixtures/<script> ...args` with the library's spawn, so that `fds` (handles
 * placed at exact descriptor numbers) reach it; stdin is a pipe, stderr is inherited.
 */
export function fixtureChild(script: string, args: string[], fds: Record<number, { fd: number }> = {}): FixtureChild {
  const proc = spawnWithFds(process.execPath, [fixture(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'], fds });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const exit = once(proc, 'exit') as Promise<[number | null, string | null]>;
  return { proc, exit, next: async () => JSON.parse((await lines.next()).value as string) };
}

/** A limit only a broken Unix-socket test reaches: its waits for a peer or a child. */
export const LONG = 20000;

/** A received message's bytes as text. */
export const text = (m: { data: Buffer } | null): string => m!.data.toString();

/** Resolves after the event loop has gone round a few times. */
export const turns = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 20));

/** What {@link socketTestFiles} gives a Unix-socket test file. */
export interface SocketTestFiles {
  /** The file's private directory (made before its tests, removed after them). */
  readonly dir: string;
  /** A fresh path in that directory: `prefix` and a number. */
  path(prefix: string): string;
  /** A fresh socket path in that directory. */
  sockPath(): string;
  /** A fresh abstract name no other jest worker uses. */
  abstractName(): string;
  /** A regular file opened for reading, to pass as a descriptor; the caller closes it. */
  someFd(): number;
}

/**
 * The setup the Unix-socket test files share, called at a file's top level:
 * a private directory for socket files, and the check that every test leaves
 * this process with the descriptors it found.
 */
export function socketTestFiles(): SocketTestFiles {
  let dir = '';
  let counter = 0;
  let fdsBefore: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pipc-sock-'));
    // Child processes make libuv open its signal pipe once; do it before the
    // descriptor snapshots.
    await run(process.execPath, ['-e', '']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    fdsBefore = openFds();
  });
  afterEach(() => {
    expect(fdsOpenedSince(fdsBefore)).toEqual([]);
  });
  const files: SocketTestFiles = {
    get dir() {
      return dir;
    },
    path: (prefix) => path.join(dir, `${prefix}${counter++}`),
    sockPath: () => files.path('s'),
    abstractName: () => uniqueName().slice(1),
    someFd: () => {
      const file = files.path('f');
      writeFileSync(file, 'x');
      return openSync(file, 'r');
    },
  };
  return files;
}

/**
 * The environment of a child that runs the plain build: without the sanitizer
 * run's LD_PRELOAD and addon (npm run test:asan); in a normal run this is
 * process.env. A child with a memory limit needs it, as ASan cannot run under
 * RLIMIT_DATA (its shadow memory and allocator map terabytes: "Failed to
 * mmap"); children that never reach the addon code under test (a plain C
 * lister, the 1,000 start/join cycles) use it for speed: the preloaded runtime
 * triples a start-up and checks nothing there.
 */
export function envWithoutSanitizer(): Record<string, string | undefined> {
  const { LD_PRELOAD: _preload, POSIX_IPC_ADDON: _addon, ...env } = process.env;
  return env;
}

/**
 * Registers hooks for a pool test file and returns its `pool(options)`: each
 * pool made through it (`fixed` set over its options) is destroyed after
 * the test, whatever happens in it, and the test must then have left no
 * descriptor open and no object behind.
 */
export function poolsDestroyedAfterEach(fixed: Partial<PoolOptions> = {}): (options: PoolOptions) => Pool {
  let fdsBefore: string[];
  let pools: Pool[] = [];
  beforeEach(() => {
    fdsBefore = openFds();
  });
  afterEach(async () => {
    await Promise.all(pools.map((p) => p.destroy()));
    pools = [];
    expect(fdsOpenedSince(fdsBefore)).toEqual([]);
    expect(leftoverObjects()).toEqual([]);
  });
  return (options) => {
    const p = new Pool({ ...options, ...fixed });
    pools.push(p);
    return p;
  };
}

/**
 * 2,000 tasks of the pool fixture's `dieAt` on a pool of 2 that `make` builds with `env` (plus `how`): task 700
 * ends its worker. Only that task fails, with `death`; every other resolves with its input and ran exactly once
 * (the fixture logs each run), though the dead worker held others of its batch.
 */
export async function onlyTheDyingTaskFails(
  make: (env: NodeJS.ProcessEnv) => Pool, how: Record<string, string>, death: object,
): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-batch-'));
  try {
    const log = path.join(dir, 'log');
    const [k, count] = [700, 2000];
    const p = make({ ...process.env, PIPC_POOL_LOG: log, PIPC_POOL_DIE_AT: String(k), ...how });
    const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => p.run(i, { name: 'dieAt' })));
    expect(settled[k]).toMatchObject({ status: 'rejected', reason: { code: 'ERR_IPC_WORKER_DIED', ...death } });
    const values = settled.map((s, i) => (i === k ? i : (s as PromiseFulfilledResult<unknown>).value));
    expect(values).toEqual(Array.from({ length: count }, (_, i) => i));
    const runs = readFileSync(log, 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
    expect(runs).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(p.stats).toMatchObject({ alive: 2, completed: count - 1, failed: 1, running: 0, queued: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

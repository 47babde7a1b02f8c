/**
 * `posix-ipc locks` (scripts/cli/locks.js), run as a subprocess against real
 * Mutexes, Semaphores and OFD locks that child processes
 * (test/fixtures/cli-locks-child.js) hold and wait on: the wait-for graph, its
 * cycles, and that no record outlives its wait or its process.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Mutex, Semaphore, SharedMemory } from '../lib';
import { fixtureChild, leftoverObjects, namesUnlinkedAfterEach, run, type FixtureChild, uniqueName } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');

interface Node { id: string; type: 'process' | 'object'; pid?: number; command?: string; kind?: string; name?: string }
interface Edge { from: string; to: string; type: 'holds' | 'waits'; tid?: number }
interface Graph { nodes: Node[]; edges: Edge[]; cycles: string[][] }

const shmName = namesUnlinkedAfterEach((n) => SharedMemory.unlink(n));
const semName = namesUnlinkedAfterEach((n) => Semaphore.unlink(n));
const mutexName = namesUnlinkedAfterEach((n) => Mutex.unlink(n));
const children: FixtureChild[] = [];

/** A child of the fixture, killed after the test if it still runs. */
function child(...args: string[]): FixtureChild {
  const c = fixtureChild('cli-locks-child.js', args);
  children.push(c);
  return c;
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await c.exit;
  }
  expect(leftoverObjects()).toEqual([]);
});

/** `posix-ipc locks --json`, checked to exit 0 without complaint. */
async function locks(): Promise<Graph> {
  const result = await run(process.execPath, [cli, 'locks', '--json']);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(result.stdout) as Graph;
}

/** The graph's edges from or to process `pid`, as "pid:N holds|waits KIND". */
function edgesOf(g: Graph, pid: number): string[] {
  const kind = (id: string) => g.nodes.find((n) => n.id === id)!.kind;
  return g.edges.filter((e) => e.from === `pid:${pid}`).map((e) => `${e.type} ${kind(e.to)}`).sort();
}

/** Waits until `locks` shows what `ready(graph)` asks (a record is written just before the wait starts). */
async function graphWhen(ready: (g: Graph) => boolean): Promise<Graph> {
  let g = await locks();
  for (let i = 0; i < 50 && !ready(g); i++) g = await locks();
  return g;
}

/** A child started with `args` (it reports its pid, then waits), once `locks` shows an edge of it: that graph. */
async function waiting(...args: string[]): Promise<{ waiter: FixtureChild; pid: number; g: Graph }> {
  const waiter = child(...args);
  const pid = (await waiter.next()).pid as number;
  return { waiter, pid, g: await graphWhen((x) => edgesOf(x, pid).length > 0) };
}

/** `posix-ipc locks` as text for a terminal: only newlines, no control character of an argv or a name. */
async function lockText(): Promise<string> {
  const text = await run(process.execPath, [cli, 'locks']);
  expect([...text.stdout].filter((c) => c !== '\n' && (c < ' ' || c === '\x7f'))).toEqual([]);
  return text.stdout;
}

test('two processes each holding one Mutex and waiting for the other: a cycle with both pids', async () => {
  const name = shmName();
  using shm = SharedMemory.create(name, 4096);
  Mutex.inside(shm, 0, { init: true }).close();
  Mutex.inside(shm, 64, { init: true }).close();
  const [one, two] = [child('mutex', name, '0', '64'), child('mutex', name, '64', '0')];
  const [a, b] = [(await one.next()).pid as number, (await two.next()).pid as number];
  one.proc.stdin!.write('go\n');
  two.proc.stdin!.write('go\n');
  await Promise.all([one.next(), two.next()]);
  const g = await graphWhen((x) => x.cycles.some((c) => c.includes(`pid:${a}`)));
  const cycle = g.cycles.find((c) => c.includes(`pid:${a}`))!;
  expect(cycle).toHaveLength(4);
  expect(cycle.filter((id) => id.startsWith('pid:')).sort()).toEqual([`pid:${a}`, `pid:${b}`].sort());
  expect(edgesOf(g, a)).toEqual(['holds mutex', 'waits mutex']);
  expect(edgesOf(g, b)).toEqual(['holds mutex', 'waits mutex']);
  expect(g.nodes.find((n) => n.id === `pid:${a}`)!.command).toMatch(/^node cli-locks-child\.js mutex /);
  const objects = g.nodes.filter((n) => cycle.includes(n.id) && n.type === 'object');
  expect(objects.map((o) => o.name)).toEqual([name, name]);

  const text = await run(process.execPath, [cli, 'locks']);
  expect(text).toMatchObject({ code: 0, stderr: '' });
  expect(text.stdout).toMatch(new RegExp(`^pid ${a} \\(node cli-locks-child\\.js [^)]*\\) holds mutex ${name}(@64)?, waits for mutex ${name}(@64)? \\(for [^)]+\\) held by pid ${b} `, 'm'));
  const half = (x: number, y: number) => `pid ${x} waits for mutex ${name}(@64)? held by pid ${y}`;
  expect(text.stdout).toMatch(new RegExp(`^DEADLOCK: (${half(a, b)}; ${half(b, a)}|${half(b, a)}; ${half(a, b)})$`, 'm'));

  // Once they end (SIGKILL: no chance to clean up), nothing of them remains.
  one.proc.kill('SIGKILL');
  two.proc.kill('SIGKILL');
  await Promise.all([one.exit, two.exit]);
  const after = await locks();
  expect(after.nodes.filter((n) => n.pid === a || n.pid === b)).toEqual([]);
  expect(after.cycles.filter((c) => c.includes(`pid:${a}`) || c.includes(`pid:${b}`))).toEqual([]);
});

test('a process blocked in lockSync() on a named Mutex waits for the one holding it', async () => {
  const name = mutexName();
  using mutex = Mutex.open(name, { create: true });
  mutex.lockSync();
  const { waiter, pid, g } = await waiting('lock-sync', name);
  expect(edgesOf(g, pid)).toEqual(['waits mutex']);
  const edge = g.edges.find((e) => e.from === `pid:${pid}`)!;
  expect(g.nodes.find((n) => n.id === edge.to)).toMatchObject({ kind: 'mutex', name });
  expect(g.edges).toContainEqual(expect.objectContaining({ from: `pid:${process.pid}`, to: edge.to, type: 'holds' }));
  mutex.unlock();
  expect(await waiter.exit).toEqual([0, null]);
});

test('a Semaphore waiter shows while it waits, and its record goes when the wait ends', async () => {
  const name = semName();
  using sem = Semaphore.open(name, { create: true, initial: 0 });
  const { waiter, pid, g } = await waiting('semaphore', name);
  expect(edgesOf(g, pid)).toEqual(['waits semaphore']);
  const edge = g.edges.find((e) => e.from === `pid:${pid}`)!;
  expect(g.nodes.find((n) => n.id === edge.to)).toMatchObject({ kind: 'semaphore', name });
  expect(edge.tid).toBe(pid);
  sem.release();
  expect(await waiter.next()).toEqual({ pid, acquired: name });
  // Alive, but no longer waiting: no record of it.
  expect(edgesOf(await locks(), pid)).toEqual([]);
  waiter.proc.stdin!.end();
  expect(await waiter.exit).toEqual([0, null]);
});

test("a waiter's command line is printed with its control characters escaped", async () => {
  const name = semName();
  using sem = Semaphore.open(name, { create: true, initial: 0 });
  const { waiter, pid } = await waiting('semaphore', name, 'title\x1b]0;pwned\x07\x1b[2J');
  const text = await lockText();
  expect(text).toContain(`pid ${pid}`);
  expect(text).toContain('title\\x1b]0;pw');
  sem.release();
  await waiter.next();
});

test('a wait on an object whose name holds control characters is shown, the name escaped', async () => {
  const name = semName(`${uniqueName()}\n\x1b[2J`);
  using sem = Semaphore.open(name, { create: true, initial: 0 });
  const { waiter } = await waiting('semaphore', name);
  expect(await lockText()).toContain('\\x0a\\x1b[2J');
  sem.release();
  await waiter.next();
});

test('hostile records tying processes through many objects: cycles are found once per pair, at most 100, at once', () => {
  // 4 processes, each waiting on 90 objects held by the next ones: thousands of combinations of objects.
  const edges: Array<{ type: string; from: string; to: string }> = [];
  for (let p = 1; p <= 4; p++) {
    for (let o = 0; o < 90; o++) {
      edges.push({ type: 'holds', from: `pid:${p}`, to: `obj:${p}-${o}` });
      for (let q = 1; q <= 4; q++) if (q !== p) edges.push({ type: 'waits', from: `pid:${q}`, to: `obj:${p}-${o}` });
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { cycles, MAX_CYCLES } = require('../scripts/cli/locks.js') as {
    cycles: (e: typeof edges) => string[][];
    MAX_CYCLES: number;
  };
  const found = cycles(edges);
  // Between 4 processes there are 20 simple cycles once each pair is one edge.
  expect(found).toHaveLength(20);
  expect(found.length).toBeLessThanOrEqual(MAX_CYCLES);
  for (const cycle of found) expect(new Set(cycle.filter((id) => id.startsWith('pid:'))).size).toBe(cycle.length / 2);
});

test('a waiter that is SIGKILLed leaves no record', async () => {
  const name = semName();
  using sem = Semaphore.open(name, { create: true, initial: 0 });
  const { waiter, pid, g: waits } = await waiting('semaphore', name);
  expect(edgesOf(waits, pid)).toEqual(['waits semaphore']);
  waiter.proc.kill('SIGKILL');
  expect(await waiter.exit).toEqual([null, 'SIGKILL']);
  const g = await locks();
  expect(g.nodes.filter((n) => n.pid === pid)).toEqual([]);
  expect(sem.value).toBe(0);
});

test('an OFD lock held by one process and waited for by another is an edge between them', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-locks-'));
  try {
    const file = path.join(dir, 'jobs.lock');
    writeFileSync(file, '');
    const holder = child('hold-file', file);
    const h = (await holder.next()).pid as number;
    const waiter = child('wait-file', file);
    const w = (await waiter.next()).pid as number;
    const g = await graphWhen((x) => edgesOf(x, w).length > 0 && edgesOf(x, h).length > 0);
    expect(edgesOf(g, w)).toEqual(['waits file-lock']);
    expect(edgesOf(g, h)).toEqual(['holds file-lock']);
    const wait = g.edges.find((e) => e.from === `pid:${w}`)!;
    expect(g.edges).toContainEqual(expect.objectContaining({ from: `pid:${h}`, to: wait.to, type: 'holds' }));
    expect(g.nodes.find((n) => n.id === wait.to)).toMatchObject({ kind: 'file-lock', name: file, lockKind: 'ofd' });
    const text = await run(process.execPath, [cli, 'locks']);
    expect(text.stdout).toMatch(new RegExp(`^pid ${w} .* waits for ofd lock ${file} \\(for [^)]+\\) held by pid ${h} `, 'm'));
    // The holder goes: the waiter gets the lock, and its record goes.
    holder.proc.kill('SIGKILL');
    await holder.exit;
    const after = await graphWhen((x) => edgesOf(x, w).length === 0);
    expect(edgesOf(after, w)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a holder's and a waiter's command lines cannot forge a line", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-locks-'));
  try {
    // Other users chose both argvs: each holds a newline, a whole line and an escape.
    const forged = '\nDEADLOCK: FORGED\x1b[2J';
    const escaped = '\\x0aDEADLOCK: FORGED\\x1b[2J';
    const file = path.join(dir, 'jobs.lock');
    writeFileSync(file, '');
    const holder = child('titled', forged, 'hold-file', file);
    const h = (await holder.next()).pid as number;
    const waiter = child('titled', forged, 'wait-file', file);
    const w = (await waiter.next()).pid as number;
    await graphWhen((x) => edgesOf(x, w).length > 0 && edgesOf(x, h).length > 0);
    const text = await run(process.execPath, [cli, 'locks']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    // One line per process (other tests' processes may show too), none of them forged.
    expect(lines.pop()).toBe('');
    expect(lines.filter((l) => !/^pid \d+ /.test(l))).toEqual([]);
    const ofWaiter = lines.find((l) => l.startsWith(`pid ${w} `))!;
    // The waiter's command, then the holder's.
    expect(ofWaiter).toMatch(/^pid \d+ \(node cli-locks-child\.js titled \\x0aDEADLOCK: FORGED\\x1b\[2J /);
    expect(ofWaiter.split(escaped)).toHaveLength(3);
    expect(ofWaiter).toContain(`waits for ofd lock ${file} (for `);
    expect(ofWaiter).toContain(`held by pid ${h} (node cli-locks-child.js titled ${escaped} `);
    expect(text.stdout.replaceAll(escaped, '')).not.toContain('FORGED');
    expect([...text.stdout].filter((c) => c !== '\n' && (c < ' ' || c === '\x7f'))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memfds of garbage in posix-ipc\'s name are ignored, and real waiters still show', async () => {
  const hostile = child('hostile');
  const bad = (await hostile.next()).pid as number;
  expect(hostile.proc.exitCode).toBeNull();
  const name = semName();
  using sem = Semaphore.open(name, { create: true, initial: 0 });
  const { waiter, pid, g } = await waiting('semaphore', name);
  expect(edgesOf(g, pid)).toEqual(['waits semaphore']);
  expect(g.nodes.filter((n) => n.pid === bad || n.pid === 1)).toEqual([]);
  const text = await run(process.execPath, [cli, 'locks']);
  expect(text).toMatchObject({ code: 0, stderr: '' });
  expect(text.stdout).not.toContain(`pid ${bad} `);
  sem.release();
  await waiter.next();
});

test('records are read only from wait-record memfds: a well-formed one in shared memory is not believed', async () => {
  const forger = child('forged');
  const { pid } = (await forger.next()) as { pid: number };
  const g = await locks();
  expect(g.nodes.filter((n) => n.pid === pid)).toEqual([]);
  expect(g.nodes.filter((n) => n.name === 'forged')).toEqual([]);
});

test('--help says a deadlock found is no failure of the command', async () => {
  const result = await run(process.execPath, [cli, 'locks', '--help']);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^Usage: posix-ipc locks \[--json\]$/m);
  expect(result.stdout).toMatch(/a deadlock found\s+is not a failure of this command/);
});

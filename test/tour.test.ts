/**
 * The student tour (`npm start`, `posix-ipc tour`): scripts/cli.js runs as a
 * real process and its output is checked for what it claims to show. No
 * assertion is about how fast anything was.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { run, type RunResult } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');
const duration = String.raw`\d+(?:\.\d+)? (?:ns|µs|ms|s)\b`;

function parentPid(stdout: string): number {
  const match = /^parent pid (\d+) \(ppid \d+\)/m.exec(stdout);
  expect(match).not.toBeNull();
  return Number(match![1]);
}

describe('posix-ipc tour', () => {
  let result: RunResult;
  let parent: number;

  beforeAll(async () => {
    result = await run(process.execPath, [cli, 'tour']);
    parent = parentPid(result.stdout);
  });

  test('runs every chapter and exits 0 without complaint', () => {
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toMatch(/^Chapter 1: Processes and threads$/m);
    expect(result.stdout).toMatch(/^Chapter 2: Shared memory$/m);
    expect(result.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('shows child processes whose ppid is the parent pid', () => {
    const children = [...result.stdout.matchAll(/child pid (\d+) \(ppid (\d+)\)/g)].map((m) => ({
      pid: Number(m[1]),
      ppid: Number(m[2]),
    }));
    // Five forks in chapter 1; named, anonymous and two ping-pong children in chapter 2.
    expect(children.length).toBeGreaterThanOrEqual(9);
    for (const child of children) {
      expect(child.pid).not.toBe(parent);
      expect(child.ppid).toBe(parent);
    }
    expect(new Set(children.map((c) => c.pid)).size).toBe(children.length);
  });

  test('shows worker threads living in the parent process', () => {
    const threads = [...result.stdout.matchAll(/Worker #\d+: thread \d+ in pid (\d+)/g)];
    expect(threads.length).toBeGreaterThan(0);
    for (const thread of threads) expect(Number(thread[1])).toBe(parent);
  });

  test('shows two pids seeing the same bytes of shared memory', () => {
    const named = new RegExp(String.raw`child pid (\d+) \(ppid ${parent}\) opened /posix-ipc-tour-${parent} by name, wrote "hello from pid (\d+)"`);
    const match = named.exec(result.stdout);
    expect(match).not.toBeNull();
    expect(match![2]).toBe(match![1]);
    expect(result.stdout).toContain(`parent pid ${parent} reads its own mapping of /posix-ipc-tour-${parent}: "hello from pid ${match![1]}"`);
    expect(result.stdout).toMatch(new RegExp(String.raw`child pid \d+ \(ppid ${parent}\) mapped its descriptor 3, wrote "hello from pid \d+"`));
  });

  test('prints measured numbers with units', () => {
    expect(result.stdout).toMatch(new RegExp(`median time to first message: process ${duration}, thread ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`shared memory, Atomics spin: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(new RegExp(`process\\.send, IPC channel: +median round trip ${duration}, p99 ${duration}`));
    expect(result.stdout).toMatch(/\d+(?:\.\d+)?x faster/);
  });

  test('leaves nothing behind in /dev/shm', () => {
    expect(result.stdout).toContain(`/dev/shm/posix-ipc-tour-${parent} exists: yes`);
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`posix-ipc-tour-${parent}`))).toEqual([]);
  });
});

describe('posix-ipc command line', () => {
  test('runs a single chapter', async () => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, 'tour', 'processes']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Chapter 1: Processes and threads$/m);
    expect(stdout).not.toMatch(/^Chapter 2/m);
  });

  test.each([[[]], [['--help']], [['help']]])('prints usage for %j', async (args) => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, ...args]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/^Usage: posix-ipc <command>/);
    expect(stdout).toContain('processes, shared-memory');
  });

  test.each([
    [['bogus'], "unknown command 'bogus'"],
    [['tour', 'bogus'], "unknown chapter 'bogus'"],
    [['tour', 'processes', 'shared-memory'], 'at most one chapter'],
  ])('exits 2 with usage on stderr for %j', async (args, message) => {
    const { code, stdout, stderr } = await run(process.execPath, [cli, ...args]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: posix-ipc <command>');
  });
});

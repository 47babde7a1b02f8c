/**
 * `posix-ipc top`, run as a subprocess while another process produces into a
 * Channel (test/fixtures/cli-top-producer.js): `--once` prints the Channel's
 * bytes/s, and the live view runs in a tmux session, shows its frame
 * (capture-pane) and quits on `q` with exit 0 and the terminal restored.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Channel } from '../lib';
import { fixtureChild, leftoverObjects, namesUnlinkedAfterEach, run, until, type FixtureChild } from './helpers';

const CLI = path.join(__dirname, '..', 'scripts', 'cli.js');

const children: FixtureChild[] = [];
const name = namesUnlinkedAfterEach(Channel.unlink);

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.proc.stdin!.end();
    await child.exit;
  }
  expect(leftoverObjects()).toEqual([]);
});

/** Starts a producer into the Channel `n` (and an anonymous one); resolves with its ready line once it sends. */
async function producer(n: string): Promise<Record<string, unknown>> {
  const child = fixtureChild('cli-top-producer.js', [n]);
  children.push(child);
  return child.next();
}

/** The row of `frame` for the Channel labelled `label` (its lane 0). */
function rowOf(frame: string, label: string): string | undefined {
  return frame.split('\n').find((line) => line.startsWith(`${label} `));
}

test('--once: a frame with the Channel, its producer and its bytes/s while it produces', async () => {
  const n = name();
  const ready = await producer(n);
  const r = await run(process.execPath, [CLI, 'top', '--once', '--interval', '400']);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toContain('CHANNEL');
  expect(r.stdout).toContain('MSGS/S');
  // lane 0, producer active and attached, messages/s and bytes/s above zero, a depth, the consumer detached.
  expect(rowOf(r.stdout, n.slice(1))).toMatch(
    /^\S+\s+0\s+active\s+yes\s+[1-9]\d*\s+[1-9][\d.]* (B|KiB|MiB)\/s\s+[1-9]\d*\s+detached/);
  // The anonymous Channel, by its holder's pid and descriptor: one 40-byte message in its mailbox, none in the ring.
  expect(rowOf(r.stdout, `${ready.pid}:${ready.fd}`)).toMatch(/^\S+\s+0\s+active\s+yes\s+0\s+0 B\/s\s+0\s/);
});

test('a bad --interval is a usage error', async () => {
  const r = await run(process.execPath, [CLI, 'top', '--interval', 'soon']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--interval must be');
});

test('live in tmux: the frame shows, q quits with exit 0, the terminal is cooked again', async () => {
  const n = name();
  await producer(n);
  const dir = mkdtempSync(path.join(tmpdir(), 'pipc-top-'));
  const socket = `pipc-top-${process.pid}`;
  const done = path.join(dir, 'done');
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args]);
  // After top exits: its status, and whether the terminal is in canonical mode again (icanon, not -icanon).
  const script = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} top --interval 200; ` +
    `echo "exit=$? $(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon)" > ${JSON.stringify(done)}; sleep 60`;
  try {
    const started = await tmux('new-session', '-d', '-s', 'top', '-x', '120', '-y', '30', 'sh', '-c', script);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    let screen = '';
    let shown = false;
    for (let i = 0; i < 300 && !shown; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      screen = (await tmux('capture-pane', '-p', '-t', 'top')).stdout;
      shown = screen.includes('BYTES/S') && rowOf(screen, n.slice(1)) !== undefined;
    }
    expect({ shown, screen }).toMatchObject({ shown: true });
    expect(screen).toContain('q: quit');
    expect(rowOf(screen, n.slice(1))).toMatch(/\s0\s+active\s+yes\s/);

    expect((await tmux('send-keys', '-t', 'top', 'q')).code).toBe(0);
    expect(await until(() => existsSync(done) && readFileSync(done, 'utf8').includes('\n'), 15000)).toBe(true);
    expect(readFileSync(done, 'utf8').trim()).toBe('exit=0 icanon');
  } finally {
    await tmux('kill-server');
    rmSync(dir, { recursive: true, force: true });
  }
});

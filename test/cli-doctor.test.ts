/**
 * `posix-ipc doctor` as a real process: every check is there with a status on
 * this machine; a 1 MiB /dev/shm (a user and mount namespace of its own, with
 * a segment another process holds in it) and an RLIMIT_MSGQUEUE of 0 are each
 * reported as a failure with the command that fixes it, and exit 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import * as path from 'node:path';
import { leftoverObjects, run, runWithSmallDevShm, uniqueName } from './helpers';

const CLI = path.join(__dirname, '..', 'scripts', 'cli.js');

/** Every check, in the order doctor prints them. */
const CHECKS = [
  'dev-shm', 'mqueue-mount', 'mq-msg-max', 'mq-msgsize-max', 'mq-queues-max', 'rlimit-msgqueue', 'pipe-max-size',
  'rlimit-nofile', 'pidfd', 'memfd-seals', 'ofd-locks', 'futex', 'robust-mutex', 'ipc-namespace', 'kernel', 'addon',
  'node',
];

interface Check {
  id: string;
  title: string;
  status: 'ok' | 'warn' | 'fail';
  value: string;
  detail: string | null;
  fix: string | null;
}

interface Report {
  ok: boolean;
  checks: Check[];
}

/** `posix-ipc doctor ...args`, under `prefix` (e.g. prlimit) when given. */
function doctor(args: string[], prefix: string[] = []) {
  const argv = [...prefix, process.execPath, CLI, 'doctor', ...args];
  return run(argv[0], argv.slice(1));
}

/** The check `id` of a report (throws when it is missing). */
function check(report: Report, id: string): Check {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check '${id}' in ${JSON.stringify(report)}`);
  return found;
}

afterEach(() => {
  expect(leftoverObjects()).toEqual([]);
});

describe('posix-ipc doctor', () => {
  test('--json on this machine: every check with a status; exit 1 exactly when one failed', async () => {
    const r = await doctor(['--json']);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout) as Report;
    expect(report.checks.map((c) => c.id)).toEqual(CHECKS);
    for (const c of report.checks) {
      expect(['ok', 'warn', 'fail']).toContain(c.status);
      expect(c.value).toEqual(expect.any(String));
      if (c.status === 'ok') expect(c.fix).toBeNull();
      if (c.status === 'fail') expect(c.fix).toEqual(expect.any(String));
    }
    const failed = report.checks.some((c) => c.status === 'fail');
    expect(report.ok).toBe(!failed);
    expect(r.code).toBe(failed ? 1 : 0);
    // The kernel features were probed through the addon, and this kernel has them all.
    for (const id of ['pidfd', 'memfd-seals', 'ofd-locks', 'futex', 'robust-mutex']) {
      expect(check(report, id)).toMatchObject({ status: 'ok' });
    }
    expect(check(report, 'robust-mutex').value).toMatch(/EOWNERDEAD/);
    expect(check(report, 'kernel').value).toContain(release());
    expect(check(report, 'node').value).toContain(`N-API ${process.versions.napi}`);
    expect(check(report, 'ipc-namespace').value).toMatch(/^ipc:\[\d+\]/);
    // The test suite's addon: the sanitizer build through POSIX_IPC_ADDON, else node-gyp-build's build/Release.
    expect(check(report, 'addon').value).toMatch(process.env.POSIX_IPC_ADDON ? /^POSIX_IPC_ADDON=/ : /^local build: build\/Release\/posix_ipc\.node$/);
  }, 20_000);

  test('prints one line per check, its status first, then a summary', async () => {
    const r = await doctor([]);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    for (const title of ['/dev/shm', 'fs.mqueue.msg_max', 'RLIMIT_MSGQUEUE', 'OFD locks', 'robust mutexes', 'addon']) {
      expect(lines.some((l) => new RegExp(`^(ok|warn|fail) +${title.replace(/[.]/g, '\\.')} `).test(l))).toBe(true);
    }
    expect(r.stdout).toMatch(/\n\d+ ok, \d+ warn, \d+ fail\n$/);
    expect(r.code).toBe(/, 0 fail\n$/.test(r.stdout) ? 0 : 1);
  }, 20_000);

  test('a 1 MiB /dev/shm is a failure, with its use and the fix (exit 1)', async () => {
    // Another process holds 512 KiB of it while doctor runs.
    const out = await runWithSmallDevShm('cli-doctor-shm.js', [uniqueName(), String(512 * 1024)], '1m');
    const { code, stderr, report } = out as unknown as { code: number; stderr: string; report: Report };
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    const shm = check(report, 'dev-shm');
    expect(shm).toMatchObject({ status: 'fail' });
    expect(shm.value).toMatch(/^1\.0M, 5\d\dK used \(5\d%\)/);
    expect(shm.fix).toContain('docker run --shm-size=');
    expect(shm.fix).toContain('mount -o remount,size=');
  }, 20_000);

  test('RLIMIT_MSGQUEUE 0 is a failure, with the fix (exit 1)', async () => {
    const r = await doctor(['--json'], ['prlimit', '--msgqueue=0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    const limit = check(report, 'rlimit-msgqueue');
    expect(limit).toMatchObject({ status: 'fail', value: '0 bytes (hard 0)' });
    expect(limit.detail).toMatch(/mq_open fails/);
    expect(limit.fix).toMatch(/ulimit -q/);
  }, 20_000);

  test('a mount point holding a terminal escape is printed escaped', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pipc-doctor-'));
    try {
      // A mount of its own (user, mount and IPC namespaces), at a path another user chose.
      const point = path.join(dir, 'mq\x1b[2J\x1b]0;pwned\x07');
      const setup = 'mkdir "$0" && mount -t mqueue none "$0" && exec "$@"';
      const r = await run('unshare', ['-Urm', '--ipc', 'sh', '-c', setup, point, process.execPath, CLI, 'doctor']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`mounted at ${dir}/mq\\x1b[2J\\x1b]0;pwned\\x07`);
      expect([...r.stdout].filter((c) => c !== '\n' && (c < ' ' || c === '\x7f'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);

  test('takes no arguments: a usage error exits 2', async () => {
    const r = await doctor(['extra']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/unexpected argument 'extra'/);
    const help = await doctor(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: posix-ipc doctor/);
  });
});

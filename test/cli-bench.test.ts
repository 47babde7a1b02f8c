/**
 * `posix-ipc bench` as a real process, on the quickest suite (shm-copy, one
 * rep): it exits 0, prints the table and the chart's path, reports progress
 * as plain lines off a terminal and as a bar redrawn in place on one (a pty
 * from script(1)), and from a copy laid out as an installed package (no
 * devDependencies) skips the pool suite, saying which packages it lacks. No
 * timing is asserted.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run } from './helpers';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'scripts', 'cli.js');
const QUICK = ['bench', '--quick', '--reps', '1', '--suite', 'shm-copy'];

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-cli-bench-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A shell word for `s`. */
const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

describe('posix-ipc bench', () => {
  test('--quick --suite shm-copy: exits 0, prints the table and the chart, progress as plain lines', async () => {
    const json = path.join(dir, 'r.json');
    const r = await run(process.execPath, [CLI, ...QUICK, '--json', json], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^shm-copy: SharedMemory bulk copy bandwidth/m);
    expect(r.stdout).toMatch(/^into shm +C memcpy \(baseline\)/m);
    expect(r.stdout).toContain(`results: ${json}, ${path.join(dir, 'r.svg')}`);
    expect(r.stdout).toMatch(new RegExp(`\nchart: ${path.join(dir, 'r.svg').replace(/[.]/g, '\\.')}\n$`));
    expect(readFileSync(path.join(dir, 'r.svg'), 'utf8')).toMatch(/^<svg /);
    expect(JSON.parse(readFileSync(json, 'utf8'))).toMatchObject({ options: { reps: 1, quick: true, suites: ['shm-copy'] } });
    // Not a terminal: one plain line per contender run, no escape sequences.
    expect(r.stderr).toMatch(/^bench: \[1\/1\] 1\/3 shm-copy: rep 1\/1, C memcpy$/m);
    expect(r.stderr).toMatch(/^bench: \[1\/1\] 3\/3 shm-copy: rep 1\/1, Node Buffer#copy$/m);
    expect(r.stderr).not.toContain('\x1b');
  }, 20_000);

  test('on a terminal the progress is a bar redrawn in place', async () => {
    const command = [process.execPath, CLI, ...QUICK, '--json', path.join(dir, 'r.json')].map(quote).join(' ');
    const r = await run('script', ['-qec', command, '/dev/null'], { cwd: dir, env: { ...process.env, COLUMNS: '100' } });
    expect(r.code).toBe(0);
    const redraw = '\r\x1b[K';
    expect(r.stdout).toContain(`${redraw}[1/1] shm-copy [${'.'.repeat(20)}] 0/3 rep 1/1, C memcpy`);
    expect(r.stdout).toContain(`${redraw}[1/1] shm-copy [${'#'.repeat(7)}${'.'.repeat(13)}] 1/3 rep 1/1, Node Uint8Array#set`);
    // The bar is wiped before the table is printed.
    expect(r.stdout).toContain(`${redraw}posix-ipc bench `);
    expect(r.stdout).toMatch(/chart: \S+r\.svg/);
  }, 20_000);

  test('installed without devDependencies: the pool suite is skipped, saying why, and the others run', async () => {
    // The package as npm installs it: its files, and its dependencies only.
    const pkg = path.join(dir, 'node_modules', 'posix-ipc');
    mkdirSync(pkg, { recursive: true });
    for (const entry of ['package.json', 'dist', 'scripts']) cpSync(path.join(ROOT, entry), path.join(pkg, entry), { recursive: true });
    cpSync(path.join(ROOT, 'build', 'Release', 'posix_ipc.node'), path.join(pkg, 'build', 'Release', 'posix_ipc.node'));
    cpSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
    expect(existsSync(path.join(dir, 'node_modules', 'piscina'))).toBe(false);

    const json = path.join(dir, 'r.json');
    const r = await run(process.execPath, [path.join(pkg, 'scripts', 'cli.js'), ...QUICK, '--suite', 'pool', '--json', json], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('bench: skipping suite pool: it needs piscina, tinypool, workerpool, not installed (npm install piscina tinypool workerpool)');
    expect(r.stdout).toMatch(/^into shm +C memcpy \(baseline\)/m);
    expect(JSON.parse(readFileSync(json, 'utf8'))).toMatchObject({ options: { suites: ['shm-copy'] } });
  }, 20_000);

  test('an unknown suite is a usage error (exit 2)', async () => {
    const r = await run(process.execPath, [CLI, 'bench', '--suite', 'nope']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^posix-ipc: unknown suite 'nope' \(known: shm-copy, mq, pipe, sync, channel, pool\)/);
  });
});

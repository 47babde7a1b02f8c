/**
 * The posix-ipc command's dispatcher (scripts/cli.js), run as a subprocess:
 * help lists every command of its table, each command's --help prints that
 * command's usage, --version, the exit codes of usage errors (2), and the tour
 * still runs through it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { run } from './helpers';

const cli = path.join(__dirname, '..', 'scripts', 'cli.js');
const commands = ['tour', 'ls', 'inspect', 'rm', 'doctor', 'locks', 'top', 'bench', 'help'];

/** `node scripts/cli.js ...args`. */
const posixIpc = (...args: string[]) => run(process.execPath, [cli, ...args]);

describe('posix-ipc help', () => {
  test.each([[[]], [['help']], [['--help']], [['-h']]])('%j lists every command with its summary, exit 0', async (args) => {
    const r = await posixIpc(...args);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: posix-ipc <command>/);
    for (const name of commands) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  test("the dispatcher's table names a module for every command but help", () => {
    type Table = Array<{ name: string; summary: string; file: string | null }>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { commands: table } = require(cli) as { commands: Table };
    expect(table.map((c) => c.name)).toEqual(commands);
    for (const c of table) expect(c.file).toBe(c.name === 'help' ? null : `./cli/${c.name}`);
  });

  test('--version and -v print the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) expect(await posixIpc(flag)).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  test.each([[['tour', '--help']], [['help', 'tour']], [['--help', 'tour']], [['ls', '-h']], [['help', 'rm']], [['rm', '--help']]])(
    "%j prints that command's usage, exit 0",
    async (args) => {
      const r = await posixIpc(...args);
      const name = args.find((a) => !a.startsWith('-') && a !== 'help');
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: posix-ipc ${name} `));
    },
  );
});

describe('posix-ipc usage errors exit 2 with the usage on stderr', () => {
  test.each([
    [['bogus'], "unknown command 'bogus'", '<command>'],
    [['--bogus'], "unknown option '--bogus'", '<command>'],
    [['help', 'bogus'], "no help for 'bogus'", '<command>'],
    [['--version', 'ls'], "unexpected argument 'ls'", '<command>'],
    [['tour', '--bogus'], "unknown option '--bogus'", 'tour'],
    [['tour', '--no-pause=yes'], "option '--no-pause' takes no value", 'tour'],
    [['rm', '--bogus', 'x'], "unknown option '--bogus'", 'rm'],
    [['rm'], "'rm' needs a name, or --orphans", 'rm'],
    [['ls', '--pid'], "option '--pid' needs a value", 'ls'],
  ])('%j: %s', async (args, message, usage) => {
    const r = await posixIpc(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`posix-ipc: ${message}`);
    expect(r.stderr).toMatch(new RegExp(`^Usage: posix-ipc ${usage}`, 'm'));
  });
});

describe('posix-ipc tour through the dispatcher', () => {
  test('runs a chapter, exit 0', async () => {
    const r = await posixIpc('tour', '--no-pause', 'processes');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Chapter 1: Processes and threads$/m);
    expect(r.stdout).toMatch(/^End of the tour\.$/m);
  });

  test('an unknown chapter is a usage error', async () => {
    const r = await posixIpc('tour', 'bogus');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("posix-ipc: unknown chapter 'bogus'");
  });
});

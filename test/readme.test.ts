/**
 * Every JavaScript and TypeScript example in README.md and docs/*.md runs as
 * pasted, prints what it says it prints, and leaves nothing behind.
 *
 * The convention, checked here for every ```js, ```mjs, ```cjs and ```ts block:
 *
 * - `// <file>.mjs` (or .cjs, .js) on the first line: a complete program. It
 *   is written under that name into a directory of its own, where
 *   `node_modules/posix-ipc` links to this project, and run with `node <path>`
 *   from another, empty directory (a user runs it from anywhere), twice in a
 *   row (the second run proves the first cleaned up).
 * - `// <file>.mjs — <main>.mjs starts it`: a second process. It is written
 *   beside the nearest block before it named `<main>.mjs`, which runs it.
 * - `// fragment` (any words may follow): part of a program, not run; it must
 *   still parse. A block says so or it is run.
 * - `// prints: <line>` after code: that line must appear in the output, and
 *   a block's own lines in the order it gives them.
 *
 * A run must exit 0 with nothing on stderr, and leave nothing new in /dev/shm,
 * no message queue (it runs in an IPC namespace of its own, listed after it
 * exits), no file in its directory that it did not start with, and no path it
 * names under /tmp or /var/tmp.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { run } from './helpers';

const ROOT = path.join(__dirname, '..');
const LANGS = new Set(['js', 'mjs', 'cjs', 'ts', 'javascript', 'typescript']);

interface Block {
  /** Where it is, for messages: `README.md:20`. */
  where: string;
  lang: string;
  code: string;
  kind: 'program' | 'second' | 'fragment';
  /** The file name its first line gives (null for a fragment). */
  name: string | null;
  /** For a second process: the program that starts it. */
  startedBy: string | null;
  /** For a program: the second processes it starts. */
  seconds: Block[];
}

const PROGRAM = /^\/\/ ([\w.-]+\.(?:mjs|cjs|js|ts))\s*$/;
const SECOND = /^\/\/ ([\w.-]+\.(?:mjs|cjs|js|ts)) — ([\w.-]+\.(?:mjs|cjs|js|ts)) starts it\s*$/;
const FRAGMENT = /^\/\/ fragment\b/;

/** The code blocks of one markdown file, paired up; a first line that follows no convention throws. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)/.exec(lines[i]);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    const lang = open[1].split(/[\s{]/)[0];
    if (!LANGS.has(lang)) continue;
    const where = `${file}:${start + 1}`;
    const first = body[0] ?? '';
    const block: Block = { where, lang, code: `${body.join('\n')}\n`, kind: 'fragment', name: null, startedBy: null, seconds: [] };
    let m: RegExpExecArray | null;
    if ((m = PROGRAM.exec(first)) !== null) {
      block.kind = 'program';
      block.name = m[1];
    } else if ((m = SECOND.exec(first)) !== null) {
      block.kind = 'second';
      block.name = m[1];
      block.startedBy = m[2];
      const main = [...blocks].reverse().find((b) => b.kind === 'program' && b.name === m![2]);
      if (main === undefined) throw new Error(`${where}: ${m[1]} says ${m[2]} starts it, but no block before it is ${m[2]}`);
      main.seconds.push(block);
    } else if (!FRAGMENT.test(first)) {
      throw new Error(`${where}: a ${lang} block starts with "// <file>.mjs", "// <file>.mjs — <main>.mjs starts it" or "// fragment", not ${JSON.stringify(first)}`);
    }
    blocks.push(block);
  }
  return blocks;
}

/** The `// prints:` lines of a block, in order. */
function expectedLines(code: string): string[] {
  return [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1].trimEnd());
}

/** Paths under /tmp or /var/tmp that a program's code names in a string. */
function tmpPaths(code: string): string[] {
  return [...code.matchAll(/['"`](\/(?:var\/)?tmp\/[^'"`$\s]+)['"`]/g)].map((m) => m[1]);
}

/**
 * The project's own tests, tour and bench name their objects `pipc-...` and
 * `posix-ipc-...`, and run meanwhile on a shared machine; an example never uses
 * such a name (asserted below), so they are left out of the comparison.
 */
const OTHERS = /^(sem\.)?(pipc|posix-ipc)-/;

/** Names in /dev/shm, but for those of {@link OTHERS}. */
function shmNames(): string[] {
  return readdirSync('/dev/shm').filter((n) => !OTHERS.test(n)).sort();
}

/**
 * Runs `node <file>` in an IPC namespace of its own (so its message queues are
 * the only ones there) and a mount namespace where, once node has exited, an
 * mqueue filesystem is mounted to list what it left: the last line of stdout,
 * `@@mqueue: <names>`. A machine need not have mqueue mounted for this, and
 * nothing is mounted outside. `timeout` ends an example that hangs.
 */
const AS_ROOT = process.getuid?.() === 0 ? [] : ['--map-root-user'];
const WRAPPER = 'timeout 60 "$0" "$@"; rc=$?; ' +
  'mount -t tmpfs none /mnt && mkdir /mnt/mq && mount -t mqueue none /mnt/mq && echo "@@mqueue:$(ls -A /mnt/mq | tr "\\n" " ")"; exit $rc';
/** Runs `file` (a path) from the directory `cwd`. */
function runIsolated(cwd: string, file: string): ReturnType<typeof run> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  return run('unshare', [...AS_ROOT, '--ipc', '--mount', '--propagation', 'private', 'sh', '-c', WRAPPER, process.execPath, file], { cwd, env });
}

const files = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const parsed = files.map((file) => ({ file, blocks: blocksOf(file) }));
const work = mkdtempSync(path.join(tmpdir(), 'pipc-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('README.md has runnable examples, each complete (the convention is in this file)', () => {
  const readme = parsed.find((p) => p.file === 'README.md')!.blocks;
  expect(readme.filter((b) => b.kind === 'program').length).toBeGreaterThanOrEqual(6);
  for (const { blocks } of parsed) {
    for (const b of blocks) {
      // A program starts its second process by the name it is written under.
      for (const second of b.seconds) expect(`${b.where} ${b.code}`).toContain(`'${second.name}'`);
    }
  }
});

describe.each(parsed)('$file', ({ blocks }) => {
  const fragments = blocks.filter((b) => b.kind === 'fragment');
  const programs = blocks.filter((b) => b.kind === 'program');

  if (fragments.length > 0) {
    test.each(fragments.map((b) => [b.where, b] as const))('%s (a fragment) parses', (_where, b) => {
      if (b.lang === 'ts' || b.lang === 'typescript') {
        const out = ts.transpileModule(b.code, {
          reportDiagnostics: true, compilerOptions: { target: ts.ScriptTarget.ES2022 },
        });
        expect((out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
        return;
      }
      const file = path.join(work, `fragment-${b.where.replace(/\W/g, '-')}.mjs`);
      writeFileSync(file, b.code);
      // Throws, with node's own message on stderr, when the block does not parse as a module.
      execFileSync(process.execPath, ['--check', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    });
  }

  if (programs.length > 0) {
    test.each(programs.map((b) => [b.where, b.name, b] as const))('%s %s runs as pasted, twice, and leaves nothing behind', async (_where, _name, b) => {
      if (b.lang === 'ts' || b.lang === 'typescript' || b.name!.endsWith('.ts')) {
        throw new Error(`${b.where}: node cannot run a .ts program as pasted; make it .mjs, or mark it "// fragment"`);
      }
      const dir = mkdtempSync(path.join(work, 'example-'));
      const elsewhere = mkdtempSync(path.join(work, 'cwd-'));
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(ROOT, path.join(dir, 'node_modules', 'posix-ipc'));
      const group = [b, ...b.seconds];
      for (const block of group) expect({ where: block.where, namesLikeOtherTools: /['"`]\/?(pipc|posix-ipc)-/.test(block.code) }).toEqual({ where: block.where, namesLikeOtherTools: false });
      for (const block of group) writeFileSync(path.join(dir, block.name!), block.code);
      const startingFiles = readdirSync(dir).sort();
      const paths = group.flatMap((block) => tmpPaths(block.code));

      for (const round of [1, 2]) {
        const names = shmNames();
        for (const p of paths) {
          expect({ round, leftBefore: p, exists: existsSync(p) }).toEqual({ round, leftBefore: p, exists: false });
        }

        const r = await runIsolated(elsewhere, path.join(dir, b.name!));
        expect({ round, code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ round, code: 0, signal: null, stderr: '' });

        const out = r.stdout.split('\n').map((l) => l.trimEnd());
        const queues = out.find((l) => l.startsWith('@@mqueue:'));
        expect({ round, queuesLeft: queues }).toEqual({ round, queuesLeft: '@@mqueue:' });
        for (const block of group) {
          // Each block's own lines, in its order, somewhere in the output (a second process's lines interleave).
          let at = 0;
          for (const line of expectedLines(block.code)) {
            const found = out.indexOf(line, at);
            expect({ round, block: block.name, prints: line, stdout: found < 0 ? r.stdout : 'found' }).toEqual({ round, block: block.name, prints: line, stdout: 'found' });
            at = found + 1;
          }
        }

        expect({ round, shmLeft: shmNames().filter((n) => !names.includes(n)) }).toEqual({ round, shmLeft: [] });
        expect({ round, files: readdirSync(dir).sort() }).toEqual({ round, files: startingFiles });
        expect({ round, filesInCwd: readdirSync(elsewhere) }).toEqual({ round, filesInCwd: [] });
        for (const p of paths) {
          expect({ round, leftAfter: p, exists: existsSync(p) }).toEqual({ round, leftAfter: p, exists: false });
        }
      }
    });
  }
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

test('every relative link in README.md and docs/*.md reaches a file and a heading that exist', () => {
  const apiOut = (JSON.parse(readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as { out: string }).out;
  const broken: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [ref, anchor] = target.split('#');
      const resolved = ref === '' ? file : path.normalize(path.join(path.dirname(file), ref));
      if (resolved.startsWith(`${apiOut}/`)) {
        // Generated by `npm run docs` (typedoc.json's out), not kept in git: the link must point into it.
        if (resolved !== `${apiOut}/index.html`) broken.push(`${file}: ${target} (link ${apiOut}/index.html)`);
        continue;
      }
      if (!existsSync(path.join(ROOT, resolved))) {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith('.md')) continue;
      const body = readFileSync(path.join(ROOT, resolved), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      const anchors = [...body.matchAll(/^#{1,6} (.*)$/gm)].map((m) => slug(m[1]));
      if (!anchors.includes(anchor)) broken.push(`${file}: ${target} (no such heading)`);
    }
  }
  expect(broken).toEqual([]);
});

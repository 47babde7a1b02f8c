/**
 * The published package works without a compiler: prebuild the addon the way a
 * release does (`npm run prebuild`, i.e. prebuildify), `npm pack` it, install
 * the tarball into an empty project with install scripts off, and use it from
 * CommonJS, ESM, TypeScript and the command line.
 *
 * Everything happens in a temporary copy of the project, so build/, dist/ and
 * prebuilds/ of the working tree are never touched.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { leftoverObjects, run, uniqueName, type RunResult } from './helpers';

const root = path.join(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;

// Build outputs and VCS data stay behind; dist/ is rebuilt by `npm pack` (prepare).
const notCopied = new Set(['.git', 'node_modules', 'build', 'build-asan', 'dist', 'prebuilds', 'coverage', 'bench-results']);

// Children get a clean environment: an inherited sanitizer build or preload
// would decide which addon loads, and that is what these tests check.
const env: NodeJS.ProcessEnv = { ...process.env };
for (const key of ['POSIX_IPC_ADDON', 'LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS']) delete env[key];

let work: string; // the temporary directory; everything below lives in it
let source: string; // the copy of the project that is prebuilt and packed
let tarball: string;
let entries: string[]; // `tar tzf` of the tarball
let app: string; // the empty project that installs the tarball
let installed: string; // app/node_modules/posix-ipc

/** Runs a command and returns its result, failing with its output if it exits non-zero. */
async function sh(cwd: string, command: string, args: string[]): Promise<RunResult> {
  const result = await run(command, args, { cwd, env });
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited with ${result.code ?? result.signal}\n` +
        `--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result;
}

const made: string[] = [];

/** A fresh shared-memory name that afterEach removes if a child left it behind. */
function name(): string {
  const n = uniqueName();
  made.push(n);
  return n;
}

/**
 * Creates, writes, reopens (a second mapping of the same object), reads,
 * closes and unlinks a SharedMemory; prints the outcome, where the package
 * resolved, and which .node files the process has mapped.
 */
function scenario(shmName: string, resolve: string): string {
  return `
    const shm = SharedMemory.create(${JSON.stringify(shmName)}, 4096);
    new TextEncoder().encodeInto('hello from the tarball', new Uint8Array(shm.buffer));
    const peer = SharedMemory.open(${JSON.stringify(shmName)});
    const text = new TextDecoder().decode(new Uint8Array(peer.buffer, 0, 22));
    const size = peer.size;
    peer.close();
    shm.close();
    SharedMemory.unlink(${JSON.stringify(shmName)});
    const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
    const addons = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((p) => p && p.endsWith('.node')))];
    console.log(JSON.stringify({ text, size, closed: shm.closed && peer.closed, resolved: ${resolve}, addons }));
  `;
}

beforeAll(async () => {
  work = realpathSync(mkdtempSync(path.join(tmpdir(), 'pipc-package-')));
  source = path.join(work, 'posix-ipc');
  cpSync(root, source, {
    recursive: true,
    filter: (from) => {
      const rel = path.relative(root, from);
      const top = rel.split(path.sep)[0];
      return !notCopied.has(top) && !(rel === top && top.endsWith('.tgz'));
    },
  });
  // The copy uses the project's dependencies (node-gyp, prebuildify, tsc) without installing.
  symlinkSync(path.join(root, 'node_modules'), path.join(source, 'node_modules'), 'dir');

  await sh(source, 'npm', ['run', 'prebuild']);
  const packs = path.join(work, 'packs');
  mkdirSync(packs);
  await sh(source, 'npm', ['pack', '--pack-destination', packs]);
  const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);
  tarball = path.join(packs, tarballs[0]);
  entries = (await sh(work, 'tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean);

  app = path.join(work, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  // --ignore-scripts: nothing may compile; the prebuild has to be enough.
  await sh(app, 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball]);
  installed = path.join(app, 'node_modules', 'posix-ipc');
}, 300_000);

afterEach(() => {
  for (const n of made.splice(0)) rmSync(`/dev/shm${n}`, { force: true });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  expect(leftoverObjects()).toEqual([]);
});

describe('npm pack', () => {
  test('ships the prebuild, the JavaScript of both module systems and the type declarations', () => {
    const prebuilds = entries.filter((e) => e.startsWith(`package/prebuilds/${platformDir}/`));
    expect(prebuilds.length).toBeGreaterThanOrEqual(1);
    expect(prebuilds.every((e) => e.endsWith('.node'))).toBe(true);
    expect(entries).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/dist/index.js',
        'package/dist/index.d.ts',
        'package/dist/index.mjs',
        'package/dist/index.d.mts',
        'package/dist/shared-memory.js',
        'package/dist/shared-memory.d.ts',
      ]),
    );
  });

  test('ships the sources, so a platform without a prebuild can still compile', () => {
    expect(entries).toEqual(expect.arrayContaining(['package/binding.gyp', 'package/native/addon.cc']));
  });

  test('ships no build output, tests, TypeScript sources or development scripts', () => {
    const unwanted = entries.filter(
      (e) =>
        /^package\/(build|build-asan|test|lib|node_modules)\//.test(e) ||
        (/\.[cm]?ts$/.test(e) && !/\.d\.[cm]?ts$/.test(e)) ||
        (e.startsWith('package/scripts/') && e !== 'package/scripts/cli.js' && !e.startsWith('package/scripts/tour/')),
    );
    expect(unwanted).toEqual([]);
  });
});

describe('the installed package', () => {
  test('has no build/ directory: nothing was compiled on install', () => {
    expect(existsSync(path.join(installed, 'build'))).toBe(false);
    expect(readdirSync(path.join(installed, 'prebuilds', platformDir)).filter((f) => f.endsWith('.node')).length).toBeGreaterThanOrEqual(1);
  });

  test('works from CommonJS, loading the prebuild', async () => {
    const n = name();
    const script = `const { SharedMemory } = require('posix-ipc'); (async () => { ${scenario(n, "require.resolve('posix-ipc')")} })();`;
    const { stdout } = await sh(app, process.execPath, ['-e', script]);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ text: 'hello from the tarball', size: 4096, closed: true });
    expect(out.resolved).toBe(path.join(installed, 'dist', 'index.js'));
    expect(out.addons).toHaveLength(1);
    expect(path.dirname(out.addons[0])).toBe(path.join(installed, 'prebuilds', platformDir));
    expect(existsSync(`/dev/shm${n}`)).toBe(false);
  });

  test('works from ESM, loading the prebuild', async () => {
    const n = name();
    const script = `import { SharedMemory } from 'posix-ipc'; ${scenario(n, "import.meta.resolve('posix-ipc')")}`;
    const { stdout } = await sh(app, process.execPath, ['--input-type=module', '-e', script]);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ text: 'hello from the tarball', size: 4096, closed: true });
    expect(out.resolved).toBe(`file://${path.join(installed, 'dist', 'index.mjs')}`);
    expect(out.addons).toHaveLength(1);
    expect(path.dirname(out.addons[0])).toBe(path.join(installed, 'prebuilds', platformDir));
    expect(existsSync(`/dev/shm${n}`)).toBe(false);
  });

  test('type-checks from CommonJS and ESM TypeScript, with real (not any) types', async () => {
    const usage = `
      const shm: SharedMemory = SharedMemory.create('/typed', 4096, { mode: 0o600 });
      const size: number = shm.size;
      const err: IpcError | null = null;
      // @ts-expect-error The size is a number; with untyped declarations this line would compile.
      SharedMemory.create('/typed', '4096');
      void size; void err;
    `;
    writeFileSync(path.join(app, 'check.cts'), `import { IpcError, SharedMemory } from 'posix-ipc';\n${usage}`);
    writeFileSync(path.join(app, 'check.mts'), `import { IpcError, SharedMemory } from 'posix-ipc';\n${usage}`);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          lib: ['es2022', 'esnext.disposable'],
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
        },
        files: ['check.cts', 'check.mts'],
      }),
    );
    await sh(app, process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
  });

  test('installs the posix-ipc command, and it runs', async () => {
    const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(pkg.bin).toEqual({ 'posix-ipc': 'scripts/cli.js' });
    expect(entries).toContain('package/scripts/cli.js');
    const { stdout } = await sh(app, path.join(app, 'node_modules', '.bin', 'posix-ipc'), ['--help']);
    expect(stdout).toMatch(/^Usage: posix-ipc /m);
  });

  test('runs the shared-memory chapter of the tour from the installed files', async () => {
    const { stdout } = await sh(app, path.join(app, 'node_modules', '.bin', 'posix-ipc'), ['tour', 'shared-memory']);
    expect(stdout).toMatch(/^End of the tour\.$/m);
  });
});

/**
 * The published package works without a compiler: `npm pack` a clean copy of
 * the project exactly as a release does (its prepack builds the prebuild),
 * install the tarball into an empty project on a PATH that reaches no compiler,
 * make, or python, and use it from CommonJS, ESM, TypeScript and the command
 * line. Without a binary for the system, loading it says what to run.
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
let bin: string; // a directory holding only node, npm and sh
let bare: NodeJS.ProcessEnv; // env with PATH = bin: no compiler, make or python reachable

/** What building the addon needs; none of it may be reachable in `bare`. */
const toolchain = ['cc', 'gcc', 'g++', 'c++', 'clang', 'clang++', 'make', 'python3', 'python', 'strip'];

/** The first `command` in the directories of a PATH string, or null. */
function which(command: string, pathVariable: string | undefined): string | null {
  for (const dir of (pathVariable ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return null;
}

/**
 * A bin directory with node, npm and sh (npm runs scripts with `sh -c`) and
 * nothing else, and an environment whose PATH is only that: what a machine
 * without build tools offers. Variables that name a compiler or python
 * directly go too.
 */
function compilerlessEnv(): NodeJS.ProcessEnv {
  bin = path.join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  const npm = which('npm', process.env.PATH);
  if (!npm) throw new Error('npm is not on PATH');
  symlinkSync(realpathSync(npm), path.join(bin, 'npm'));
  symlinkSync(realpathSync('/bin/sh'), path.join(bin, 'sh'));
  const bareEnv: NodeJS.ProcessEnv = { ...env, PATH: bin };
  for (const key of Object.keys(bareEnv)) {
    if (/^(CC|CXX|LINK|AR|PYTHON|MAKE|npm_config_python|npm_config_node_gyp)$/i.test(key)) delete bareEnv[key];
  }
  return bareEnv;
}

/** Runs a command and returns its result, failing with its output if it exits non-zero. */
async function sh(cwd: string, command: string, args: string[], withEnv: NodeJS.ProcessEnv = env): Promise<RunResult> {
  const result = await run(command, args, { cwd, env: withEnv });
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
 * closes and unlinks a SharedMemory; sends a message round an anonymous
 * Channel and closes it; prints the outcome, where the package resolved, and
 * which .node files the process has mapped.
 */
function scenario(shmName: string, resolve: string): string {
  return `
    const ch = Channel.create({ capacity: 4096 });
    const sent = ch.trySend('ping through the ring');
    const received = String(ch.tryReceive());
    ch.close();
    const channel = { sent, received, closed: ch.closed };
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
    console.log(JSON.stringify({ text, size, closed: shm.closed && peer.closed, channel, resolved: ${resolve}, addons }));
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

  // No `npm run prebuild` first: packing alone must bring the prebuild.
  const packs = path.join(work, 'packs');
  mkdirSync(packs);
  await sh(source, 'npm', ['pack', '--pack-destination', packs]);
  const tarballs = readdirSync(packs).filter((f) => f.endsWith('.tgz'));
  expect(tarballs).toHaveLength(1);
  tarball = path.join(packs, tarballs[0]);
  entries = (await sh(work, 'tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean);

  // From here on, no compiler is reachable, and --ignore-scripts: the prebuild has to be enough.
  bare = compilerlessEnv();
  app = path.join(work, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  await sh(app, 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], bare);
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

  test('ships the public C header of the Channel format, which the addon also compiles against', () => {
    expect(entries).toContain('package/include/posix-ipc/ring.h');
  });

  test('ships no build output, tests, TypeScript sources or development scripts', () => {
    const unwanted = entries.filter(
      (e) =>
        /^package\/(build|build-asan|test|lib|node_modules)\//.test(e) ||
        (/\.[cm]?ts$/.test(e) && !/\.d\.[cm]?ts$/.test(e)) ||
        (e.startsWith('package/scripts/') && e !== 'package/scripts/cli.js' && !/^package\/scripts\/(bench|cli|tour)\//.test(e)),
    );
    expect(unwanted).toEqual([]);
  });

  test('ships no source maps (they would only point at lib/, which is not shipped), and no sourceMappingURL comments', async () => {
    expect(entries.filter((e) => e.endsWith('.map'))).toEqual([]);
    const { stdout } = await run('grep', ['-rl', 'sourceMappingURL', path.join(source, 'dist')]);
    expect(stdout).toBe('');
  });

  test('ships every file the README links to with a relative path', () => {
    const readme = readFileSync(path.join(source, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1].split('#')[0])
      .filter((t) => t !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(t))
      .map((t) => path.posix.normalize(t).replace(/\/$/, ''));
    expect(targets.length).toBeGreaterThan(0);
    const missing = targets.filter((t) => !entries.some((e) => e === `package/${t}` || e.startsWith(`package/${t}/`)));
    expect(missing).toEqual([]);
  });

  test('says where the project lives: repository, homepage and bugs', () => {
    const pkg = JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf8'));
    expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/.+\.git$/) });
    const web = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(pkg.homepage).toBe(`${web}#readme`);
    expect(pkg.bugs).toEqual({ url: `${web}/issues` });
  });

  test('refuses to pack where it cannot build the prebuild, saying why; no tarball is made', async () => {
    const packs = mkdtempSync(path.join(work, 'refused-'));
    const result = await run(path.join(bin, 'npm'), ['pack', '--pack-destination', packs], { cwd: source, env: bare });
    expect(result.code).not.toBe(0);
    const said = result.stdout + result.stderr;
    expect(said).toMatch(/posix-ipc: cannot build the prebuilt addon for linux-x64, so the package is not packed/);
    expect(said).toMatch(/not found on PATH: python3, make, a C\+\+ compiler \(c\+\+, g\+\+ or clang\+\+\), strip/);
    expect(readdirSync(packs)).toEqual([]);
  });
});

describe('the installed package', () => {
  test('was installed on a PATH that reaches no compiler, make or python', () => {
    expect(toolchain.filter((command) => which(command, bare.PATH))).toEqual([]);
    expect(readdirSync(bin).sort()).toEqual(['node', 'npm', 'sh']);
  });

  test('has no build/ directory: nothing was compiled on install', () => {
    expect(existsSync(path.join(installed, 'build'))).toBe(false);
    expect(readdirSync(path.join(installed, 'prebuilds', platformDir)).filter((f) => f.endsWith('.node')).length).toBeGreaterThanOrEqual(1);
  });

  test('works from CommonJS, loading the prebuild', async () => {
    const n = name();
    const script = `const { Channel, SharedMemory } = require('posix-ipc'); (async () => { ${scenario(n, "require.resolve('posix-ipc')")} })();`;
    const { stdout } = await sh(app, 'node', ['-e', script], bare);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ text: 'hello from the tarball', size: 4096, closed: true });
    expect(out.channel).toEqual({ sent: true, received: 'ping through the ring', closed: true });
    expect(out.resolved).toBe(path.join(installed, 'dist', 'index.js'));
    expect(out.addons).toHaveLength(1);
    expect(path.dirname(out.addons[0])).toBe(path.join(installed, 'prebuilds', platformDir));
    expect(existsSync(`/dev/shm${n}`)).toBe(false);
  });

  test('works from ESM, loading the prebuild', async () => {
    const n = name();
    const script = `import { Channel, SharedMemory } from 'posix-ipc'; ${scenario(n, "import.meta.resolve('posix-ipc')")}`;
    const { stdout } = await sh(app, 'node', ['--input-type=module', '-e', script], bare);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ text: 'hello from the tarball', size: 4096, closed: true });
    expect(out.channel).toEqual({ sent: true, received: 'ping through the ring', closed: true });
    expect(out.resolved).toBe(`file://${path.join(installed, 'dist', 'index.mjs')}`);
    expect(out.addons).toHaveLength(1);
    expect(path.dirname(out.addons[0])).toBe(path.join(installed, 'prebuilds', platformDir));
    expect(existsSync(`/dev/shm${n}`)).toBe(false);
  });

  test('type-checks from CommonJS and ESM TypeScript, with real (not any) types, under @types/node 20 and the newest', async () => {
    const usage = `
      const shm: SharedMemory = SharedMemory.create('/typed', 4096, { mode: 0o600 });
      const size: number = shm.size;
      const err: IpcError | null = null;
      // @ts-expect-error The size is a number; with untyped declarations this line would compile.
      SharedMemory.create('/typed', '4096');
      const ch: Channel = Channel.create({ capacity: 4096 });
      const sent: boolean = ch.trySend('ping');
      const received: Buffer | null = ch.tryReceive();
      // @ts-expect-error tryReceive may find nothing: null must be handled under strict.
      received.toString();
      void size; void err; void sent;
    `;
    writeFileSync(path.join(app, 'check.cts'), `import { Channel, IpcError, SharedMemory } from 'posix-ipc';\n${usage}`);
    writeFileSync(path.join(app, 'check.mts'), `import { Channel, IpcError, SharedMemory } from 'posix-ipc';\n${usage}`);
    // A user's @types/node may be far newer than ours (26 renamed a type every class used to import).
    const newest = path.join(app, 'types-newest');
    mkdirSync(newest, { recursive: true });
    symlinkSync(path.join(root, 'node_modules', 'types-node-latest'), path.join(newest, 'node'));
    for (const typeRoot of [path.join(root, 'node_modules', '@types'), newest]) {
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
            typeRoots: [typeRoot],
          },
          files: ['check.cts', 'check.mts'],
        }),
      );
      await sh(app, 'node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], bare);
    }
  });

  test('installs the posix-ipc command, and it runs', async () => {
    const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(pkg.bin).toEqual({ 'posix-ipc': 'scripts/cli.js' });
    expect(entries).toContain('package/scripts/cli.js');
    const { stdout } = await sh(app, path.join(app, 'node_modules', '.bin', 'posix-ipc'), ['--help'], bare);
    expect(stdout).toMatch(/^Usage: posix-ipc /m);
  });

  test('runs the shared-memory chapter of the tour from the installed files', async () => {
    const { stdout } = await sh(app, path.join(app, 'node_modules', '.bin', 'posix-ipc'), ['tour', 'shared-memory'], bare);
    expect(stdout).toMatch(/^End of the tour\.$/m);
  });

  test('installs with install scripts on as well: its install step finds the prebuild and compiles nothing', async () => {
    const scripted = path.join(work, 'app-with-scripts');
    mkdirSync(scripted);
    writeFileSync(path.join(scripted, 'package.json'), JSON.stringify({ name: 'app-with-scripts', version: '1.0.0', private: true }));
    await sh(scripted, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], bare);
    expect(existsSync(path.join(scripted, 'node_modules', 'posix-ipc', 'build'))).toBe(false);
    const { stdout } = await sh(scripted, 'node', ['-p', "typeof require('posix-ipc').SharedMemory.create"], bare);
    expect(stdout.trim()).toBe('function');
  });
});

describe('without a native addon for this system', () => {
  let lacking: string; // a project whose posix-ipc has neither prebuilds/ nor build/

  beforeAll(() => {
    lacking = path.join(work, 'app-without-addon');
    cpSync(path.join(app, 'node_modules'), path.join(lacking, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    for (const dir of ['prebuilds', 'build']) rmSync(path.join(lacking, 'node_modules', 'posix-ipc', dir), { recursive: true, force: true });
  });

  /** What the message must say: the system as node-gyp-build matched it, where it looked, what ships, what to run. */
  function expectHelpfulMessage(message: string): void {
    const { platform, arch, versions } = process;
    expect(message).toContain(`posix-ipc has no native addon for ${platform}-${arch} (Node.js ${versions.node}, ABI ${versions.modules}, N-API ${versions.napi}, `);
    expect(message).toContain(`in ${path.join(lacking, 'node_modules', 'posix-ipc')}: none was found.`);
    expect(message).toContain('Prebuilt addons ship for linux-x64; this copy has none.');
    expect(message).toContain('Build it from source: `npm rebuild posix-ipc` (needs python3, make and a C++17 compiler).');
  }

  test('loading it from CommonJS throws ERR_IPC_NO_BINARY, naming the system and what to run', async () => {
    const script = `try { require('posix-ipc'); console.log('{}'); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: e.cause && e.cause.message })); }`;
    const { stdout } = await sh(lacking, 'node', ['-e', script], bare);
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ name: 'Error', code: 'ERR_IPC_NO_BINARY' });
    expectHelpfulMessage(out.message);
    expect(out.cause).toMatch(new RegExp(`^No native build was found for platform=${process.platform} arch=${process.arch} `));
  });

  // A static import, as ESM code writes it. (A dynamic import() inside try/catch would be caught and
  // then reported uncaught anyway, Node's bug with CommonJS behind ESM: nodejs/node#51603.)
  test('importing it from ESM fails with the same error, printed where the user sees it', async () => {
    const result = await run('node', ['--input-type=module', '-e', "import { SharedMemory } from 'posix-ipc'; console.log(typeof SharedMemory);"], { cwd: lacking, env: bare });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toMatch(/^Error: posix-ipc has no native addon/m);
    expectHelpfulMessage(result.stderr);
    expect(result.stderr).toContain("code: 'ERR_IPC_NO_BINARY'");
  });
});

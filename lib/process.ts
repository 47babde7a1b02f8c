/**
 * A JavaScript module run by this Node in a process of its own: `Process`
 * (start, join, pid, exit learned through a pidfd, signals sent through it,
 * resource limits, nice, dying with the parent), and, in such a process, the
 * parent that started it (`Process.parent`).
 * @packageDocumentation
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, invalidArgType, invalidArgValue, stateError } from './errors';
import { Cancel } from './internal/cancel';
import { ProcessLink } from './process-link';
import { reviveObject, shareObject, type SharedObject } from './internal/share';
import { assertInternal, type Internal, INTERNAL } from './internal/construct';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, LoopRef, socketPart, type Referable } from './internal/loop-ref';
import { AGAIN, Poller } from './internal/poller';
import { forget, reclaimOnCollect } from './internal/reclaim';
import {
  readArray, validateBoolean, validateFd, validateFile, validateInteger, validateOptions, validatePath,
  validateTimeout,
} from './internal/validate';
import { timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import { MAX_CHILD_FD, spawn, type Passable } from './spawn';
import type { Channel } from './channel';
import type { MessageQueue } from './message-queue';
import type { Mutex } from './mutex';
import type { PipeEnd } from './pipe';
import type { Semaphore } from './semaphore';
import type { SharedMemory } from './shared-memory';
import type { UnixSocket } from './unix-socket';

const { ESRCH } = osConstants.errno;

/** Resource limits a child sets on itself before its module runs (setrlimit(2); soft = hard). */
export interface ProcessLimits {
  /**
   * Bytes of private writable memory (RLIMIT_DATA: the JavaScript heap,
   * Buffers, malloc, thread stacks), at least 64 MiB; the JavaScript heap
   * also gets `--max-old-space-size` at three quarters of it (unless
   * `execArgv` names one), so a heap that grows too far ends in V8's "heap out
   * of memory" (SIGABRT) and a Buffer too large throws a RangeError.
   * RLIMIT_AS is not used: V8 and WebAssembly reserve far more address space
   * than they use, so a limit on it breaks `WebAssembly.Memory` (and so
   * `fetch`) long before memory is short.
   */
  memoryBytes?: number;
  /** Seconds of CPU time (RLIMIT_CPU): SIGXCPU then, SIGKILL a second later if SIGXCPU is handled. */
  cpuSeconds?: number;
  /** Descriptors (RLIMIT_NOFILE): opening one numbered at or above it fails with EMFILE. */
  openFiles?: number;
}

/** Where a child's stdin, stdout and stderr go: one for all three, or one each (a descriptor number: that one). */
export type ProcessStdio = ProcessStdioEntry | readonly ProcessStdioEntry[];
/** One of a child's standard streams: a pipe to this process, this process's own, /dev/null, or a descriptor. */
export type ProcessStdioEntry = 'pipe' | 'inherit' | 'ignore' | number;

/** Options of `new Process()`. */
export interface ProcessOptions {
  /** The module's arguments: its `process.argv` is `[process.execPath, file, ...args]`. */
  args?: readonly string[];
  /** The child's environment (default `process.env`); an entry whose value is undefined is left out. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The child's working directory (default: this process's). `file` is resolved against this process's. */
  cwd?: string;
  /** Default `'inherit'`; with `'pipe'`, `p.stdin`, `p.stdout`, `p.stderr` are streams. */
  stdio?: ProcessStdio;
  /** Resource limits, applied in the child before its module runs. */
  limits?: ProcessLimits;
  /** The child's nice value, -20 (most favoured; needs CAP_SYS_NICE to go below this process's) to 19. */
  nice?: number;
  /**
   * Node's own options for the child. Default: `process.execArgv`, as
   * `child_process.fork`, without those that choose what node runs (`-e`,
   * `-p`, `-i`, `-c`, `--test`, `--watch`).
   */
  execArgv?: readonly string[];
  /**
   * SIGKILL the child when this process dies, however it dies (PR_SET_PDEATHSIG,
   * set before the module runs; a child whose parent is already gone by then
   * kills itself at once). "This process" is, exactly, the thread that started
   * the child: in a worker_threads Worker, the Worker's thread. Default false.
   */
  dieWithParent?: boolean;
  /**
   * IPC objects for the child, by the names it will know them by: they arrive
   * open, of their own class, in `Process.parent.objects` (the same kernel
   * object: shared memory, a Channel, a queue, a Semaphore or Mutex — named, or
   * inside shared memory —, a Unix socket, a pipe end). The child uses no
   * descriptor numbers and no naming convention. Each is passed as it is when
   * `start()` runs; this process keeps its own. A child can be given 1,021
   * descriptors (the link takes 2 of them; an object takes at most one):
   * objects that need more are refused with `ERR_INVALID_ARG_VALUE`.
   */
  objects?: Readonly<Record<string, Shareable>>;
  /**
   * The message link (`p.channel` / `Process.parent.channel`): structured-clone
   * values both ways through shared memory. Default `true`; `{ capacity }` sets
   * the bytes of ring each way (a power of two, default 1 MiB); `false`: none.
   */
  channel?: boolean | { capacity?: number };
}

/** What can be passed to a child in `options.objects`. */
export type Shareable = SharedMemory | Channel | MessageQueue | Semaphore | Mutex | UnixSocket | PipeEnd;

/** How a process ended: its exit code, or the signal that killed it (the other is null). */
export interface ProcessExit {
  /** The code it exited with, or null when a signal killed it. */
  exitCode: number | null;
  /** The signal that killed it, or null when it exited. */
  signal: NodeJS.Signals | null;
}

/** Options of {@link Process.terminate}. */
export interface TerminateOptions {
  /** How long the child may take to exit after SIGTERM before SIGKILL. Default 5000. */
  graceMs?: number;
}

/** The environment variable that carries a child's {@link Description}; its bootstrap removes it. @internal */
export const DESCRIPTION_ENV = 'POSIX_IPC_PROCESS';

/** What the bootstrap (internal/process-child.ts) is told, as JSON in {@link DESCRIPTION_ENV}. @internal */
export interface Description {
  /** The pid of the process that started it. */
  parent: number;
  limits: ProcessLimits;
  nice: number | null;
  dieWithParent: boolean;
  /** What the child needs to take up the link and the objects (see ChildPlan). */
  plan: PlanData;
}

/**
 * What a child gets besides its description: descriptors at fixed numbers
 * (from 3: the link's two first, then each object's), and the data it needs
 * to make objects of them again (`data.channel`: the link's two numbers;
 * `data.objects`: `{ kind, fds, data }` by name, fds being the child's
 * numbers). `ParentProcess` takes them up in the child (adoptParent).
 */
interface ChildPlan {
  fds: Record<number, Passable>;
  data: PlanData;
}

/** The plan's data, as the child reads it (checked there: it comes through the environment). */
interface PlanData {
  channel?: [number, number];
  objects?: Record<string, SharedObject>;
}

const SIGNALS = osConstants.signals as Record<string, number>;
const MIB = 1024 * 1024;
const MIN_MEMORY = 64 * MIB;
const DEFAULT_GRACE_MS = 5000;
const STDIO_NAMES = ['pipe', 'inherit', 'ignore'];
const ENV_KEY = /^[^=\0]+$/;
/** A child's descriptor numbers: the first after stdio, and the largest spawn() (lib/spawn.ts) takes. */
const FIRST_CHILD_FD = 3;
/** The descriptors of the link ({@link ProcessLink.childFds}). */
const LINK_FDS = 2;

// Run from the TypeScript sources (the tests), the child still runs the
// compiled bootstrap: node cannot run a .ts file.
const BOOTSTRAP = __filename.endsWith('.ts')
  ? path.join(__dirname, '..', 'dist', 'internal', 'process-child.js')
  : path.join(__dirname, 'internal', 'process-child.js');

/**
 * Watches the pidfd `fd`: `onGone()` runs once it is readable (its process is
 * gone), unless the watcher is closed first. The Poller is the caller's to
 * close (before closing fd).
 */
function watchPidfd(fd: number, onGone: () => void): Poller {
  const poller = new Poller(fd, 'pidfd_open', null);
  const gone = () => (binding.pollNow(fd, binding.POLLIN) > 0 ? true : AGAIN);
  // No timeout is given: its error is never made.
  poller.wait(binding.UV_READABLE, gone, {}, () => new Error('unreachable')).then(onGone, () => undefined);
  return poller;
}

/**
 * Whether `pid`, a child not yet reaped, has ended (a zombie): the fallback of
 * a pidfd on kernels without pidfd_open. Not reaped, the pid is surely the
 * child's: Node reaps it and emits 'exit' in one go, and alive asks no more.
 */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  // "pid (comm) state ...": comm may hold anything, ')' too.
  return stat.charAt(stat.lastIndexOf(')') + 2) === 'Z';
}

/** A signal by name or number, checked; its number. */
function signalNumber(value: unknown, name: string): number {
  if (typeof value === 'string') {
    if (!Object.hasOwn(SIGNALS, value)) throw invalidArgValue(name, value, 'must be a signal name such as \'SIGTERM\'');
    return SIGNALS[value];
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type string or number', value);
  validateInteger(value, name, 0, 64);
  return value;
}

function stringList(value: unknown, name: string): string[] {
  const list = readArray(value, name);
  list.forEach((item, i) => {
    if (typeof item !== 'string') throw invalidArgType(`${name}[${i}]`, 'of type string', item);
    if (item.includes('\0')) throw invalidArgValue(`${name}[${i}]`, item, 'must not contain NUL characters');
  });
  return list as string[];
}

function validateStdio(value: unknown): ProcessStdioEntry[] {
  const entry = (item: unknown, name: string): ProcessStdioEntry => {
    if (typeof item === 'number') {
      validateFd(item, name);
      return item;
    }
    if (typeof item !== 'string' || !STDIO_NAMES.includes(item)) {
      throw invalidArgValue(name, item, "must be 'pipe', 'inherit', 'ignore' or a descriptor number");
    }
    return item as ProcessStdioEntry;
  };
  if (value === undefined) return ['inherit', 'inherit', 'inherit'];
  if (typeof value === 'string') return Array(3).fill(entry(value, 'options.stdio')) as ProcessStdioEntry[];
  const list = readArray(value, 'options.stdio');
  if (list.length > 3) throw invalidArgValue('options.stdio', value, 'must have at most 3 entries');
  const out = list.map((item, i) => entry(item, `options.stdio[${i}]`));
  while (out.length < 3) out.push('inherit');
  return out;
}

function validateEnv(value: unknown): Record<string, string> {
  if (value === undefined) value = process.env;
  const given = validateOptions(value as Record<string, unknown>, 'options.env');
  const env: Record<string, string> = {};
  for (const [key, item] of Object.entries(given)) {
    if (item === undefined) continue;
    const name = `options.env['${key}']`;
    if (!ENV_KEY.test(key)) throw invalidArgValue(name, key, "must be a name without '=' or NUL characters");
    if (typeof item !== 'string') throw invalidArgType(name, 'of type string', item);
    if (item.includes('\0')) throw invalidArgValue(name, item, 'must not contain NUL characters');
    env[key] = item;
  }
  return env;
}

// Options that say what node runs instead of the bootstrap (with the value
// after them, for the first four): inherited, they would run this process's
// script again, and start another Process, and another (child_process.fork
// drops -e for the same reason).
const NOT_INHERITED = ['-e', '--eval', '-p', '--print', '-i', '--interactive', '-c', '--check', '--test', '--watch'];

/** process.execArgv without the options that choose what node runs. */
function inheritedExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const [option] = argv[i].split('=', 1);
    if (option === '-pe' || option === '--watch-path' || option.startsWith('--test-')) continue;
    if (!NOT_INHERITED.includes(option)) out.push(argv[i]);
    else if (NOT_INHERITED.indexOf(option) < 4 && !argv[i].includes('=')) i++;
  }
  return out;
}

function validateLimits(value: unknown): ProcessLimits {
  const { memoryBytes, cpuSeconds, openFiles } = validateOptions(value as ProcessLimits | undefined, 'options.limits');
  const limits: ProcessLimits = {};
  if (memoryBytes !== undefined) {
    validateInteger(memoryBytes, 'options.limits.memoryBytes', MIN_MEMORY, Number.MAX_SAFE_INTEGER);
    limits.memoryBytes = memoryBytes;
  }
  if (cpuSeconds !== undefined) {
    validateInteger(cpuSeconds, 'options.limits.cpuSeconds', 1, 2 ** 31 - 1);
    limits.cpuSeconds = cpuSeconds;
  }
  if (openFiles !== undefined) {
    validateInteger(openFiles, 'options.limits.openFiles', 1, 2 ** 31 - 1);
    limits.openFiles = openFiles;
  }
  return limits;
}

/** Everything `new Process()` was given, checked and copied: what start() uses. */
interface Settings {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  stdio: ProcessStdioEntry[];
  limits: ProcessLimits;
  nice: number | null;
  execArgv: string[];
  dieWithParent: boolean;
  /** The objects by name, read once (each checked now, and shared again at start()). */
  objects: [string, unknown][];
  /** The link's ring bytes each way, or null for no link. */
  channel: { capacity?: number } | null;
}

/**
 * options.objects: a record of this package's open shareable objects
 * (shareObject checks each), whose descriptors must fit at the child's
 * numbers after the `reserved` ones (the link's): spawn() takes 3 to
 * MAX_CHILD_FD. Refused here, the user hears of the option they passed,
 * before start() opens anything.
 */
function validateObjects(value: unknown, reserved: number): [string, unknown][] {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object') throw invalidArgType('options.objects', 'of type object', value);
  const entries = Object.entries(validateOptions(value as Record<string, unknown>, 'options.objects'));
  let needed = 0;
  for (const [name, object] of entries) needed += shareObject(object, `options.objects.${name}`).fds.length;
  const room = MAX_CHILD_FD - FIRST_CHILD_FD + 1 - reserved;
  if (needed > room) {
    const link = reserved === 0 ? '' : `, less the link's ${reserved}`;
    throw invalidArgValue('options.objects', entries.length, `needs ${needed} descriptors, more than the ${room} a ` +
      `child can be given (at ${FIRST_CHILD_FD} to ${MAX_CHILD_FD}${link}); its number of entries`, true);
  }
  return entries;
}

function validateChannel(value: unknown): { capacity?: number } | null {
  if (value === undefined || value === true) return {};
  if (value === false) return null;
  if (value === null || typeof value !== 'object') {
    throw invalidArgType('options.channel', 'of type boolean or object', value);
  }
  const { capacity } = validateOptions(value as { capacity?: number }, 'options.channel');
  if (capacity !== undefined) validateInteger(capacity, 'options.channel.capacity', 64, 2 ** 30);
  return { capacity };
}

function settingsOf(file: unknown, options: ProcessOptions | undefined): Settings {
  const resolved = validateFile(file);
  const opts = validateOptions(options);
  const args = opts.args === undefined ? [] : stringList(opts.args, 'options.args');
  const execArgv = opts.execArgv === undefined ? inheritedExecArgv() : stringList(opts.execArgv, 'options.execArgv');
  const cwd = opts.cwd === undefined ? undefined : validatePath(opts.cwd, 'options.cwd');
  const { nice, dieWithParent = false } = opts;
  if (nice !== undefined) validateInteger(nice, 'options.nice', -20, 19);
  validateBoolean(dieWithParent, 'options.dieWithParent');
  const limits = validateLimits(opts.limits);
  const channel = validateChannel(opts.channel);
  // V8 learns its heap limit only from the command line.
  if (limits.memoryBytes !== undefined && !execArgv.some((a) => a.startsWith('--max-old-space-size'))) {
    execArgv.push(`--max-old-space-size=${Math.floor((limits.memoryBytes / MIB) * 0.75)}`);
  }
  return {
    file: resolved, args, env: validateEnv(opts.env), cwd, stdio: validateStdio(opts.stdio), limits,
    nice: nice ?? null, execArgv, dieWithParent, channel,
    objects: validateObjects(opts.objects, channel === null ? 0 : LINK_FDS),
  };
}

/**
 * A JavaScript module (CommonJS or ESM) run by this Node binary in a process
 * of its own: Python's `multiprocessing.Process`, for Node.
 *
 * ```js
 * const p = new Process('./worker.js', { args: ['7'], limits: { memoryBytes: 256 * 2 ** 20 } }).start();
 * const { exitCode, signal } = await p.join();
 * ```
 *
 * Its exit is learned through a pidfd (pidfd_open(2)): `alive` is false as
 * soon as the process is gone, and `kill()` goes through the pidfd, so a
 * signal can never reach a process that reused the pid. The exit code and
 * signal come from Node's child_process, which reaps the child: no zombie is
 * left. Without a pidfd (Linux before 5.3, or a seccomp profile that refuses
 * pidfd_open), the same calls work from child_process alone: `alive` asks
 * /proc (a zombie is gone), and signals go by pid, which stays the child's
 * until Node has reaped it.
 *
 * Emits `'exit'` `(exitCode, signal)` once, and `'error'` (only if listened
 * to; `join()` rejects with it anyway) when the process could not be started.
 */
export class Process extends EventEmitter implements AsyncDisposable, Disposable {
  readonly #settings: Settings;
  readonly #loopRef = new LoopRef();
  #child: ChildProcess | null = null;
  #link: ProcessLink | null = null;
  #pidfd = -1;
  #poller: Poller | null = null;
  #gone = false;
  #exit: ProcessExit | null = null;
  #failure: Error | null = null;
  readonly #ended: Promise<ProcessExit>;
  #settle!: { resolve(exit: ProcessExit): void; reject(err: Error): void };

  /**
   * Describes the process; nothing starts until {@link Process.start}. Every
   * option is checked here (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`).
   * @param file - The module to run: a path (resolved against this process's
   *   working directory) or a `file:` URL.
   */
  constructor(file: string | URL, options?: ProcessOptions) {
    const settings = settingsOf(file, options);
    super();
    this.#settings = settings;
    this.#ended = new Promise<ProcessExit>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Nobody may ever join: an unobserved spawn failure is not an unhandled rejection.
    this.#ended.catch(() => undefined);
  }

  /**
   * In a process started by {@link Process}: its parent (see
   * {@link ParentProcess}); null in any other process.
   */
  static get parent(): ParentProcess | null {
    return parentProcess;
  }

  /**
   * Starts the process (once: again is `ERR_INVALID_STATE`). Returns the
   * Process. A start() that throws (an object closed since the constructor,
   * or a spawn that fails at once, such as `E2BIG` for arguments too long)
   * leaves the Process as it was: not started, nothing of it left open, and
   * start() may be called again. A spawn that fails later (`ENOENT`, `EACCES`,
   * ...) is reported by `join()` and `'error'` instead.
   */
  start(): this {
    if (this.#child !== null) throw stateError('ERR_INVALID_STATE', 'The process was already started');
    const s = this.#settings;
    // The link is the only thing opened before spawn(): shareObject and the plan make no syscall.
    const link = s.channel === null ? null : ProcessLink.create(s.channel);
    let child: ChildProcess;
    try {
      const plan = this.#plan(link);
      const description: Description = {
        parent: process.pid, limits: s.limits, nice: s.nice, dieWithParent: s.dieWithParent, plan: plan.data,
      };
      child = spawn(process.execPath, [...s.execArgv, BOOTSTRAP, s.file, ...s.args], {
        cwd: s.cwd, env: { ...s.env, [DESCRIPTION_ENV]: JSON.stringify(description) }, stdio: s.stdio, fds: plan.fds,
      });
    } catch (err) {
      link?.close();
      throw err;
    }
    // The link's peer is this child, whatever pid its HELLO may name: its memfds are looked for in its /proc only.
    if (link !== null && child.pid !== undefined) link.peerPid = child.pid;
    this.#link = link;
    this.#child = child;
    child.once('exit', (code, signal) => this.#exited({ exitCode: code, signal }));
    child.on('error', (err) => {
      // Only a failed spawn ends the process with an error ('error' also
      // reports a kill() that failed, which kill() reports itself).
      if (child.pid === undefined) this.#failed(err);
    });
    this.#loopRef.attach(socketPart(child));
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      if (stream) this.#loopRef.attach(socketPart(stream as unknown as { ref(): void; unref(): void }));
    }
    if (child.pid !== undefined) this.#watch(child.pid);
    return this;
  }

  /** The plan of descriptors and data for the child (see {@link ChildPlan}): where objects and channel go. */
  #plan(link: ProcessLink | null): ChildPlan {
    const fds: Record<number, Passable> = {};
    const data: PlanData = {};
    let next = FIRST_CHILD_FD;
    const place = (fd: number) => {
      fds[next] = fd;
      return next++;
    };
    if (link !== null) data.channel = link.childFds().map(place) as [number, number];
    const objects: Record<string, SharedObject> = {};
    // Shared again now: an object may have been closed since the constructor checked it.
    for (const [name, value] of this.#settings.objects) {
      const shared = shareObject(value, `options.objects.${name}`);
      objects[name] = { ...shared, fds: shared.fds.map(place) };
    }
    if (this.#settings.objects.length > 0) data.objects = objects;
    return { fds, data };
  }

  /**
   * The message link with the child (`Process.parent.channel` there):
   * structured-clone values both ways. Null before start() and with
   * `channel: false`. It closes when the child exits, after what the child
   * sent is delivered to the listeners there are.
   */
  get channel(): ProcessLink | null {
    return this.#link;
  }

  /**
   * Opens the pidfd (libuv has not reaped the child yet: the pid is surely
   * its) and watches it: readable once the process is gone.
   */
  #watch(pid: number): void {
    const fd = binding.pidfdOpen(pid);
    // No pidfd (ENOSYS before Linux 5.3; EPERM from a container's seccomp profile; EMFILE): the child runs
    // already, and child_process alone still learns its end, so this only falls back.
    if (fd < 0) return;
    let poller: Poller;
    try {
      poller = watchPidfd(fd, () => void (this.#gone = true));
    } catch (err) {
      binding.close(fd);
      throw err;
    }
    this.#pidfd = fd;
    this.#poller = poller;
    this.#loopRef.attach(poller);
    reclaimOnCollect(this, { fds: [fd], poller });
  }

  #release(): void {
    if (this.#pidfd < 0) return;
    this.#loopRef.detach(this.#poller!);
    this.#poller!.close(() => stateError('ERR_IPC_CLOSED', 'exited'));
    forget(this);
    binding.close(this.#pidfd);
    this.#pidfd = -1;
    this.#poller = null;
  }

  #exited(exit: ProcessExit): void {
    this.#gone = true;
    this.#exit = exit;
    this.#release();
    this.#link?.peerGone();
    this.#settle.resolve(exit);
    this.emit('exit', exit.exitCode, exit.signal);
  }

  #failed(err: Error): void {
    this.#gone = true;
    this.#failure = err;
    this.#release();
    this.#link?.close();
    this.#settle.reject(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #started(what: string): ChildProcess {
    if (this.#child === null) throw stateError('ERR_INVALID_STATE', `${what}() needs a started process: call start()`);
    return this.#child;
  }

  /** The process id once started (undefined before, or if it could not be started). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The module's path. */
  get file(): string {
    return this.#settings.file;
  }

  /**
   * Whether the process runs now: false before start() and from the moment it
   * is gone (asked of its pidfd; without pidfd_open, of /proc: a zombie).
   */
  get alive(): boolean {
    if (this.#child === null || this.#gone || this.#child.pid === undefined) return false;
    const gone = this.#pidfd >= 0 ? binding.pollNow(this.#pidfd, binding.POLLIN) > 0 : isZombie(this.#child.pid);
    if (gone) this.#gone = true;
    return !this.#gone;
  }

  /** The exit code once it exited by itself, else null. */
  get exitCode(): number | null {
    return this.#exit?.exitCode ?? null;
  }

  /** The signal that killed it, else null. */
  get signalCode(): NodeJS.Signals | null {
    return this.#exit?.signal ?? null;
  }

  /** The child's stdin with `stdio: 'pipe'`, else null. */
  get stdin(): Writable | null {
    return this.#child?.stdin ?? null;
  }

  /** The child's stdout with `stdio: 'pipe'`, else null. */
  get stdout(): Readable | null {
    return this.#child?.stdout ?? null;
  }

  /** The child's stderr with `stdio: 'pipe'`, else null. */
  get stderr(): Readable | null {
    return this.#child?.stderr ?? null;
  }

  /**
   * Waits for the process to end: `{ exitCode, signal }` (at once if it has).
   * Rejects with `ETIMEDOUT` after `timeoutMs`, an `AbortError` when `signal`
   * aborts (the process runs on), the spawn error if it could not start, and
   * `ERR_INVALID_STATE` before start().
   */
  join(options?: WaitOptions): Promise<ProcessExit> {
    let wait: WaitOptions;
    try {
      wait = waitOptions(options);
      this.#started('join');
    } catch (err) {
      return Promise.reject(err);
    }
    const pid = this.pid;
    const cancel = new Cancel(wait, () => timedOut('waitid', null, wait.timeoutMs!, `process ${pid} to exit`));
    const ended = cancel.race(this.#ended);
    ended.then(cancel.dispose, cancel.dispose);
    return ended;
  }

  /**
   * Sends `signal` (default SIGTERM; a name or a number, 0 to ask whether
   * it runs) through the pidfd: true if sent, false once the process is gone.
   * Never reaches a process that reused the pid.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const number = signalNumber(signal, 'signal');
    const child = this.#started('kill');
    if (this.#exit !== null || this.#failure !== null || child.pid === undefined) return false;
    if (this.#pidfd < 0) return child.kill(number);
    const r = binding.pidfdSendSignal(this.#pidfd, number);
    if (r === -ESRCH) return false;
    check(r, 'pidfd_send_signal');
    return true;
  }

  /**
   * SIGTERM, then SIGKILL if the process has not exited after `graceMs`;
   * resolves as {@link Process.join} once it has.
   */
  async terminate(options?: TerminateOptions): Promise<ProcessExit> {
    const { graceMs = DEFAULT_GRACE_MS } = validateOptions(options);
    validateTimeout(graceMs, 'options.graceMs');
    this.#started('terminate');
    if (!this.kill('SIGTERM')) return this.join();
    try {
      return await this.join({ timeoutMs: graceMs });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ETIMEDOUT') throw err;
    }
    this.kill('SIGKILL');
    return this.join();
  }

  /** For `using`: SIGKILL if it runs (the `'exit'` event still follows). */
  [Symbol.dispose](): void {
    if (this.alive) this.kill('SIGKILL');
  }

  /** For `await using`: {@link Process.terminate} if it runs, with the default grace. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.alive) await this.terminate();
  }

  /** `Process { file, pid, alive, exitCode, signalCode }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const fields = {
      file: this.file, pid: this.pid, alive: this.alive, exitCode: this.exitCode, signalCode: this.signalCode,
    };
    return inspectHandle('Process', fields, depth, options);
  }

  static {
    implementRef(this, (self) => (#loopRef in self ? self.#loopRef : undefined));
  }
}

/** `ref()`/`unref()` (the child, its pipes and its pidfd's watcher follow them), and the events' listener types. */
export interface Process extends Referable {
  /** Once, when the process has ended: its exit code, or the signal that killed it (the other is null). */
  on(event: 'exit', listener: (exitCode: number | null, signal: NodeJS.Signals | null) => void): this;
  /** The process could not be started (join() rejects with the same error). */
  on(event: 'error', listener: (err: Error) => void): this;
  /** Any other event, as EventEmitter. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own signature.
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  /** As {@link Process.on}, once. */
  once(event: 'exit', listener: (exitCode: number | null, signal: NodeJS.Signals | null) => void): this;
  /** As {@link Process.on}, once. */
  once(event: 'error', listener: (err: Error) => void): this;
  /** Any other event, as EventEmitter, once. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EventEmitter's own signature.
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * In a process started by {@link Process}, `Process.parent`: the process
 * that started it. Emits `'exit'` once that process is gone (learned through
 * a pidfd of it; on Linux before 5.3, by watching `ppid` change), whether or
 * not the child asked to die with it. Listening does not keep the child
 * alive.
 */
export class ParentProcess extends EventEmitter {
  readonly #pid: number;
  readonly #objects: Readonly<Record<string, object>>;
  readonly #link: ProcessLink | null;
  #pidfd = -1;
  #poller: Poller | null = null;
  #timer: NodeJS.Timeout | null = null;
  #gone = false;
  #told = false;

  /** @internal */
  constructor(key: Internal, pid: number, objects: Readonly<Record<string, object>>, link: ProcessLink | null) {
    assertInternal(key);
    super();
    this.#pid = pid;
    this.#objects = objects;
    this.#link = link;
    this.on('newListener', (event, listener: () => void) => {
      if (event !== 'exit') return;
      // Told already: a listener that comes later is told on its own.
      if (this.#told) setImmediate(listener);
      else this.#watch();
    });
  }

  /** The parent's pid, as the parent gave it. */
  get pid(): number {
    return this.#pid;
  }

  /**
   * The IPC objects the parent passed in `options.objects`, by name, open and
   * of their own class (a `SharedMemory`, a `Channel`, a `Mutex` on the same
   * memory...). This process owns them: close them when done, or let exit do it.
   */
  get objects(): Readonly<Record<string, object>> {
    return this.#objects;
  }

  /**
   * The message link with the parent (`p.channel` there), or null when the
   * parent passed `channel: false`. `unref()` it in a child that should exit
   * once it has nothing else to do, as with `process.channel.unref()`.
   */
  get channel(): ProcessLink | null {
    return this.#link;
  }

  /** The parent's pid as this process sees it now (getppid(2)): another once the parent is gone (1, a subreaper). */
  get ppid(): number {
    return process.ppid;
  }

  /** Whether the parent still runs. */
  get alive(): boolean {
    if (!this.#gone && process.ppid !== this.#pid) this.#gone = true;
    return !this.#gone;
  }

  /**
   * Opens a pidfd of the parent once. It is surely the parent's if getppid()
   * still names it after the open: a parent that had died would have made
   * this process another's child first, before its pid could be reused.
   */
  #watch(): void {
    if (this.#pidfd >= 0 || this.#timer !== null) return;
    if (!this.alive) {
      this.#ended();
      return;
    }
    const fd = binding.pidfdOpen(this.#pid);
    if (fd < 0 && fd !== -ESRCH && process.ppid === this.#pid) {
      // No pidfd (ENOSYS, a seccomp profile's EPERM, EMFILE) while the parent lives: ask getppid() instead.
      this.#timer = setInterval(() => void (this.alive || this.#ended()), 100).unref();
      return;
    }
    if (fd < 0 || process.ppid !== this.#pid) {
      if (fd >= 0) binding.close(fd);
      this.#gone = true;
      this.#ended();
      return;
    }
    this.#pidfd = fd;
    try {
      this.#poller = watchPidfd(fd, () => this.#ended());
    } catch (err) {
      binding.close(fd);
      this.#pidfd = -1;
      throw err;
    }
    this.#poller.setRef(false);
  }

  /** Says so once, on a later turn (a listener being added is not in the list yet). */
  #ended(): void {
    if (this.#told) return;
    this.#told = true;
    this.#gone = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#poller !== null) {
      this.#poller.close(() => stateError('ERR_IPC_CLOSED', 'exited'));
      binding.close(this.#pidfd);
    }
    this.#poller = null;
    this.#pidfd = -1;
    setImmediate(() => this.emit('exit'));
  }

  /** `ParentProcess { pid, ppid, alive }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('ParentProcess', { pid: this.pid, ppid: this.ppid, alive: this.alive }, depth, options);
  }
}

let parentProcess: ParentProcess | null = null;

/**
 * Called once by the bootstrap, before the module runs: this process was
 * started by a Process. `plan` and the descriptors it names are where the
 * parent's objects and channel will be taken up.
 * @internal
 */
export function adoptParent(description: Description): ParentProcess {
  const { channel, objects } = validateOptions(description.plan, 'plan');
  let link: ProcessLink | null = null;
  if (channel !== undefined) {
    const [toChild, toParent] = readArray(channel, 'plan.channel');
    validateFd(toChild, 'plan.channel[0]');
    validateFd(toParent, 'plan.channel[1]');
    link = ProcessLink.adopt(toChild, toParent);
    link.peerPid = description.parent;
  }
  const revived: Record<string, object> = Object.create(null);
  if (objects !== undefined) {
    for (const [name, shared] of Object.entries(validateOptions(objects, 'plan.objects'))) {
      const { kind, fds, data } = validateOptions(shared, `plan.objects.${name}`);
      revived[name] = reviveObject(kind, fds, data);
    }
  }
  parentProcess = new ParentProcess(INTERNAL, description.parent, Object.freeze(revived), link);
  return parentProcess;
}

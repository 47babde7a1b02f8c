/**
 * The thread runtime of a `Pool` (`runtime: 'thread'`): a pool worker as a
 * `worker_threads` Worker running internal/pool-worker.ts, behind the same
 * {@link WorkerHost} as a process worker (internal/pool-process.ts), talking
 * over a {@link ProcessLink} as a process worker does. The thread's link owns
 * duplicates of the parent's two descriptors (made in the thread, so its
 * environment's teardown closes them): closing either side never closes the
 * other's.
 * @packageDocumentation
 */
import * as path from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { binding } from '../binding';
import { check, invalidArgValue } from '../errors';
import { ProcessLink } from '../process-link';
import { sendCompact } from './pool-compact';
import { checkProcessWorker, type WorkerFactory, type WorkerSettings } from './pool-process';
import { timedOut } from './wait';

// Run from the TypeScript sources (the tests), the threads still run compiled JavaScript.
const WORKER = __filename.endsWith('.ts')
  ? path.join(__dirname, '..', '..', 'dist', 'internal', 'pool-worker.js')
  : path.join(__dirname, 'pool-worker.js');

/** The key of `workerData` a pool thread is started with. */
const DATA_KEY = 'posixIpcPoolThread';
/** What the thread posts once its link owns its own descriptors (the parent may close its own from then on). */
const ADOPTED = 'posix-ipc:pool-thread-adopted';
const MIB = 2 ** 20;
/** The share of `limits.memoryBytes` given to the thread's old generation (as a process worker's heap). */
const HEAP_SHARE = 0.75;

/** What a pool thread is started with. */
interface ThreadData {
  fds: [toChild: number, toParent: number];
  file: string;
  memoryBytes: number;
}

/**
 * Checks the settings for a thread: what cannot apply to one thread is
 * refused (`ERR_INVALID_ARG_VALUE`): `limits.cpuSeconds` and
 * `limits.openFiles` (rlimits are the whole process's), `nice` (a thread
 * shares its process's priority in Node's view: setPriority names a
 * process), `cwd` (threads share the process's working directory); the rest
 * is checked as for a process worker. Starts nothing.
 */
export function checkThreadWorker(settings: WorkerSettings): void {
  const why = 'cannot apply to one thread (runtime \'thread\')';
  const { limits, nice, cwd } = settings;
  if (limits?.cpuSeconds !== undefined) throw invalidArgValue('options.limits.cpuSeconds', limits.cpuSeconds, why);
  if (limits?.openFiles !== undefined) throw invalidArgValue('options.limits.openFiles', limits.openFiles, why);
  if (nice !== undefined) throw invalidArgValue('options.nice', nice, why);
  if (cwd !== undefined) throw invalidArgValue('options.cwd', cwd, `${why}: threads share the process's`);
  checkProcessWorker(settings);
  checkExecArgv(settings.execArgv);
}

/**
 * Node's own verdict on `execArgv` for a thread: `new Worker()` throws `ERR_WORKER_INVALID_EXEC_ARGV` (the cause of
 * the `ERR_INVALID_ARG_VALUE` thrown here) for an option a thread does not take, before the thread starts. Taken
 * with a Worker made for that and ended at once (only when there are options to check): refused later, each task
 * would fail `ERR_IPC_WORKER_DIED` with no word of why.
 */
function checkExecArgv(execArgv: readonly string[] | undefined): void {
  if (execArgv === undefined || execArgv.length === 0) return;
  let probe: Worker;
  try {
    probe = new Worker('', { eval: true, execArgv: [...execArgv] });
  } catch (cause) {
    const reason = `is refused by worker_threads (${(cause as Error).message})`;
    throw Object.assign(invalidArgValue('options.execArgv', execArgv, reason), { cause });
  }
  probe.unref();
  void probe.terminate();
}

/** The Worker's options for the settings: env, execArgv, and the heap limit from `limits.memoryBytes`. */
function threadOptions(settings: WorkerSettings, data: ThreadData): ConstructorParameters<typeof Worker>[1] {
  const { env, execArgv, limits } = settings;
  const options: ConstructorParameters<typeof Worker>[1] = { workerData: { [DATA_KEY]: data } };
  if (env !== undefined) {
    options.env = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  }
  if (execArgv !== undefined) options.execArgv = [...execArgv];
  if (limits?.memoryBytes !== undefined) {
    const heapMb = Math.max(1, Math.floor((limits.memoryBytes / MIB) * HEAP_SHARE));
    options.resourceLimits = { maxOldGenerationSizeMb: heapMb };
  }
  return options;
}

/**
 * A worker thread. It exits with its code (`signal` is always null: a
 * signal reaches the whole process); an uncaught error ends it with code 1,
 * and Node's `ERR_WORKER_OUT_OF_MEMORY` (its heap reached its limit) is
 * reported as out of memory. `kill()` is `worker.terminate()`, which stops
 * even a task that never yields. Until the thread has its own descriptors,
 * a hang-up waits (closing ours earlier could let the thread duplicate a
 * number already reused).
 */
export const startThreadWorker: WorkerFactory = (settings, events) => {
  const link = ProcessLink.create();
  // The peer is a thread of this very process: its memfds are in this process's /proc, whatever a HELLO says.
  link.peerPid = process.pid;
  const memoryBytes = settings.limits?.memoryBytes ?? 0;
  const data: ThreadData = { fds: link.childFds(), file: settings.file, memoryBytes };
  let worker: Worker | null = null;
  let alive = true;
  let adopted = false;
  let hangUpPending = false;
  let outOfMemory = false;
  let gone: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => (gone = resolve));
  const end = (exitCode: number | null) => {
    if (!alive) return;
    alive = false;
    // What the thread sent before it ended (its last answers) is taken first: it loses none.
    link.peerGone();
    gone();
    events.exit({ exitCode, signal: null, outOfMemory });
  };
  try {
    worker = new Worker(WORKER, threadOptions(settings, data));
    worker.on('message', (message: unknown) => {
      if (message !== ADOPTED) return;
      adopted = true;
      if (hangUpPending) link.close();
    });
    worker.on('error', (err: unknown) => {
      if ((err as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') outOfMemory = true;
    });
    worker.once('exit', end);
  } catch {
    // Refused by Node (an execArgv a thread does not take): it ends at once, as a process that could not start.
    process.nextTick(() => end(null));
  }
  link.on('message', (value: unknown) => events.message(value));
  link.onRaw = (bytes) => events.answer(bytes);
  // A link that fails ends with its thread, whose exit says why.
  link.on('error', () => undefined);
  return {
    pid: process.pid,
    get alive() {
      return alive;
    },
    send: (value) => link.send(value),
    trySendRaw: (bytes) => sendCompact(link, bytes),
    kill: () => void worker?.terminate(),
    hangUp: () => {
      if (adopted || worker === null) link.close();
      else hangUpPending = true;
    },
    join: (timeoutMs) => {
      if (timeoutMs === undefined) return exited;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timedOut('join', settings.file, timeoutMs, 'the worker thread')), timeoutMs);
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    setRef: (ref) => {
      if (ref) {
        worker?.ref();
        link.ref();
      } else {
        worker?.unref();
        link.unref();
      }
    },
    takeWaiting: () => link.takeWaiting(),
  };
};

/**
 * In a pool thread: its link, over duplicates (F_DUPFD_CLOEXEC, made here)
 * of the parent's descriptors, which the parent is then told it may close;
 * null in any other thread.
 */
export function threadLink(): { link: ProcessLink; file: string; memoryBytes: number } | null {
  const data = (workerData as Record<string, ThreadData> | null)?.[DATA_KEY];
  if (data === undefined || parentPort === null) return null;
  const toChild = check(binding.dupFd(data.fds[0]), 'fcntl');
  let toParent: number;
  try {
    toParent = check(binding.dupFd(data.fds[1]), 'fcntl');
  } catch (err) {
    binding.close(toChild);
    throw err;
  }
  // Tracked by dupFd; the link adopts them (and so tracks them) itself.
  binding.releaseFd(toChild);
  binding.releaseFd(toParent);
  const link = ProcessLink.adopt(toChild, toParent);
  link.peerPid = process.pid;
  parentPort.postMessage(ADOPTED);
  return { link, file: data.file, memoryBytes: data.memoryBytes };
}

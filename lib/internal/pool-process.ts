/**
 * The one place a `Pool` touches processes: a pool worker as a `Process`
 * running internal/pool-worker.ts, behind the small {@link WorkerHost}
 * interface (send, kill, hang up, join, ref). Another runtime (worker_threads)
 * is another file with a function of the same shape, chosen in pool.ts.
 * @packageDocumentation
 */
import * as path from 'node:path';
import { Process, type ProcessExit, type ProcessOptions } from '../process';
import { sendCompact } from './pool-compact';

/** What every worker of a pool is started with: the user's module (resolved), and process options. */
export type WorkerSettings = { file: string } & Pick<ProcessOptions, 'limits' | 'nice' | 'env' | 'execArgv' | 'cwd'>;

/** How a worker ended, and whether it was for want of memory. */
export interface WorkerExit extends ProcessExit {
  /** The worker ran out of memory (see {@link startProcessWorker}). */
  outOfMemory: boolean;
}

/** What the pool hears from a worker. */
export interface WorkerEvents {
  /** A value the worker sent (an answer: checked by the pool, the worker may be hostile). */
  message(value: unknown): void;
  /**
   * A compact answer (internal/pool-compact.ts): a RAW frame of the worker's
   * link, in order with its values; a view valid only during the call.
   */
  answer(frame: Buffer): void;
  /** Once: the worker is gone (or could not start). */
  exit(exit: WorkerExit): void;
}

/** A started worker, whatever runs it. */
export interface WorkerHost {
  /** Its process id (undefined if it could not start). */
  readonly pid: number | undefined;
  /** Whether it runs now. */
  readonly alive: boolean;
  /** Sends a value to the worker; rejects `ERR_IPC_DATA_CLONE` for a value structured clone refuses. */
  send(value: unknown): Promise<void>;
  /** Sends a compact task (internal/pool-compact.ts) now, in order after what was sent: false if it cannot go now. */
  trySendRaw(bytes: Uint8Array): boolean;
  /** Stops it at once (SIGKILL: the only sure way to stop running JavaScript). */
  kill(): void;
  /** Asks it to exit once it has answered what it holds (its link closes). */
  hangUp(): void;
  /** Resolves once it is gone; rejects ETIMEDOUT after `timeoutMs`. */
  join(timeoutMs?: number): Promise<void>;
  /** Whether it keeps the event loop alive. */
  setRef(ref: boolean): void;
  /** Hands over now what it has already sent (its answers in the link's ring), as its events. */
  takeWaiting(): void;
}

/** Starts a worker for the given settings: a function of this shape per runtime. */
export type WorkerFactory = (settings: WorkerSettings, events: WorkerEvents) => WorkerHost;

// Run from the TypeScript sources (the tests), the workers still run compiled JavaScript.
const WORKER = __filename.endsWith('.ts')
  ? path.join(__dirname, '..', '..', 'dist', 'internal', 'pool-worker.js')
  : path.join(__dirname, 'pool-worker.js');

/**
 * The lines V8, Node and the C++ runtime print when memory runs out, before
 * they abort: a heap at its limit (`FATAL ERROR: ... out of memory`, V8's
 * `# Fatal process out of memory`), or an allocation refused by `RLIMIT_DATA`
 * where V8 or Node allocates with `new` (std::terminate on `std::bad_alloc`).
 * Whole lines from their start, as the runtime writes them: a task that logs
 * the words "out of memory" is not taken for one.
 */
const OOM_LINE = new RegExp(
  "^(?:FATAL ERROR: .*out of memory|#? ?Fatal process out of memory|#? ?Fatal JavaScript invalid size error|" +
    "terminate called after throwing an instance of 'std::bad_alloc')",
  'm',
);
/** How a process that ran out of memory ends: abort(), or V8's trap. */
const OOM_SIGNALS = new Set(['SIGABRT', 'SIGTRAP', 'SIGILL']);
/** Bytes of stderr kept from one chunk to the next, so a line cut in two is still seen. */
const OOM_TAIL = 128;
/** How long a worker's stderr may stay open after its exit before the exit is reported anyway. */
const STDERR_GRACE_MS = 1000;

function processOf(settings: WorkerSettings, stderr: 'pipe' | 'inherit'): Process {
  const { file, limits, nice, env, execArgv, cwd } = settings;
  // With a memory limit, the worker also watches its memory after each task (see pool-worker.ts).
  const args = limits?.memoryBytes === undefined ? [file] : [file, String(limits.memoryBytes)];
  const stdio: ['inherit', 'inherit', typeof stderr] = ['inherit', 'inherit', stderr];
  return new Process(WORKER, { args, limits, nice, env, execArgv, cwd, stdio });
}

/**
 * Checks the settings as `new Process()` does (`ERR_INVALID_ARG_TYPE`,
 * `ERR_INVALID_ARG_VALUE`), starting nothing.
 */
export function checkProcessWorker(settings: WorkerSettings): void {
  processOf(settings, 'inherit');
}

/**
 * A worker process. With a memory limit, its stderr comes through this
 * process (forwarded byte for byte to `process.stderr`) and is watched for
 * the line V8 or Node prints when memory runs out; a worker killed by a
 * signal after printing it ran out of memory. Its exit is reported once its
 * stderr has ended, so that line is never missed.
 */
export const startProcessWorker: WorkerFactory = (settings, events) => {
  const watch = settings.limits?.memoryBytes !== undefined;
  const p = processOf(settings, watch ? 'pipe' : 'inherit');
  let sawOom = false;
  let ended = false;
  let exit: ProcessExit | null = null;
  let stderrOpen = watch;
  const report = () => {
    if (ended || exit === null || stderrOpen) return;
    ended = true;
    events.exit({ ...exit, outOfMemory: sawOom && exit.signal !== null && OOM_SIGNALS.has(exit.signal) });
  };
  p.once('exit', (exitCode, signal) => {
    exit = { exitCode, signal };
    if (stderrOpen) {
      setTimeout(() => {
        stderrOpen = false;
        report();
      }, STDERR_GRACE_MS).unref();
    }
    report();
  });
  p.on('error', () => {
    exit = { exitCode: null, signal: null };
    stderrOpen = false;
    report();
  });
  p.start();
  if (watch && p.stderr !== null) {
    let tail = '';
    p.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      const text = tail + chunk.toString('latin1');
      if (OOM_LINE.test(text)) sawOom = true;
      tail = text.slice(-OOM_TAIL);
    });
    p.stderr.once('close', () => {
      stderrOpen = false;
      report();
    });
  }
  const link = p.channel!;
  link.on('message', (value: unknown) => events.message(value));
  link.onRaw = (bytes) => events.answer(bytes);
  // A link that fails ends with its worker, whose exit says why.
  link.on('error', () => undefined);
  return {
    get pid() {
      return p.pid;
    },
    get alive() {
      return p.alive;
    },
    send: (value) => link.send(value),
    trySendRaw: (bytes) => sendCompact(link, bytes),
    kill: () => void p.kill('SIGKILL'),
    hangUp: () => link.close(),
    join: async (timeoutMs) => {
      try {
        await p.join({ timeoutMs });
      } catch (err) {
        if (timeoutMs === undefined) return;
        throw err;
      }
    },
    setRef: (ref) => {
      if (ref) {
        p.ref();
        link.ref();
      } else {
        p.unref();
        link.unref();
      }
    },
    takeWaiting: () => link.takeWaiting(),
  };
};

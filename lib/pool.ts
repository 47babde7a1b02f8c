/**
 * Pool: a fixed number of worker processes (`Process`es running
 * internal/pool-worker.ts) that run the functions a module exports, tasks
 * queued first in, first out; a worker that dies fails only its own task and
 * is replaced; a task past its time or aborted has its worker killed.
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { InspectOptionsStylized } from 'node:util';
import { closedError, invalidArgType, stateError, type CodedError } from './errors';
import { armGiveUp } from './internal/cancel';
import { inspectCustom, inspectHandle } from './internal/inspect';
import type { PoolAnswer, SerializedError } from './internal/pool-worker';
import { validateFile, validateInteger, validateOptions } from './internal/validate';
import { timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import { Process, type ProcessExit, type ProcessLimits } from './process';

/** Options of `new Pool()`. */
export interface PoolOptions {
  /** The module whose exported functions the workers run (CommonJS or ESM): a path or a file: URL. */
  file: string | URL;
  /** How many worker processes, 1 to 1024. Default: `os.availableParallelism()`. */
  size?: number;
  /** Resource limits of each worker (as {@link ProcessOptions.limits}). */
  limits?: ProcessLimits;
  /** Each worker's nice value (as {@link ProcessOptions.nice}). */
  nice?: number;
}

/** Options of {@link Pool.run} and {@link Pool.broadcast}. */
export interface PoolRunOptions extends WaitOptions {
  /** The exported function to call. Default: the default export (for CommonJS, `module.exports` itself). */
  name?: string;
}

/** Counts of {@link Pool.stats}. */
export interface PoolStats {
  /** Worker processes running now. */
  alive: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks a worker is running now. */
  running: number;
  /** Tasks that resolved. */
  completed: number;
  /** Tasks that rejected once given to a worker (an error thrown, a death, a timeout, an abort). */
  failed: number;
}

/** The error of a task whose worker died: `code: 'ERR_IPC_WORKER_DIED'`, how it ended, and its pid. */
export interface WorkerDiedError extends Error, CodedError, ProcessExit {
  /** The worker's process id. */
  pid: number | undefined;
}

interface Task {
  id: number;
  name: string | undefined;
  args: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Stops the task's timeout and abort listener. */
  disarm(): void;
  /** The worker running it, once it runs. */
  worker: Worker | null;
  /** For a broadcast: the one worker it must run on. */
  target: Worker | null;
}

interface Worker {
  process: Process;
  task: Task | null;
  /** Broadcast tasks for this worker only, run before the shared queue's. */
  targeted: Task[];
  /** Died or being killed: given no more tasks. */
  dead: boolean;
  /** Killed by the pool (a task's timeout or abort). */
  killed: boolean;
  /** Answered at least once: its module loaded and it serves. */
  served: boolean;
}

type State = 'open' | 'closing' | 'stopping' | 'closed';

const MAX_SIZE = 1024;
const STOP_GRACE_MS = 5000;
/**
 * Workers in a row that may die before serving anything, with no task to run,
 * before the pool stops replacing them until a task comes (a module that
 * exits as it loads would otherwise have them replaced for ever).
 */
const START_FAILURES = 3;

// Run from the TypeScript sources (the tests), the workers still run compiled JavaScript.
const WORKER = __filename.endsWith('.ts')
  ? path.join(__dirname, '..', 'dist', 'internal', 'pool-worker.js')
  : path.join(__dirname, 'internal', 'pool-worker.js');

/** The error a task's worker answered with, made an Error again (checked: the worker may be hostile). */
function reviveError(data: SerializedError | null | undefined): Error {
  const text = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
  const d = (typeof data === 'object' && data !== null ? data : {}) as Partial<SerializedError>;
  const err = new Error(text(d.message, 'The task failed'));
  const props = typeof d.props === 'object' && d.props !== null ? d.props : {};
  for (const [key, value] of Object.entries(props)) {
    // Defined, not assigned: an own '__proto__' from the worker must not change the error's prototype.
    if (key !== 'stack' && key !== 'message' && key !== 'name') {
      Object.defineProperty(err, key, { value, writable: true, enumerable: true, configurable: true });
    }
  }
  err.name = text(d.name, 'Error');
  if (typeof d.stack === 'string') err.stack = d.stack;
  if ('value' in d) (err as Error & { value?: unknown }).value = d.value;
  return err;
}

function diedError(worker: Worker, exit: ProcessExit): WorkerDiedError {
  const pid = worker.process.pid;
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
  const err = stateError('ERR_IPC_WORKER_DIED', `The pool worker ${pid} ${how} while running the task`);
  return Object.assign(err, { exitCode: exit.exitCode, signal: exit.signal, pid });
}

/** A run's or broadcast's options, read once and checked. */
function runOptions(options: PoolRunOptions | undefined): { name: string | undefined; wait: WaitOptions } {
  const { name, signal, timeoutMs } = validateOptions(options);
  if (name !== undefined && typeof name !== 'string') throw invalidArgType('options.name', 'of type string', name);
  return { name, wait: waitOptions({ signal, timeoutMs }) };
}

/**
 * A pool of worker processes running the functions `file` exports:
 * `await pool.run(args, { name })` calls `name` (the default export when left
 * out) with `args` in a free worker and resolves with what it returns (or
 * rejects with what it throws: name, message, stack and own properties).
 * Arguments and results are structured-clone values, carried by each worker's
 * {@link ProcessLink}. Tasks wait first in, first out while every worker is
 * busy.
 *
 * **Crash isolation.** A worker that dies (exits, is killed, crashes) rejects
 * only the task it was running, with `code: 'ERR_IPC_WORKER_DIED'` (its
 * `exitCode`, `signal` and `pid`), and is replaced; other tasks go on.
 * A task past `timeoutMs`, or whose `signal` aborts, has its worker killed
 * (SIGKILL: the only sure way to stop running JavaScript) and replaced; it
 * rejects with `ETIMEDOUT` or an `AbortError`. A task still queued just leaves
 * the queue.
 *
 * The workers keep this process alive until {@link Pool.close} or
 * {@link Pool.destroy}.
 */
export class Pool implements Disposable, AsyncDisposable {
  readonly #file: string;
  readonly #size: number;
  readonly #limits: ProcessLimits | undefined;
  readonly #nice: number | undefined;
  readonly #workers = new Set<Worker>();
  readonly #queue: Task[] = [];
  #state: State = 'open';
  #nextId = 1;
  #running = 0;
  #completed = 0;
  #failed = 0;
  /** Settles close() once the pool is drained and its workers are gone. */
  #closed: Promise<void> | null = null;
  #drained: (() => void) | null = null;
  /** Workers in a row that died before serving, with no task (see START_FAILURES). */
  #startFailures = 0;

  /** Checks every option, then starts `size` workers (none starts if any option is wrong). */
  constructor(options: PoolOptions) {
    const { file, size = availableParallelism(), limits, nice } = validateOptions(options);
    this.#file = validateFile(file, 'options.file');
    validateInteger(size, 'options.size', 1, MAX_SIZE);
    this.#size = size;
    this.#limits = limits;
    this.#nice = nice;
    // Made first, started after: a Process checks its options when made, so a bad one starts nothing.
    const workers = Array.from({ length: size }, () => this.#newWorker());
    for (const worker of workers) this.#start(worker);
  }

  #newWorker(): Worker {
    const p = new Process(WORKER, { args: [this.#file], limits: this.#limits, nice: this.#nice });
    return { process: p, task: null, targeted: [], dead: false, killed: false, served: false };
  }

  /** Starts `worker`: its answers settle its task, its end fails its task and replaces it. */
  #start(worker: Worker): void {
    const p = worker.process;
    this.#workers.add(worker);
    let ended = false;
    const end = (exit: ProcessExit) => {
      if (ended) return;
      ended = true;
      this.#died(worker, exit);
    };
    p.once('exit', (exitCode, signal) => end({ exitCode, signal }));
    p.on('error', () => end({ exitCode: null, signal: null }));
    p.start();
    const link = p.channel!;
    link.on('message', (answer: PoolAnswer) => this.#answer(worker, answer));
    // A link that fails ends with its worker, whose exit says why.
    link.on('error', () => undefined);
  }

  /** The module the workers run. */
  get file(): string {
    return this.#file;
  }

  /** How many workers the pool keeps. */
  get size(): number {
    return this.#size;
  }

  /** Counts of workers and tasks, as they are now. */
  get stats(): PoolStats {
    let alive = 0;
    let queued = this.#queue.length;
    for (const worker of this.#workers) {
      if (worker.process.alive) alive++;
      queued += worker.targeted.length;
    }
    return { alive, queued, running: this.#running, completed: this.#completed, failed: this.#failed };
  }

  /**
   * Runs the exported function `options.name` (default: the default export)
   * with `args` in a worker; resolves with its result. Rejects with
   * `ERR_IPC_CLOSED` once close() or destroy() was called.
   */
  run(args?: unknown, options?: PoolRunOptions): Promise<unknown> {
    try {
      const { name, wait } = runOptions(options);
      if (this.#state !== 'open') throw closedError('The pool');
      return this.#submit(name, args, wait, null);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Runs `options.name` with `args` once in every worker running now (after
   * the tasks each was already given); resolves with their results, in the
   * workers' order.
   */
  broadcast(args?: unknown, options?: PoolRunOptions): Promise<unknown[]> {
    try {
      const { name, wait } = runOptions(options);
      if (this.#state !== 'open') throw closedError('The pool');
      const live = [...this.#workers].filter((worker) => !worker.dead);
      return Promise.all(live.map((worker) => this.#submit(name, args, wait, worker)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #submit(name: string | undefined, args: unknown, wait: WaitOptions, target: Worker | null): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.#nextId++, name, args, resolve, reject, disarm: () => undefined, worker: null, target,
      };
      const onTimeout = () => timedOut('run', this.#file, wait.timeoutMs!, 'the task');
      let aborted = false;
      task.disarm = armGiveUp(wait, onTimeout, (reason) => {
        aborted = true;
        this.#giveUp(task, reason);
      });
      // Aborted already: it has been rejected, and is queued nowhere.
      if (aborted) return;
      if (target !== null) target.targeted.push(task);
      else this.#queue.push(task);
      // Workers not replaced (they died as they started): a task is a reason to try again.
      while (target === null && this.#workers.size < this.#size) this.#start(this.#newWorker());
      if (target !== null) this.#dispatch(target);
      else for (const worker of this.#workers) if (this.#dispatch(worker)) break;
    });
  }

  /** Gives `worker` its next task if it is free; whether it took one. */
  #dispatch(worker: Worker): boolean {
    if (worker.dead || worker.task !== null) return false;
    const task = worker.targeted.shift() ?? this.#queue.shift();
    if (task === undefined) {
      this.#checkDrained();
      return false;
    }
    worker.task = task;
    task.worker = worker;
    this.#running++;
    worker.process.channel!.send({ id: task.id, name: task.name, args: task.args }).catch((err: unknown) => {
      // A value structured clone refuses fails its task only; any other failure is the worker's end.
      if ((err as CodedError).code !== 'ERR_IPC_DATA_CLONE' || worker.task !== task) return;
      this.#finish(worker, task);
      task.reject(err);
      this.#dispatch(worker);
    });
    return true;
  }

  /** The task `worker` ran is over (its promise is the caller's to settle). */
  #finish(worker: Worker, task: Task): void {
    worker.task = null;
    task.worker = null;
    task.disarm();
    this.#running--;
  }

  /** An answer from `worker`: for the task it runs, or ignored (a task given up since). */
  #answer(worker: Worker, answer: PoolAnswer): void {
    const task = worker.task;
    if (task === null || typeof answer !== 'object' || answer === null || answer.id !== task.id) return;
    worker.served = true;
    this.#finish(worker, task);
    if ('ok' in answer) {
      this.#completed++;
      task.resolve(answer.ok);
    } else {
      this.#failed++;
      task.reject(reviveError((answer as { error?: SerializedError }).error));
    }
    this.#dispatch(worker);
  }

  /** A timeout or abort: a queued task leaves its queue; a running one's worker is killed. */
  #giveUp(task: Task, reason: Error): void {
    const worker = task.worker;
    if (worker === null) {
      const queue = task.target?.targeted ?? this.#queue;
      const at = queue.indexOf(task);
      if (at >= 0) queue.splice(at, 1);
      task.reject(reason);
      this.#checkDrained();
      return;
    }
    this.#finish(worker, task);
    this.#failed++;
    task.reject(reason);
    worker.dead = true;
    worker.killed = true;
    // Its exit replaces it.
    worker.process.kill('SIGKILL');
  }

  /** `worker` ended: its task and those only it could run fail; it is replaced while there is work to do. */
  #died(worker: Worker, exit: ProcessExit): void {
    worker.dead = true;
    this.#workers.delete(worker);
    worker.process.channel?.close();
    const task = worker.task;
    if (task !== null) {
      this.#finish(worker, task);
      this.#failed++;
      task.reject(diedError(worker, exit));
    }
    for (const waiting of worker.targeted.splice(0)) {
      waiting.disarm();
      waiting.reject(diedError(worker, exit));
    }
    if (worker.served || worker.killed || task !== null) this.#startFailures = 0;
    else this.#startFailures++;
    // Closing, a worker is needed only for tasks still queued.
    const queued = this.#queue.length > 0;
    const open = this.#state === 'open' && (queued || this.#startFailures < START_FAILURES);
    if (this.#state === 'closing' ? queued : open) {
      const replacement = this.#newWorker();
      this.#start(replacement);
      this.#dispatch(replacement);
    }
    this.#checkDrained();
  }

  /** While closing: once nothing is queued or running, stops the workers. */
  #checkDrained(): void {
    if (this.#state !== 'closing' || this.#running > 0 || this.#queue.length > 0) return;
    this.#state = 'stopping';
    this.#drained?.();
  }

  /**
   * Runs every task given so far, then stops the workers (each told through
   * its link, SIGKILLed if it has not exited 5 s later). New tasks reject with
   * `ERR_IPC_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    if (this.#state === 'closed') return (this.#closed = Promise.resolve());
    this.#state = 'closing';
    const drained = new Promise<void>((resolve) => (this.#drained = resolve));
    this.#checkDrained();
    this.#closed = drained.then(() => this.#stop(false));
    return this.#closed;
  }

  /**
   * Stops now: every queued and running task rejects with `ERR_IPC_CLOSED`,
   * every worker is SIGKILLed; resolves once all have exited. Idempotent.
   */
  destroy(): Promise<void> {
    this.#state = 'stopping';
    const closed = closedError('The pool');
    for (const task of this.#queue.splice(0)) {
      task.disarm();
      task.reject(closed);
    }
    for (const worker of this.#workers) {
      for (const waiting of worker.targeted.splice(0)) {
        waiting.disarm();
        waiting.reject(closed);
      }
      const task = worker.task;
      if (task !== null) {
        this.#finish(worker, task);
        this.#failed++;
        task.reject(closed);
      }
    }
    const stopped = this.#stop(true);
    this.#drained?.();
    return stopped;
  }

  /** Ends every worker (at once with `kill`, else through its link first); resolves once all are gone. */
  async #stop(kill: boolean): Promise<void> {
    const workers = [...this.#workers];
    for (const worker of workers) {
      worker.dead = true;
      if (kill) worker.process.kill('SIGKILL');
      else worker.process.channel?.close();
    }
    await Promise.all(workers.map(async (worker) => {
      const p = worker.process;
      try {
        await p.join({ timeoutMs: kill ? undefined : STOP_GRACE_MS });
      } catch {
        p.kill('SIGKILL');
        await p.join().catch(() => undefined);
      }
    }));
    this.#state = 'closed';
  }

  /** For `using`: {@link Pool.destroy} (the workers are killed; their exits follow). */
  [Symbol.dispose](): void {
    void this.destroy();
  }

  /** For `await using`: {@link Pool.close} (drains first). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** `Pool { file, size, alive, queued, running, state }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const { alive, queued, running } = this.stats;
    const fields = { file: this.#file, size: this.#size, alive, queued, running, state: this.#state };
    return inspectHandle('Pool', fields, depth, options);
  }
}

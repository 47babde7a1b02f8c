/**
 * Pool: worker processes (see internal/pool-process.ts) that run the
 * functions a module exports: tasks queued first in, first out and sent a few
 * ahead to each worker; a worker that dies fails only the task it was
 * running and is replaced; a task past its time or aborted has its worker
 * killed. The pool grows from `min` to `max` workers while tasks wait.
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { serialize } from 'node:v8';
import { closedError, invalidArgType, invalidArgValue, stateError, type CodedError } from './errors';
import { armGiveUp } from './internal/cancel';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, LoopRef, type LoopRefPart, type Referable } from './internal/loop-ref';
import { answerId, answerValue, sendTasks } from './internal/pool-compact';
import { mapOrdered, type Settle } from './internal/pool-map';
import {
  checkProcessWorker, startProcessWorker, type WorkerExit, type WorkerFactory, type WorkerHost,
  type WorkerSettings,
} from './internal/pool-process';
import { checkThreadWorker, startThreadWorker } from './internal/pool-thread';
import { LatencyWindow, Utilisation, WorkerClock } from './internal/pool-stats';
import type { PoolAnswer, PoolTask, SerializedError } from './internal/pool-worker';
import { readArray, validateFile, validateInteger, validateOptions, validateTimeout } from './internal/validate';
import { timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import type { ProcessExit, ProcessLimits } from './process';

/** Options of `new Pool()`. */
export interface PoolOptions {
  /** The module whose exported functions the workers run (CommonJS or ESM): a path or a file: URL. */
  file: string | URL;
  /**
   * What each worker is: `'process'` (the default), a child process, or
   * `'thread'`, a `worker_threads` Worker in this process. Both run the same
   * module behind the same API, tasks and results travelling over the
   * same {@link ProcessLink} (two anonymous Channels). A thread starts
   * faster and costs less memory, but is not isolated: a crash of native
   * code (SIGSEGV, abort) or `process.kill(process.pid)` takes the whole
   * process down, pool and all, where a process worker fails one task.
   * `process.exit()` in a thread ends that thread only (its task rejects
   * `ERR_IPC_WORKER_DIED`, with this process's pid and `signal: null`).
   *
   * With `'thread'`: `limits.memoryBytes` limits the thread's JavaScript heap
   * (`resourceLimits.maxOldGenerationSizeMb`, three quarters of it, as a
   * process worker's `--max-old-space-size`; Buffers and native memory are
   * the process's and not limited); a thread whose heap runs out fails its
   * task with `ERR_IPC_WORKER_OUT_OF_MEMORY`. `env` and `execArgv` become
   * the Worker's. `limits.cpuSeconds`, `limits.openFiles`, `nice` and `cwd`
   * are refused (`ERR_INVALID_ARG_VALUE`, before anything starts): rlimits,
   * priority and the working directory belong to the whole process, not to
   * one thread. A timeout or abort stops the thread with
   * `worker.terminate()`.
   */
  runtime?: 'process' | 'thread';
  /**
   * How many worker processes: a number (1 to 1024) for a fixed pool, or
   * `{ min, max }` (0 <= min <= max, 1 <= max <= 1024): `min` are kept, and
   * the pool grows towards `max` while tasks wait. Default:
   * `os.availableParallelism()`.
   */
  size?: number | { min?: number; max?: number };
  /**
   * Milliseconds a worker above `min` may stay idle before it exits (0 to
   * 2^31 - 1). Default 30000.
   */
  idleTimeoutMs?: number;
  /**
   * How many tasks may wait that no worker has taken (each worker takes up
   * to 16 ahead of the one it runs, see {@link Pool}); `run()` beyond it
   * rejects with `ERR_IPC_QUEUE_FULL`, nothing queued. Default Infinity.
   */
  maxQueue?: number;
  /**
   * Resource limits of each worker (as {@link ProcessOptions.limits}). With
   * `memoryBytes`, a worker that runs out of memory fails its task with
   * `ERR_IPC_WORKER_OUT_OF_MEMORY`, and a worker whose heap is above 90% of
   * its limit after a task is replaced (the task resolves).
   */
  limits?: ProcessLimits;
  /** Each worker's nice value (as {@link ProcessOptions.nice}). */
  nice?: number;
  /** Each worker's environment (as {@link ProcessOptions.env}). Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Node's options for each worker (as {@link ProcessOptions.execArgv}). */
  execArgv?: readonly string[];
  /** Each worker's working directory (as {@link ProcessOptions.cwd}). `file` is resolved against this process's. */
  cwd?: string;
}

/** Options of {@link Pool.run} and {@link Pool.broadcast}. */
export interface PoolRunOptions extends WaitOptions {
  /** The exported function to call. Default: the default export (for CommonJS, `module.exports` itself). */
  name?: string;
}

/** Options of {@link Pool.map}. */
export interface PoolMapOptions {
  /** The exported function to call for each input (as {@link PoolRunOptions.name}). */
  name?: string;
  /**
   * Most tasks in flight at once (1 to 2^31 - 1). Default: the pool's `max`
   * size times 256, so that every worker holds a full window of a map's
   * tasks (a map's window is 256, see {@link Pool}).
   */
  concurrency?: number;
  /** Ends the iteration with an AbortError (tasks in flight run to their end, their results dropped). */
  signal?: AbortSignal;
  /** Each task's time limit, as {@link PoolRunOptions.timeoutMs}. */
  timeoutMs?: number;
}

/** Counts of {@link Pool.stats}. */
export interface PoolStats {
  /** Workers (processes, or threads with `runtime: 'thread'`) running now. */
  alive: number;
  /** Tasks no worker has taken yet. */
  queued: number;
  /** Tasks workers hold now: running, or sent ahead to run next. */
  running: number;
  /** Tasks that resolved. */
  completed: number;
  /** Tasks that rejected once given to a worker (an error thrown, a death, a timeout, an abort). */
  failed: number;
  /**
   * Median latency in milliseconds (from `run()` to the worker's answer) of
   * the last 1,000 tasks a worker answered; 0 before any.
   */
  p50: number;
  /** 99th percentile latency in milliseconds, over the same tasks as `p50`. */
  p99: number;
  /** Busy worker-time over alive worker-time since the pool started, 0 to 1 (busy: holding a task). */
  utilisation: number;
}

/** The error of a task whose worker died: `code: 'ERR_IPC_WORKER_DIED'`, how it ended, and its pid. */
export interface WorkerDiedError extends Error, CodedError, ProcessExit {
  /** The worker's process id. */
  pid: number | undefined;
}

/**
 * The error of a task whose worker ran out of memory:
 * `code: 'ERR_IPC_WORKER_OUT_OF_MEMORY'`, how it ended, its pid, and the limit.
 */
export interface WorkerOutOfMemoryError extends WorkerDiedError {
  /** The worker's `limits.memoryBytes`. */
  memoryBytes: number | undefined;
}

interface Task {
  id: number;
  name: string | undefined;
  args: unknown;
  /** Called as a method: a map's tasks share one function that reads `index` and `settle`. */
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Stops the task's timeout and abort listener. */
  disarm(): void;
  /** The worker holding it, once sent. */
  worker: Worker | null;
  /** For a broadcast: the one worker it must run on. */
  target: Worker | null;
  /** It can time out or be aborted: sent only to a worker that holds nothing, so that it runs at once. */
  exclusive: boolean;
  /** performance.now() at run(). */
  born: number;
  /** Most tasks a worker may hold while this one is the next it takes (larger for a map's). */
  window: number;
  /** A map's task: its place in the map, and the map's outcome callback; else -1 and null. */
  index: number;
  settle: Settle | null;
}

/** The resolve and reject of every task of a map: its outcome goes to the map's {@link Settle}, at its place. */
function settleResolve(this: Task, value: unknown): void {
  this.settle!(this.index, true, value);
}
function settleReject(this: Task, err: unknown): void {
  this.settle!(this.index, false, err);
}
const noop = (): void => undefined;

interface Worker {
  host: WorkerHost;
  /** Tasks sent and not answered, in the order sent: the first is the one running. */
  held: Task[];
  /** Broadcast tasks for this worker only, taken before the shared queue's. */
  targeted: Task[];
  /** Died, being killed, recycled or retired: given no more tasks. */
  dead: boolean;
  /** Killed by the pool (a task's timeout or abort): the task it ran has been settled. */
  killed: boolean;
  /** Exits after its last answer (its heap is near its limit, or it idled): what it holds goes to others. */
  leaving: boolean;
  /** Answered at least once: its module loaded and it serves. */
  served: boolean;
  /** The id of the task it was running when the pool gave that task up (a timeout, an abort); else -1. */
  abandoned: number;
  /** The abandoned task's answer came after all: the task after it may have started, and must not run again. */
  answeredLate: boolean;
  /**
   * Its answers are being handed over now (what they settle may run code that gives up another of its tasks): its
   * link is not to be read again from within.
   */
  reading: boolean;
  clock: WorkerClock;
  idleTimer: NodeJS.Timeout | null;
  part: LoopRefPart;
}

type State = 'open' | 'closing' | 'stopping' | 'closed';

const MAX_SIZE = 1024;
const STOP_GRACE_MS = 5000;
const DEFAULT_IDLE_MS = 30_000;
/**
 * Tasks a worker holds at most: the one it runs and those sent ahead
 * (pipelining); more when a map's tasks are the next it takes (a map has
 * many: fewer, larger messages, fewer wake-ups each way).
 */
const [WINDOW, MAP_WINDOW] = [16, 256];
/**
 * Workers in a row that may die before serving anything, with no task to run,
 * before the pool stops replacing them until a task comes (a module that
 * exits as it loads would otherwise have them replaced for ever).
 */
const START_FAILURES = 3;

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

/** `ERR_IPC_WORKER_DIED`, or `ERR_IPC_WORKER_OUT_OF_MEMORY` when it ran out of memory. */
function diedError(worker: Worker, exit: WorkerExit, memoryBytes: number | undefined): WorkerDiedError {
  const pid = worker.host.pid;
  const how = exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
  const fields = { exitCode: exit.exitCode, signal: exit.signal, pid };
  if (exit.outOfMemory) {
    const message = `The pool worker ${pid} ran out of memory (limits.memoryBytes ${memoryBytes}) ` +
      `while running the task: ${how}`;
    return Object.assign(stateError('ERR_IPC_WORKER_OUT_OF_MEMORY', message), fields, { memoryBytes });
  }
  const err = stateError('ERR_IPC_WORKER_DIED', `The pool worker ${pid} ${how} while running the task`);
  return Object.assign(err, fields);
}

/** A run's or broadcast's options, read once and checked. */
function runOptions(options: PoolRunOptions | undefined): { name: string | undefined; wait: WaitOptions } {
  const { name, signal, timeoutMs } = validateOptions(options);
  if (name !== undefined && typeof name !== 'string') throw invalidArgType('options.name', 'of type string', name);
  return { name, wait: waitOptions({ signal, timeoutMs }) };
}

/** options.size as `[min, max]`. */
function sizeOf(value: unknown): [number, number] {
  if (value === undefined) {
    const n = Math.min(availableParallelism(), MAX_SIZE);
    return [n, n];
  }
  if (typeof value === 'number') {
    validateInteger(value, 'options.size', 1, MAX_SIZE);
    return [value, value];
  }
  if (value === null || typeof value !== 'object') {
    throw invalidArgType('options.size', 'of type number or object', value);
  }
  const { min = 0, max } = validateOptions(value as { min?: number; max?: number }, 'options.size');
  validateInteger(max, 'options.size.max', 1, MAX_SIZE);
  validateInteger(min, 'options.size.min', 0, max);
  return [min, max];
}

/**
 * A pool of worker processes (or threads: `runtime`) running the functions `file` exports:
 * `await pool.run(args, { name })` calls `name` (the default export when left
 * out) with `args` in a worker and resolves with what it returns (or
 * rejects with what it throws: name, message, stack and own properties).
 * Arguments and results are structured-clone values, carried by each worker's
 * {@link ProcessLink}. Tasks wait first in, first out.
 *
 * **Pipelining.** A worker runs one task at a time, but holds up to 16 (256
 * of a map's): the pool sends tasks ahead (several in one message) so that a
 * worker never waits for the pool between two tasks. A worker sends the
 * plain answers (undefined, null, a boolean, a number, a short string) in a
 * compact form (9 bytes and the value, no serialization), the others as
 * values, all in order over its link; each answer is in the ring before the
 * next task starts, so a worker's death loses none. Tasks go to idle
 * workers first, then to the least loaded. A task with `timeoutMs` or `signal` is sent only to a
 * worker that holds nothing, so that it starts at once.
 *
 * **Crash isolation.** A worker that dies (exits, is killed, crashes) rejects
 * only the task it was running, with `code: 'ERR_IPC_WORKER_DIED'` (its
 * `exitCode`, `signal` and `pid`), and is replaced; the tasks it held that
 * had not started go to other workers. A worker out of memory rejects its
 * task with `ERR_IPC_WORKER_OUT_OF_MEMORY` instead. A task past `timeoutMs`,
 * or whose `signal` aborts, has its worker killed (SIGKILL: the only sure way
 * to stop running JavaScript) and replaced; it rejects with `ETIMEDOUT` or an
 * `AbortError`. A task still queued just leaves the queue.
 *
 * The workers keep this process alive until {@link Pool.close} or
 * {@link Pool.destroy}, unless {@link Pool.unref} was called.
 */
export class Pool implements Disposable, AsyncDisposable {
  readonly #file: string;
  readonly #min: number;
  readonly #max: number;
  readonly #idleTimeoutMs: number;
  readonly #maxQueue: number;
  readonly #settings: WorkerSettings;
  readonly #factory: WorkerFactory;
  readonly #workers = new Set<Worker>();
  readonly #queue: Task[] = [];
  readonly #loopRef = new LoopRef();
  readonly #latency = new LatencyWindow();
  readonly #utilisation = new Utilisation();
  #state: State = 'open';
  #nextId = 1;
  #running = 0;
  #targeted = 0;
  #completed = 0;
  #failed = 0;
  #pumpSoon = false;
  /** Settles close() once the pool is drained and its workers are gone. */
  #closed: Promise<void> | null = null;
  #drained: (() => void) | null = null;
  /** Workers in a row that died before serving, with no task (see START_FAILURES). */
  #startFailures = 0;

  /** Checks every option, then starts `min` workers (none starts if any option is wrong). */
  constructor(options: PoolOptions) {
    const {
      file, size, idleTimeoutMs = DEFAULT_IDLE_MS, maxQueue = Infinity, limits, nice, env, execArgv, cwd,
      runtime = 'process',
    } = validateOptions(options);
    if (runtime !== 'process' && runtime !== 'thread') {
      throw invalidArgValue('options.runtime', runtime, "must be 'process' or 'thread'");
    }
    this.#file = validateFile(file, 'options.file');
    [this.#min, this.#max] = sizeOf(size);
    validateTimeout(idleTimeoutMs, 'options.idleTimeoutMs');
    this.#idleTimeoutMs = idleTimeoutMs;
    if (maxQueue !== Infinity) validateInteger(maxQueue, 'options.maxQueue', 0, Number.MAX_SAFE_INTEGER);
    this.#maxQueue = maxQueue;
    // Copied once (each read once): every worker is started with what was checked here.
    this.#settings = {
      file: this.#file,
      limits: limits === undefined ? undefined : validateOptions(limits, 'options.limits'),
      nice,
      env: env === undefined ? undefined : validateOptions(env, 'options.env'),
      execArgv: execArgv === undefined ? undefined : readArray(execArgv, 'options.execArgv') as string[],
      cwd,
    };
    // Checked as each runtime takes them: a bad one starts nothing.
    if (runtime === 'thread') checkThreadWorker(this.#settings);
    else checkProcessWorker(this.#settings);
    this.#factory = runtime === 'thread' ? startThreadWorker : startProcessWorker;
    try {
      for (let i = 0; i < this.#min; i++) this.#start();
    } catch (err) {
      // Nothing could reach the workers already started (and they would keep this process alive): they go too.
      this.#state = 'closed';
      for (const worker of this.#workers) {
        worker.dead = true;
        worker.host.kill();
        this.#loopRef.detach(worker.part);
      }
      this.#workers.clear();
      throw err;
    }
  }

  /** Starts a worker: its answers settle its tasks, its end fails the one it ran and replaces it. */
  #start(): Worker {
    const worker = {
      held: [], targeted: [], dead: false, killed: false, leaving: false, served: false, abandoned: -1,
      answeredLate: false, reading: false, clock: new WorkerClock(), idleTimer: null,
    } as unknown as Worker;
    worker.host = this.#factory(this.#settings, {
      message: (value) => this.#reading(worker, this.#answer, value),
      answer: (frame) => this.#reading(worker, this.#compact, frame),
      exit: (exit) => this.#died(worker, exit),
    });
    worker.part = { setRef: (ref) => worker.host.setRef(ref) };
    this.#loopRef.attach(worker.part);
    this.#workers.add(worker);
    return worker;
  }

  /** The module the workers run. */
  get file(): string {
    return this.#file;
  }

  /** How many workers the pool keeps at most (its `max` size). */
  get size(): number {
    return this.#max;
  }

  /** Counts of workers and tasks, as they are now, task latency and utilisation. */
  get stats(): PoolStats {
    let alive = 0;
    for (const worker of this.#workers) if (worker.host.alive) alive++;
    const [p50, p99] = this.#latency.percentiles(0.5, 0.99);
    const clocks = [...this.#workers].map((worker) => worker.clock);
    return {
      alive, queued: this.#queue.length + this.#targeted, running: this.#running, completed: this.#completed,
      failed: this.#failed, p50, p99, utilisation: this.#utilisation.read(clocks),
    };
  }

  /**
   * Runs the exported function `options.name` (default: the default export)
   * with `args` in a worker; resolves with its result. Rejects with
   * `ERR_IPC_CLOSED` once close() or destroy() was called, and with
   * `ERR_IPC_QUEUE_FULL` when `maxQueue` tasks already wait.
   *
   * `args` is taken by reference and cloned when the task goes out to a
   * worker, which may be after `run()` returns (on the next tick, or once a
   * worker has room): a change made to it before then is what the worker
   * sees, and memory it views (a `SharedMemory`'s) must stay open until the
   * task settles. Pass `structuredClone(args)` for a copy as of the call.
   * (A copy made at every call would cost each argument a second copy, and
   * would turn a sealed `SharedMemory`'s view, which reaches the worker as
   * the same memory, into a private copy.) The same holds for {@link Pool.map}'s inputs and {@link Pool.broadcast}'s
   * `args`.
   */
  run(args?: unknown, options?: PoolRunOptions): Promise<unknown> {
    try {
      const { name, wait } = runOptions(options);
      this.#assertOpen();
      return this.#submit(name, args, wait, null);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Runs `options.name` for each input of `iterable` (sync or async, taken
   * lazily: at most `concurrency` tasks in flight) and yields the results in
   * the inputs' order. A task that fails is thrown at its place and ends the
   * iteration; the tasks still in flight then run to their end, and their
   * results are dropped. `break` (or `return`) ends it too, and takes no more
   * input. Options are checked at once (before any input is taken).
   */
  map(iterable: Iterable<unknown> | AsyncIterable<unknown>, options?: PoolMapOptions): AsyncIterableIterator<unknown> {
    const { name, concurrency = this.#max * MAP_WINDOW, signal, timeoutMs } = validateOptions(options);
    if (name !== undefined && typeof name !== 'string') throw invalidArgType('options.name', 'of type string', name);
    validateInteger(concurrency, 'options.concurrency', 1, 2 ** 31 - 1);
    const wait = waitOptions({ signal, timeoutMs });
    let ok: boolean;
    try {
      // Inside: `in` throws for a revoked Proxy.
      ok = iterable !== null && (typeof iterable === 'object' || typeof iterable === 'function') &&
        (Symbol.asyncIterator in iterable || Symbol.iterator in iterable);
    } catch (cause) {
      throw Object.assign(invalidArgValue('iterable', iterable, 'could not be read'), { cause });
    }
    if (!ok) throw invalidArgType('iterable', 'an iterable or async iterable', iterable);
    this.#assertOpen();
    const each = { timeoutMs: wait.timeoutMs };
    const submit = (input: unknown, index: number, settle: Settle) => {
      this.#assertOpen();
      this.#enqueue(name, input, each, null, settleResolve, settleReject, MAP_WINDOW, index, settle);
    };
    return mapOrdered(iterable, submit, concurrency, wait.signal);
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

  #assertOpen(): void {
    if (this.#state !== 'open') throw closedError('The pool');
    if (this.#maxQueue !== Infinity && this.#queue.length >= this.#maxQueue + this.#freeSlots()) {
      throw stateError('ERR_IPC_QUEUE_FULL', `The pool's queue is full (maxQueue ${this.#maxQueue})`);
    }
  }

  /** Tasks the workers could take now without anything waiting. */
  #freeSlots(): number {
    let free = 0;
    for (const worker of this.#workers) if (!worker.dead) free += WINDOW - worker.held.length;
    return free;
  }

  #submit(name: string | undefined, args: unknown, wait: WaitOptions, target: Worker | null): Promise<unknown> {
    return new Promise((resolve, reject) => this.#enqueue(name, args, wait, target, resolve, reject, WINDOW, -1, null));
  }

  /** Queues a task (for `target` only, if given); its outcome goes to `resolve` or `reject`, called as its methods. */
  #enqueue(
    name: string | undefined, args: unknown, wait: WaitOptions, target: Worker | null, resolve: Task['resolve'],
    reject: Task['reject'], window: number, index: number, settle: Settle | null,
  ): void {
    const exclusive = wait.signal !== undefined || wait.timeoutMs !== undefined;
    const task: Task = {
      id: this.#nextId++, name, args, resolve, reject, disarm: noop, worker: null, target, exclusive,
      born: performance.now(), window, index, settle,
    };
    if (exclusive) {
      const onTimeout = () => timedOut('run', this.#file, wait.timeoutMs!, 'the task');
      let aborted = false;
      task.disarm = armGiveUp(wait, onTimeout, (reason) => {
        aborted = true;
        this.#giveUp(task, reason);
      });
      // Aborted already: it has been rejected, and is queued nowhere.
      if (aborted) return;
    }
    if (target !== null) {
      target.targeted.push(task);
      this.#targeted++;
    } else {
      this.#queue.push(task);
    }
    // At once when a worker is idle (a lone task's latency); else on the next tick, so that the tasks
    // given meanwhile go out together (one message each worker).
    if (this.#hasIdle()) this.#pump();
    else if (!this.#pumpSoon) {
      this.#pumpSoon = true;
      process.nextTick(this.#pumpLater);
    }
  }

  readonly #pumpLater = (): void => {
    this.#pumpSoon = false;
    this.#pump();
  };

  #hasIdle(): boolean {
    for (const worker of this.#workers) if (!worker.dead && !worker.leaving && worker.held.length === 0) return true;
    return false;
  }

  /**
   * Hands out what waits: first one task to each idle worker, then the
   * windows filled level by level (the least loaded first); starts workers
   * (up to `max`) while tasks still wait.
   */
  #pump(): void {
    if (this.#state === 'stopping' || this.#state === 'closed') return;
    const sends = new Map<Worker, Task[]>();
    // Up to the window of the task taken next (a map's larger): run()'s tasks never make it look further.
    for (let level = 1; level <= (this.#queue[0]?.window ?? WINDOW); level++) {
      if (this.#queue.length === 0 && this.#targeted === 0) break;
      for (const worker of this.#workers) this.#take(worker, level, sends);
      if (level === 1) this.#grow();
    }
    for (const [worker, tasks] of sends) this.#send(worker, tasks);
    for (const worker of this.#workers) this.#idle(worker);
    this.#checkDrained();
  }

  /** Starts workers while tasks wait that no worker can take at once, up to `max`. */
  #grow(): void {
    let waiting = this.#queue.length;
    if (waiting === 0) return;
    // Also when every worker died as it started: a task is a reason to try again.
    while (waiting-- > 0 && this.#workers.size < this.#max && this.#state !== 'stopping') {
      if (!this.#tryStart()) return;
    }
  }

  /**
   * Starts a worker where a throw would reach no caller (a worker's exit, a timer, the pump): false if it could
   * not start (see {@link Pool.#cannotStart}).
   */
  #tryStart(): boolean {
    try {
      this.#start();
      return true;
    } catch (err) {
      this.#cannotStart(err as Error);
      return false;
    }
  }

  /**
   * A worker could not be started (its link or process: descriptors or memory ran out). With no worker alive, the
   * tasks waiting fail with why (else they would wait for a worker that may never come, or, the caller told, run
   * later all the same); with workers alive, they wait for those.
   */
  #cannotStart(err: Error): void {
    if (this.#workers.size > 0) return;
    for (const task of this.#queue.splice(0)) {
      task.disarm();
      this.#failed++;
      task.reject(err);
    }
  }

  /** Moves tasks for `worker` (its broadcasts first) into its window, up to `level` held. */
  #take(worker: Worker, level: number, sends: Map<Worker, Task[]>): void {
    if (worker.dead || worker.leaving) return;
    while (worker.held.length < level) {
      const queue = worker.targeted.length > 0 ? worker.targeted : this.#queue;
      const task = queue[0];
      if (task === undefined || (task.exclusive && worker.held.length > 0) || worker.held.length >= task.window) return;
      queue.shift();
      if (queue !== this.#queue) this.#targeted--;
      task.worker = worker;
      worker.held.push(task);
      this.#running++;
      let batch = sends.get(worker);
      if (batch === undefined) sends.set(worker, (batch = []));
      batch.push(task);
    }
    if (worker.idleTimer !== null) {
      clearTimeout(worker.idleTimer);
      worker.idleTimer = null;
    }
    worker.clock.busy(worker.held.length > 0);
  }

  /**
   * Sends `all` (now held by `worker`), in order: compact tasks (a plain value's: internal/pool-compact.ts) at once,
   * many in each RAW frame, until one cannot go so; it and the rest in one message.
   */
  #send(worker: Worker, all: Task[]): void {
    const first = sendTasks(worker.host, all);
    if (first === all.length) return;
    const tasks = first === 0 ? all : all.slice(first);
    const message: PoolTask | PoolTask[] = tasks.length === 1 ? taskMessage(tasks[0]) : tasks.map(taskMessage);
    worker.host.send(message).catch((err: unknown) => {
      // A value structured clone refuses: nothing was sent. Those tasks leave the window; the one(s) whose
      // arguments were refused fail, the others wait again. Any other failure is the worker's end.
      if ((err as CodedError).code !== 'ERR_IPC_DATA_CLONE') return;
      const unsent = tasks.filter((task) => task.worker === worker && worker.held.includes(task));
      for (const task of unsent) worker.held.splice(worker.held.indexOf(task), 1);
      this.#running -= unsent.length;
      const again: Task[] = [];
      for (const task of unsent) {
        task.worker = null;
        if (tasks.length === 1 || !clonable(task.args)) {
          task.disarm();
          task.reject(err);
        } else again.push(task);
      }
      this.#requeue(again);
      worker.clock.busy(worker.held.length > 0);
      this.#pump();
    });
  }

  /**
   * Tasks that had not started go back to the front of their queue, in their order: the shared queue, or their
   * worker's own for a broadcast's (a dead worker's are failed by its exit, see #died).
   */
  #requeue(tasks: Task[]): void {
    const shared = tasks.filter((task) => task.target === null);
    for (const task of tasks) task.worker = null;
    this.#queue.unshift(...shared);
    const targeted = tasks.filter((task) => task.target !== null);
    for (let i = targeted.length - 1; i >= 0; i--) targeted[i].target!.targeted.unshift(targeted[i]);
    this.#targeted += targeted.length;
  }

  /** `take(worker, value)` for what came from `worker`, marked as being read meanwhile (see `Worker.reading`). */
  #reading<T>(worker: Worker, take: (worker: Worker, value: T) => void, value: T): void {
    worker.reading = true;
    try {
      take.call(this, worker, value);
    } finally {
      worker.reading = false;
    }
  }

  /** Answers from `worker` over its link (one, or an array), checked: the worker may be hostile. */
  #answer(worker: Worker, value: unknown): void {
    const now = performance.now();
    if (Array.isArray(value)) for (const each of value as unknown[]) this.#linkAnswer(worker, each, now);
    else this.#linkAnswer(worker, value, now);
    this.#answered(worker);
  }

  #linkAnswer(worker: Worker, value: unknown, now: number): void {
    const answer = value as PoolAnswer;
    if (typeof answer !== 'object' || answer === null) return;
    const ok = 'ok' in answer;
    const result = ok ? answer.ok : (answer as { error?: SerializedError }).error;
    this.#arrived(worker, answer.id, ok, result, answer.recycle === true, now);
  }

  /** A compact answer from `worker` (see internal/pool-compact.ts). */
  #compact(worker: Worker, frame: Buffer): void {
    const id = answerId(frame);
    if (id < 0) return;
    this.#arrived(worker, id, true, answerValue(frame), false, performance.now());
    this.#answered(worker);
  }

  /** After answers: the worker's busy time, and its window refilled once half of it is done. */
  #answered(worker: Worker): void {
    worker.clock.busy(worker.held.length > 0);
    // The next tasks go out together, in one message.
    const next = worker.targeted[0] ?? this.#queue[0];
    if (worker.held.length <= (next === undefined ? WINDOW : next.window) / 2 || worker.dead) this.#pump();
  }

  /**
   * The answer for task `id` (its value, or its error with `ok` false): it
   * settles the first task `worker` holds if it is that task's (a worker
   * answers in order, over one ring), and is ignored otherwise.
   */
  #arrived(worker: Worker, id: unknown, ok: boolean, value: unknown, recycle: boolean, now: number): void {
    const task = worker.held[0];
    if (task === undefined || id !== task.id) {
      if (worker.abandoned >= 0 && id === worker.abandoned) worker.answeredLate = true;
      return;
    }
    worker.served = true;
    worker.held.shift();
    this.#running--;
    task.worker = null;
    task.disarm();
    this.#latency.add(now - task.born);
    if (ok) {
      this.#completed++;
      task.resolve(value);
    } else {
      this.#failed++;
      task.reject(reviveError(value as SerializedError));
    }
    if (recycle) {
      // It exits without running the rest: they wait again (see #died).
      worker.leaving = true;
      worker.dead = true;
    }
  }

  /**
   * Workers neither dead nor leaving: what an idle worker's retirement is checked against, so that workers whose
   * idle timers fire together (the first ones leaving, not yet gone) do not all retire and take the pool below `min`.
   */
  #staying(): number {
    let n = 0;
    for (const worker of this.#workers) if (!worker.dead) n++;
    return n;
  }

  /** Arms an idle worker's retirement, if the pool is above `min`. */
  #idle(worker: Worker): void {
    if (worker.dead || worker.held.length > 0 || worker.targeted.length > 0 || worker.idleTimer !== null) return;
    if (this.#staying() <= this.#min || this.#state !== 'open') return;
    worker.idleTimer = setTimeout(() => {
      worker.idleTimer = null;
      if (worker.dead || worker.held.length > 0 || this.#staying() <= this.#min) return;
      worker.dead = true;
      worker.leaving = true;
      worker.host.hangUp();
    }, this.#idleTimeoutMs).unref();
  }

  /** A timeout or abort: a queued task leaves its queue; a running one's worker is killed. */
  #giveUp(task: Task, reason: Error): void {
    const worker = task.worker;
    if (worker === null) {
      const queue = task.target?.targeted ?? this.#queue;
      const at = queue.indexOf(task);
      if (at >= 0) {
        queue.splice(at, 1);
        if (task.target !== null) this.#targeted--;
      }
      task.reject(reason);
      this.#checkDrained();
      return;
    }
    // Its answer may be in the link already, not yet read (this process was busy): it settles the task then.
    if (!worker.reading) worker.host.takeWaiting();
    if (task.worker !== worker) return;
    // Exclusive: it is the first its worker holds, the one running.
    worker.abandoned = task.id;
    worker.held.splice(worker.held.indexOf(task), 1);
    this.#running--;
    task.worker = null;
    this.#failed++;
    task.reject(reason);
    worker.dead = true;
    worker.killed = true;
    // Its exit replaces it, and gives what else it held to others.
    worker.host.kill();
  }

  /**
   * `worker` ended: the task it ran fails (unless the pool killed it for that
   * task, or it left after answering), the others it held wait again, its
   * broadcasts fail; it is replaced while there is work to do or the pool is
   * below `min`.
   */
  #died(worker: Worker, exit: WorkerExit): void {
    worker.dead = true;
    this.#workers.delete(worker);
    this.#loopRef.detach(worker.part);
    this.#utilisation.retire(worker.clock);
    if (worker.idleTimer !== null) clearTimeout(worker.idleTimer);
    const held = worker.held.splice(0);
    this.#running -= held.length;
    const error = () => diedError(worker, exit, this.#settings.limits?.memoryBytes);
    // Killed for a task given up, the next had not started, unless that task's answer came late: then it may have
    // run (no task runs twice), and fails as a task its worker died running does.
    const running = (worker.killed && !worker.answeredLate) || worker.leaving ? undefined : held.shift();
    if (running !== undefined) {
      running.worker = null;
      running.disarm();
      this.#failed++;
      running.reject(error());
    }
    for (const waiting of [...held.filter((task) => task.target !== null), ...worker.targeted.splice(0)]) {
      if (waiting.worker === null) this.#targeted--;
      waiting.disarm();
      waiting.reject(error());
    }
    this.#requeue(held.filter((task) => task.target === null));
    if (worker.served || worker.killed || worker.leaving || running !== undefined) this.#startFailures = 0;
    else this.#startFailures++;
    // Closing, a worker is needed only for tasks still queued.
    const queued = this.#queue.length > 0;
    const below = this.#workers.size < this.#min && this.#startFailures < START_FAILURES;
    if (this.#state === 'closing' ? queued : this.#state === 'open' && (queued || below)) {
      if (this.#workers.size < this.#max) this.#tryStart();
    }
    this.#pump();
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
    const tasks = this.#queue.splice(0);
    for (const worker of this.#workers) {
      this.#failed += worker.held.length;
      this.#running -= worker.held.length;
      tasks.push(...worker.targeted.splice(0), ...worker.held.splice(0));
    }
    this.#targeted = 0;
    for (const task of tasks) {
      task.worker = null;
      task.disarm();
      task.reject(closed);
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
      if (kill) worker.host.kill();
      else worker.host.hangUp();
    }
    await Promise.all(workers.map(async (worker) => {
      try {
        await worker.host.join(kill ? undefined : STOP_GRACE_MS);
      } catch {
        worker.host.kill();
        await worker.host.join();
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
    const fields = { file: this.#file, size: this.#max, alive, queued, running, state: this.#state };
    return inspectHandle('Pool', fields, depth, options);
  }

  static {
    implementRef(this, (self) => (#loopRef in self ? self.#loopRef : undefined));
  }
}

/**
 * `ref()`/`unref()`/`hasRef()`: an unref'd pool (its workers, their links and
 * pipes) does not keep the process alive, whether or not tasks are pending,
 * as `net.Socket#unref()`.
 */
export interface Pool extends Referable {}

/** A task as its worker gets it. */
function taskMessage(task: Task): PoolTask {
  return { id: task.id, name: task.name, args: task.args };
}

/** Whether structured clone takes `value` (to find which of a batch's tasks was refused). */
function clonable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

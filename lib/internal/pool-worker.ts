/**
 * The worker's side of a `Pool` (lib/pool.ts): {@link serve} loads the
 * user's module (CommonJS or ESM, through `import()`) and serves tasks that
 * come over a {@link ProcessLink}: a task `{ id, name, args }` or an array of
 * them (a task whose argument is a plain value comes compact, as a RAW frame,
 * several in one batch frame: internal/pool-compact.ts), answered
 * `{ id, ok: value }` or `{ id, error }` (the error as a plain object:
 * structured clone keeps only an Error's name, message and stack), each as
 * soon as its task is done, one frame each; a plain value's answer goes
 * compact, as a RAW frame of the link (internal/pool-compact.ts). Tasks run
 * one at a time, in the order they came: the parent may send several ahead (pipelining), and knows that the
 * first it holds unanswered is the one running. With a memory limit, a task
 * after which memory is above 90% of it (see {@link ServeOptions}) is
 * answered with `recycle: true`, and the worker then exits without running
 * what else it holds (the parent gives those to another worker).
 *
 * Run as a file, it starts the worker: in a `Process` as
 * `pool-worker.js <module> [memoryBytes]` (its link is `Process.parent.channel`),
 * or in a `worker_threads` Worker started by internal/pool-thread.ts (its link
 * is adopted from duplicates of the parent's descriptors).
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { isMainThread, resourceLimits } from 'node:worker_threads';
import { Process } from '../process';
import type { ProcessLink } from '../process-link';
import { encodeAnswer, sendCompact, tasksOf } from './pool-compact';
import { threadLink } from './pool-thread';

/** A task as the parent sends it. */
export interface PoolTask {
  id: number;
  /** The export to call; undefined: the default export. */
  name?: string;
  args: unknown;
}

/** An answer: `ok` with the value, or `error`. */
export type PoolAnswer = ({ id: number; ok: unknown } | { id: number; error: SerializedError }) & {
  /** Its memory is near its limit: the worker exits after this answer, running nothing else it holds. */
  recycle?: true;
};

/** The share of its memory limit (or of V8's heap limit) in use after a task above which a worker is recycled. */
export const RECYCLE_SHARE = 0.9;

/** An error as it crosses the link: its own properties, name, message and stack. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
  /** A thrown value that was not an Error. */
  value?: unknown;
}

/**
 * `err` as a structured-clone-safe object. Never throws, whatever was thrown (a Proxy whose traps throw, an object
 * with no prototype, throwing getters): each step that reads `err` is guarded, so that the task is always answered.
 */
export function serializeError(err: unknown): SerializedError {
  let isError = false;
  try {
    isError = err instanceof Error;
  } catch {
    // A Proxy whose getPrototypeOf throws: described as any other odd value.
  }
  if (!isError) {
    return { name: 'Error', message: `a non-Error was thrown: ${describe(err)}`, props: {}, value: safe(err) };
  }
  const props: Record<string, unknown> = {};
  const keys = read(() => Object.keys(err as object), [] as string[]);
  for (const key of keys) props[key] = safe(read(() => (err as Record<string, unknown>)[key], UNREADABLE));
  const text = (get: () => unknown, fallback: string) => {
    const value = read(get, fallback);
    return typeof value === 'string' ? value : fallback;
  };
  const error = err as Error;
  const stack = read(() => error.stack, undefined);
  return {
    name: text(() => error.name, 'Error'), message: text(() => error.message, UNREADABLE),
    stack: typeof stack === 'string' ? stack : undefined, props,
  };
}

/** What stands for a value that could not be read. */
const UNREADABLE = '<unreadable>';

/** `get()`, or `fallback` if it throws. */
function read<T>(get: () => T, fallback: T): T {
  try {
    return get();
  } catch {
    return fallback;
  }
}

/** `String(value)`, or, if that throws (no prototype, a throwing toString), its `[object Tag]`, or '<unreadable>'. */
function describe(value: unknown): string {
  return read(() => String(value), read(() => Object.prototype.toString.call(value), UNREADABLE));
}

/** `value` if structured clone takes it, else its string form. */
function safe(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    return describe(value);
  }
}

/** The function a task names: an export, or, for a CommonJS module, a property of `module.exports`. */
function lookup(mod: Record<string, unknown>, name: string | undefined): (args: unknown) => unknown {
  const cjs = mod.default as Record<string, unknown> | undefined;
  let fn: unknown;
  if (name === undefined) {
    fn = mod.default;
    // A CommonJS module compiled from ESM (exports.default = fn).
    if (typeof fn !== 'function' && cjs !== null && typeof cjs === 'object') fn = cjs.default;
  } else {
    fn = Object.hasOwn(mod, name) ? mod[name] : undefined;
    if (fn === undefined && cjs !== null && (typeof cjs === 'object' || typeof cjs === 'function')) {
      fn = Object.hasOwn(cjs, name) ? cjs[name] : undefined;
    }
  }
  if (typeof fn !== 'function') {
    const what = name === undefined ? 'a default export' : `an export named '${name}'`;
    throw Object.assign(new TypeError(`The pool's module has no function as ${what}`), {
      code: 'ERR_IPC_NO_SUCH_TASK',
    });
  }
  return fn as (args: unknown) => unknown;
}

/** How a worker serves: in a process, or in a thread. */
export interface ServeOptions {
  /** The memory limit (0: none), checked after each task. */
  memoryBytes: number;
  /**
   * In a worker thread: its heap is compared with its old generation's limit
   * (what ends a thread with ERR_WORKER_OUT_OF_MEMORY, short of V8's
   * heap_size_limit), and a hang-up waits for the module's load, so that no
   * read of it is left open when the thread ends. In a process: its heap
   * with V8's limit, and its data (/proc/self/status VmData, what
   * RLIMIT_DATA counts) with `memoryBytes`.
   */
  thread: boolean;
}

/**
 * Serves the tasks that come over `link` with the functions `file` exports,
 * until the link closes (then this process, or this thread, exits).
 */
export function serve(link: ProcessLink, file: string, options: ServeOptions): void {
  const { memoryBytes, thread } = options;
  let mod: Record<string, unknown> | null = null;
  let loadError: unknown = null;
  const loaded = (import(pathToFileURL(file).href) as Promise<Record<string, unknown>>).then(
    (m) => void (mod = m),
    // A module that fails to load fails every task, with its error.
    (err: unknown) => void (loadError = err),
  );

  /** Tasks received, not yet run (the parent keeps this short: its window). */
  const queue: PoolTask[] = [];
  let draining = false;
  let retiring = false;

  link.on('message', (message: PoolTask | PoolTask[]) => {
    if (Array.isArray(message)) queue.push(...message);
    else queue.push(message);
    if (!draining) void drain();
  });
  // A compact task, or a batch of them (internal/pool-compact.ts), in order with the others.
  link.onRaw = (bytes) => {
    const tasks = tasksOf(bytes);
    if (tasks === null) return;
    for (const task of tasks) queue.push(task);
    if (!draining) void drain();
  };
  // The pool hung up: this worker has nothing more to do, whatever the module still holds open.
  link.on('close', () => void (thread ? loaded : Promise.resolve()).then(() => setImmediate(() => process.exit(0))));
  link.on('error', () => undefined);

  const oldGeneration = (resourceLimits.maxOldGenerationSizeMb ?? 0) * 2 ** 20;
  /** Whether the heap, or (for a process) its data, is near its limit now. */
  const memoryHigh = (): boolean => {
    const { used_heap_size: used, heap_size_limit: heapLimit } = getHeapStatistics();
    if (used > (thread && oldGeneration > 0 ? oldGeneration : heapLimit) * RECYCLE_SHARE) return true;
    if (thread) return false;
    const vmData = /^VmData:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return vmData !== null && Number(vmData[1]) * 1024 > memoryBytes * RECYCLE_SHARE;
  };

  /**
   * Runs what is queued, in order. Each answer is in the link's ring before
   * the next task starts: a compact one (internal/pool-compact.ts) as a RAW
   * frame when it can go at once, else (and any other answer) as a value,
   * awaited. A worker that dies loses no answer, and the parent knows the
   * first task it holds unanswered is the one that was running.
   */
  const drain = async (): Promise<void> => {
    draining = true;
    // In the same turn as the loop's last look at the queue (a task that comes later starts a drain again), and
    // whatever happened: a worker is never left wedged.
    try {
      if (mod === null && loadError === null) await loaded;
      while (queue.length > 0 && !retiring) {
        const task = queue.shift()!;
        let answer: PoolAnswer;
        try {
          if (loadError !== null) throw loadError;
          let value = lookup(mod!, task.name)(task.args);
          if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') value = await value;
          answer = { id: task.id, ok: value };
        } catch (err) {
          answer = { id: task.id, error: serializeError(err) };
        }
        if (memoryBytes > 0 && memoryHigh()) {
          answer.recycle = true;
          retiring = true;
          await sendAnswer(link, answer);
          process.exit(0);
        }
        const compact = 'ok' in answer ? encodeAnswer(answer.id, answer.ok) : null;
        if (compact === null || !sendCompact(link, compact)) await sendAnswer(link, answer);
      }
    } finally {
      draining = false;
    }
  };
}

/** Sends `answer`; resolves once sent. */
async function sendAnswer(link: ProcessLink, answer: PoolAnswer): Promise<void> {
  try {
    await link.send(answer);
  } catch (err) {
    // A value structured clone refuses is its task's error; a closed link ends the worker anyway.
    if ((err as { code?: unknown }).code !== 'ERR_IPC_DATA_CLONE') return;
    const failed: PoolAnswer = { id: answer.id, error: serializeError(err) };
    if (answer.recycle) failed.recycle = true;
    await link.send(failed).catch(() => undefined);
  }
}

if (!isMainThread) {
  const thread = threadLink();
  if (thread === null) throw new Error('posix-ipc: pool-worker.js runs only as a Pool worker');
  serve(thread.link, thread.file, { memoryBytes: thread.memoryBytes, thread: true });
} else {
  const link = Process.parent?.channel;
  const file = process.argv[2];
  if (!link || file === undefined) throw new Error('posix-ipc: pool-worker.js runs only as a Pool worker');
  const memoryBytes = process.argv[3] === undefined ? 0 : Number(process.argv[3]);
  serve(link, file, { memoryBytes, thread: false });
}

/**
 * Futex wait/wake on shared memory, across processes.
 *
 * V8's `Atomics.wait`/`Atomics.notify` cannot do this: they accept only a
 * `SharedArrayBuffer`, and their waiter list lives inside one process. These
 * use the kernel's shared futexes (futex(2) without FUTEX_PRIVATE_FLAG), keyed
 * by the physical page, so any process that maps the same {@link SharedMemory}
 * meets on the same word. `wait()` runs on a dedicated thread, never on the
 * event loop or libuv's pool.
 * @packageDocumentation
 */
import { binding } from './binding';
import { check, invalidArgValue } from './errors';
import { TIMED_OUT, waitsOnMemory, type StartWait } from './internal/thread-wait';
import { validateBoolean, validateInt32Array, validateInteger, validateOptions } from './internal/validate';
import { syncTimeout, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';

/** How a futex wait ended. */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Options of {@link futex.wait}. */
export interface FutexWaitOptions extends WaitOptions {
  /** Give up after this many milliseconds: resolves `'timed-out'`. Default: no limit. */
  timeoutMs?: number;
  /**
   * `false`: the wait does not keep the process alive (as the `ref` option
   * of `timers/promises`): a process with nothing else to do exits while it
   * waits. Default `true`. A futex word has no handle to `unref()`, so this
   * is per wait.
   */
  ref?: boolean;
}

/** Options of {@link futex.waitSync}. */
export interface FutexWaitSyncOptions extends SyncWaitOptions {
  /** Give up after this many milliseconds: returns `'timed-out'`. Default: no limit. */
  timeoutMs?: number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const RESULTS: readonly FutexWaitResult[] = ['ok', 'not-equal'];
// The array's real buffer, from the engine (an own `buffer` property on the
// array would otherwise pick whose close() ends the wait).
const bufferOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int32Array.prototype) as object, 'buffer')!.get!;

/**
 * Checks `array` is a real Int32Array (not a Proxy, not detached) and `index`
 * a word inside it, by the element count the engine holds: an own `length`
 * on the array changes nothing (the addon checks the same again).
 */
function validateWord(array: unknown, index: unknown): asserts array is Int32Array {
  const length = validateInt32Array(array, 'array');
  validateInteger(index, 'index', 0, INT32_MAX);
  if (index >= length) {
    throw invalidArgValue(
      'index', index,
      `must be less than the array's length (${length}${length === 0 ? ': is its memory closed?' : ''})`, true,
    );
  }
}

function validateWait(array: unknown, index: unknown, expected: unknown): asserts array is Int32Array {
  validateWord(array, index);
  validateInteger(expected, 'expected', INT32_MIN, INT32_MAX);
}

function toResult(r: number): FutexWaitResult {
  return r === TIMED_OUT ? 'timed-out' : RESULTS[check(r, 'futex')];
}

/**
 * Cross-process futexes on an `Int32Array` over a {@link SharedMemory} view.
 *
 * @example
 * const word = new Int32Array(shm.buffer, 0, 1);
 * // waiter (any process mapping shm):
 * while (Atomics.load(word, 0) === 0) await futex.wait(word, 0, 0);
 * // waker:
 * Atomics.store(word, 0, 1); futex.wake(word, 0);
 */
export const futex = {
  /**
   * Sleeps while `array[index] === expected`, until a {@link futex.wake} on
   * the same word (from any process), the timeout, or the signal. Resolves
   * `'ok'` when woken (spurious wakes are possible: recheck the value),
   * `'not-equal'` when the value already differed (also when it changed
   * between the 20 ms slices the wait runs in), `'timed-out'`.
   */
  wait(array: Int32Array, index: number, expected: number, options?: FutexWaitOptions): Promise<FutexWaitResult> {
    validateWait(array, index, expected);
    // Read once: the signal and the limit are checked on that copy, then `ref`.
    const opts = validateOptions(options);
    const { signal, timeoutMs } = waitOptions(opts);
    const { ref = true } = opts;
    validateBoolean(ref, 'options.ref');
    // The value already differs: no thread needed (the kernel would say the same).
    if (!signal?.aborted && Atomics.load(array, index) !== expected) return Promise.resolve('not-equal');
    const start: StartWait = (t, done) => binding.futexWait(array, index, expected, t, done);
    return waitsOnMemory(Reflect.apply(bufferOf, array, []) as ArrayBufferLike)
      .run(start, { signal, timeoutMs, ref }, 'futex', null, array)
      .then(toResult);
  },

  /**
   * {@link futex.wait}, blocking this thread: for dedicated processes and
   * scripts. Signals delivered meanwhile do not end it early.
   */
  waitSync(array: Int32Array, index: number, expected: number, options?: FutexWaitSyncOptions): FutexWaitResult {
    validateWait(array, index, expected);
    return toResult(binding.futexWaitSync(array, index, expected, syncTimeout(validateOptions(options))));
  },

  /** Wakes up to `count` waiters on `array[index]`, in any process; returns how many woke. */
  wake(array: Int32Array, index: number, count = 1): number {
    validateWord(array, index);
    validateInteger(count, 'count', 1, INT32_MAX);
    return check(binding.futexWake(array, index, count), 'futex');
  },
} as const;

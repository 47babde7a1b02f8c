/**
 * Waits that run on a dedicated native thread (native/common/waiter.cc):
 * semaphores, futexes, robust mutexes, file locks. The promise settles on the
 * event loop; an AbortSignal or the owner's close() settles it at once and
 * tells the thread to stop (within one 20 ms slice). A result the thread gets
 * after JavaScript gave up is undone natively (a token posted back, a wake
 * passed on), so nothing is lost.
 * @internal
 * @packageDocumentation
 */
import { constants } from 'node:os';
import { binding, type WaitHandle } from '../binding';
import { AbortError, check } from '../errors';

export interface ThreadWaitOptions {
  signal?: AbortSignal;
  /** Undefined: no limit. */
  timeoutMs?: number;
}

/** The binding call that starts one wait: `onDone(result)` runs once, unless cancelled. */
export type StartWait = (timeoutMs: number, onDone: (result: number) => void) => WaitHandle | number;

/** The -errno a wait reports when its deadline passed. */
export const TIMED_OUT = -constants.errno.ETIMEDOUT;

/** The pending thread waits of one handle, so that close() can end them. */
export class ThreadWaits {
  readonly #cancels = new Set<(reason: Error) => void>();

  /** How many waits are pending. */
  get size(): number {
    return this.#cancels.size;
  }

  /**
   * Starts a wait; resolves its result (>= 0, or TIMED_OUT when the deadline
   * passed: the caller decides whether that is an error), rejects an IpcError
   * naming `syscall` for any other failure, or AbortError. `keepAlive` (the
   * memory the thread waits on) stays reachable until the thread is done.
   */
  run(start: StartWait, options: ThreadWaitOptions, syscall: string, path: string | null, keepAlive?: object): Promise<number> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new AbortError({ cause: signal.reason }));
    return new Promise<number>((resolve, reject) => {
      let handle: WaitHandle | null = null;
      const finish = () => {
        this.#cancels.delete(cancel);
        signal?.removeEventListener('abort', onAbort);
      };
      const cancel = (reason: Error) => {
        finish();
        if (handle !== null) binding.waitCancel(handle);
        reject(reason);
      };
      const onAbort = () => cancel(new AbortError({ cause: signal!.reason }));
      const started = start(timeoutMs ?? -1, (result) => {
        void keepAlive;
        finish();
        if (result >= 0 || result === TIMED_OUT) resolve(result);
        else {
          try {
            check(result, syscall, path);
          } catch (err) {
            reject(err);
          }
        }
      });
      if (typeof started === 'number') {
        try {
          check(started, 'pthread_create', path);
        } catch (err) {
          reject(err);
        }
        return;
      }
      handle = started;
      this.#cancels.add(cancel);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Rejects every pending wait with `reason()` and stops its thread. */
  cancelAll(reason: () => Error): void {
    for (const cancel of [...this.#cancels]) cancel(reason());
  }
}

const onMemory = new WeakMap<ArrayBufferLike, ThreadWaits>();

/**
 * The pending waits on words of `buffer` (futexes on memory the caller
 * passes), so that whoever unmaps it (SharedMemory close() and resize()) can
 * end them first.
 */
export function waitsOnMemory(buffer: ArrayBufferLike): ThreadWaits {
  let waits = onMemory.get(buffer);
  if (waits === undefined) onMemory.set(buffer, (waits = new ThreadWaits()));
  return waits;
}

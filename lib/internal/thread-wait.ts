/**
 * Waits that run on a dedicated native thread (native/common/waiter.cc):
 * semaphores, futexes, robust mutexes, file locks. The promise settles on the
 * event loop; an AbortSignal or the owner's close() settles it at once and
 * tells the thread to stop (within one 20 ms slice). A result the thread gets
 * after JavaScript gave up is undone natively (a token posted back, a wake
 * passed on), so nothing is lost. A handle with such waits keeps them in a
 * {@link WaitingLifetime}, which ends them when the handle closes.
 * @packageDocumentation
 */
import { constants } from 'node:os';
import { binding, type WaitHandle } from '../binding';
import { check } from '../errors';
import type { WaitOptions } from '../options';
import { abortError, armGiveUp } from './cancel';
import { Lifetime } from './lifetime';
import { LoopRef, type LoopRefPart } from './loop-ref';

export interface ThreadWaitOptions extends WaitOptions {
  /**
   * `false`: this wait does not keep the event loop alive (for waits that
   * belong to no handle: futex.wait, lockFile). Default `true`. A wait keeps
   * the loop alive only when this and its ThreadWaits' state both say so.
   */
  ref?: boolean;
}

interface Pending {
  cancel(reason: Error): void;
  handle: WaitHandle | null;
  /** The wait's own `ref` option. */
  ref: boolean;
}

/** The binding call that starts one wait: `onDone(result)` runs once, unless cancelled. */
export type StartWait = (timeoutMs: number, onDone: (result: number) => void) => WaitHandle | number;

/** The -errno a wait reports when its deadline passed. */
export const TIMED_OUT = -constants.errno.ETIMEDOUT;

/**
 * The pending thread waits of one handle, so that close() can end them. As a
 * {@link LoopRefPart}, they follow the handle's `ref()`/`unref()`: each wait
 * is started with the state, and the running ones are flipped.
 */
export class ThreadWaits implements LoopRefPart {
  readonly #pending = new Set<Pending>();
  #ref = true;

  /** How many waits are pending. */
  get size(): number {
    return this.#pending.size;
  }

  /** Whether the waits (those whose own `ref` option allows it) keep the event loop alive. */
  setRef(ref: boolean): void {
    if (ref === this.#ref) return;
    this.#ref = ref;
    for (const wait of this.#pending) {
      if (wait.handle !== null && wait.ref) binding.waitSetRef(wait.handle, ref);
    }
  }

  /**
   * Starts a wait; resolves its result (>= 0, or TIMED_OUT when the deadline
   * passed: the caller decides whether that is an error), rejects an IpcError
   * naming `syscall` for any other failure, or AbortError. `keepAlive` (the
   * memory the thread waits on) stays reachable until the thread is done.
   */
  run(
    start: StartWait, options: ThreadWaitOptions, syscall: string, path: string | null, keepAlive?: object,
  ): Promise<number> {
    const { signal, timeoutMs, ref = true } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<number>((resolve, reject) => {
      const wait: Pending = {
        cancel: (reason: Error) => {
          finish();
          if (wait.handle !== null) binding.waitCancel(wait.handle);
          reject(reason);
        },
        handle: null,
        ref,
      };
      let disarm = () => {};
      const finish = () => {
        this.#pending.delete(wait);
        disarm();
      };
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
      wait.handle = started;
      // Every wait starts ref'd; in the same synchronous step, so the loop
      // never sees it otherwise.
      if (!(ref && this.#ref)) binding.waitSetRef(started, false);
      this.#pending.add(wait);
      // The deadline is the thread's own (it sleeps with it): only the signal is armed here.
      disarm = armGiveUp({ signal }, null, wait.cancel);
    });
  }

  /** Rejects every pending wait with `reason()` and stops its thread. */
  cancelAll(reason: () => Error): void {
    for (const wait of [...this.#pending]) wait.cancel(reason());
  }
}

/**
 * The Lifetime of a handle whose waits run on threads (a Semaphore, a Mutex,
 * a FileLock), with those waits and its ref state: `end()` rejects them with
 * `ERR_IPC_CLOSED`, and they follow the handle's `ref()`/`unref()` (implementRef
 * is given `loopRef`).
 */
export class WaitingLifetime<H> extends Lifetime<H> {
  readonly waits: ThreadWaits;
  readonly loopRef = new LoopRef();

  constructor(kind: string, handle: H) {
    const waits = new ThreadWaits();
    super(kind, handle, (reason) => waits.cancelAll(reason));
    this.waits = waits;
    this.loopRef.attach(waits);
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

/**
 * Waiting for a pollable descriptor from the event loop: operations that would
 * block (EAGAIN) queue up here, and a uv_poll watcher retries them when the
 * descriptor becomes readable or writable. No thread is parked, and the watcher
 * polls only while something waits.
 * @packageDocumentation
 */
import { binding, type Watcher } from '../binding';
import { check } from '../errors';
import type { WaitOptions } from '../options';
import { abortError, armGiveUp } from './cancel';
import type { LoopRefPart } from './loop-ref';

/** What an attempt returns when it would block. */
export const AGAIN: unique symbol = Symbol('EAGAIN');

/** One non-blocking try: a result, AGAIN, or a thrown error. */
export type Attempt<T> = () => T | typeof AGAIN;

interface Waiter {
  attempt: Attempt<unknown>;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  done(): void;
}

/**
 * One descriptor's waits. As a {@link LoopRefPart}, it follows its handle's
 * `ref()`/`unref()`: the watcher is uv_ref'd or uv_unref'd, for the waits
 * pending now and later ones.
 */
export class Poller implements LoopRefPart {
  #watcher: Watcher | null;
  // Kept here: the native side holds it weakly while not polling.
  readonly #onReady = (status: number, events: number) => this.#ready(status, events);
  readonly #waiting = new Map<number, Waiter[]>([[binding.UV_READABLE, []], [binding.UV_WRITABLE, []]]);
  #events = 0;
  #stopping: NodeJS.Immediate | null = null;

  constructor(fd: number, syscall: string, path: string | null) {
    const watcher = binding.watchFd(fd, this.#onReady);
    if (typeof watcher === 'number') check(watcher, syscall, path);
    this.#watcher = watcher as Watcher;
  }

  /** Whether waiting keeps the event loop alive (see LoopRef). */
  setRef(ref: boolean): void {
    if (this.#watcher !== null) binding.watcherRef(this.#watcher, ref);
  }

  /**
   * Runs `attempt` now if nobody waits before it (FIFO per direction), else, or
   * when it would block, once `events` (UV_READABLE or UV_WRITABLE) says so.
   * `onTimeout` makes the error for `timeoutMs`.
   */
  wait<T>(events: number, attempt: Attempt<T>, options: WaitOptions, onTimeout: () => Error): Promise<T> {
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    const queue = this.#waiting.get(events)!;
    if (queue.length === 0) {
      try {
        const result = attempt();
        if (result !== AGAIN) return Promise.resolve(result);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { attempt, resolve: resolve as (value: unknown) => void, reject, done: () => {} };
      waiter.done = armGiveUp(options, onTimeout, (reason) => {
        const at = queue.indexOf(waiter);
        if (at !== -1) queue.splice(at, 1);
        reject(reason);
        this.#update();
      });
      queue.push(waiter);
      this.#update();
    });
  }

  /** Rejects everything still waiting with `reason` and releases the watcher. */
  close(reason: () => Error): void {
    if (this.#watcher === null) return;
    binding.watcherClose(this.#watcher);
    this.#watcher = null;
    if (this.#stopping !== null) clearImmediate(this.#stopping);
    for (const queue of this.#waiting.values()) {
      for (const waiter of queue.splice(0)) {
        waiter.done();
        waiter.reject(reason());
      }
    }
  }

  #ready(status: number, events: number): void {
    // After an error status libuv has stopped the handle itself: re-arm it
    // below if anyone still waits.
    if (status < 0) this.#events = 0;
    for (const [kind, queue] of this.#waiting) {
      // An error status (e.g. EBADF) is retried like readiness: the attempt
      // itself reports the descriptor's error with the right syscall name.
      if (status === 0 && (events & kind) === 0) continue;
      // Drain until EAGAIN: readiness can be spurious (another process may
      // have taken the message first).
      while (queue.length > 0) {
        const waiter = queue[0];
        let result: unknown;
        try {
          result = waiter.attempt();
          if (result === AGAIN) break;
        } catch (err) {
          queue.shift();
          waiter.done();
          waiter.reject(err);
          continue;
        }
        queue.shift();
        waiter.done();
        waiter.resolve(result);
      }
    }
    this.#update();
  }

  /**
   * Polls for exactly the directions somebody waits for. When nobody waits,
   * the watcher stays armed until the loop turns once more: a caller that
   * waits again straight away (a receive loop) then costs no epoll_ctl calls.
   */
  #update(): void {
    if (this.#watcher === null) return;
    let wanted = 0;
    for (const [kind, queue] of this.#waiting) if (queue.length > 0) wanted |= kind;
    if (wanted === 0) {
      this.#stopping ??= setImmediate(() => {
        this.#stopping = null;
        if (this.#watcher === null) return;
        if (this.#waiting.get(binding.UV_READABLE)!.length + this.#waiting.get(binding.UV_WRITABLE)!.length > 0) return;
        this.#events = 0;
        binding.watcherStop(this.#watcher);
      });
      return;
    }
    if (wanted === this.#events) return;
    this.#events = wanted;
    binding.watcherStart(this.#watcher, wanted);
  }
}

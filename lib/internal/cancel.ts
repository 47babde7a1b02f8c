/**
 * How a wait gives up, written once: the caller's AbortSignal and its
 * `timeoutMs`, armed together, fired at most once, and disarmed when the wait
 * ends another way. Every waiting call of the package (the Poller's queue,
 * retries on a timer, thread waits, a Channel's send turn, a FIFO request, a
 * socket's queued send) gives up through this.
 * @packageDocumentation
 */
import { AbortError } from '../errors';
import type { WaitOptions } from '../options';

/** The AbortError of an aborted `signal`, its reason as `cause` (as Node's own). */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError({ cause: signal.reason });
}

/**
 * Arms `wait`'s ways of giving up: `giveUp(reason)` runs at most once, with
 * an AbortError when the signal aborts (at once, if it already has) or with
 * `onTimeout()` after `timeoutMs` (null: the deadline is kept elsewhere, e.g. by
 * a thread that sleeps with it, and only the signal is armed). Returns `disarm`, for the wait to call when
 * it ends otherwise; after it, `giveUp` never runs. The timer is unref'd, as
 * net.Socket's timeouts are: what is waited for keeps the loop alive while its
 * handle is ref'd, and must not once the handle is unref()'d.
 */
export function armGiveUp(
  wait: WaitOptions, onTimeout: (() => Error) | null, giveUp: (reason: Error) => void,
): () => void {
  const { signal, timeoutMs } = wait;
  let armed = true;
  let timer: NodeJS.Timeout | undefined;
  const disarm = () => {
    armed = false;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const fire = (reason: Error) => {
    if (!armed) return;
    disarm();
    giveUp(reason);
  };
  const onAbort = () => fire(abortError(signal!));
  if (signal?.aborted) {
    fire(abortError(signal));
    return disarm;
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timeoutMs !== undefined && onTimeout !== null) timer = setTimeout(() => fire(onTimeout()), timeoutMs).unref();
  return disarm;
}

/**
 * One operation's ways of giving up as one internal AbortSignal, for
 * operations made of several waits (a queued send's turn, then its writes).
 */
export class Cancel {
  readonly #controller = new AbortController();
  /** Why it gave up, once it did. */
  reason: Error | null = null;
  /** Stops listening (the operation ended another way). */
  readonly dispose: () => void;

  constructor(wait: WaitOptions, onTimeout: () => Error) {
    this.dispose = armGiveUp(wait, onTimeout, (reason) => {
      this.reason = reason;
      this.#controller.abort(reason);
    });
  }

  /** Aborts when the operation gives up. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The error to report for `err`, thrown by a wait that this cancellation ended. */
  error(err: unknown): unknown {
    return this.reason ?? err;
  }

  /** Settles like `promise`, or rejects at once when this gives up. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.reason !== null) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.reason);
      this.signal.addEventListener('abort', onAbort, { once: true });
      const done = () => this.signal.removeEventListener('abort', onAbort);
      promise.then((value) => (done(), resolve(value)), (err: unknown) => (done(), reject(err)));
    });
  }
}

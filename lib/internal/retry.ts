/**
 * Waiting for a state the kernel offers no event for (a FIFO that gets a
 * reader, a full listen backlog that drains): try, and try again on a timer,
 * 1 ms after the first failure and twice as long each time up to a ceiling.
 * Never a blocking call, never a thread.
 * @packageDocumentation
 */
import { AbortError } from '../errors';
import { AGAIN, type WaitOptions } from './poller';

/**
 * Calls `attempt` now and then on a backoff timer until it returns something
 * other than AGAIN (or throws). Rejects with an AbortError when `signal`
 * aborts and with `onTimeout()` after `timeoutMs`; leaves no timer behind.
 */
export function retryUntil<T>(
  attempt: () => T | typeof AGAIN, maxDelayMs: number, wait: WaitOptions, onTimeout: () => Error,
): Promise<T> {
  const { signal, timeoutMs } = wait;
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError({ cause: signal.reason }));
      return;
    }
    let done = false;
    let delay = 1;
    let retry: NodeJS.Timeout | undefined;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(retry);
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => finish(() => reject(new AbortError({ cause: signal!.reason })));
    const deadline = timeoutMs === undefined
      ? undefined
      : setTimeout(() => finish(() => reject(onTimeout())), timeoutMs);
    const tryOnce = () => {
      let result: T | typeof AGAIN;
      try {
        result = attempt();
      } catch (err) {
        finish(() => reject(err));
        return;
      }
      if (result !== AGAIN) {
        finish(() => resolve(result as T));
        return;
      }
      retry = setTimeout(tryOnce, delay);
      delay = Math.min(delay * 2, maxDelayMs);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    tryOnce();
  });
}

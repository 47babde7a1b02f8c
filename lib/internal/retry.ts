/**
 * Waiting for a state the kernel offers no event for (a FIFO that gets a
 * reader, a full listen backlog that drains): try, and try again on a timer,
 * 1 ms after the first failure and twice as long each time up to a ceiling.
 * Never a blocking call, never a thread.
 * @packageDocumentation
 */
import type { WaitOptions } from '../options';
import { abortError, armGiveUp } from './cancel';
import { AGAIN } from './poller';

/**
 * Calls `attempt` now and then on a backoff timer until it returns something
 * other than AGAIN (or throws). Rejects with an AbortError when `signal`
 * aborts and with `onTimeout()` after `timeoutMs`; leaves no timer behind.
 */
export function retryUntil<T>(
  attempt: () => T | typeof AGAIN, maxDelayMs: number, wait: WaitOptions, onTimeout: () => Error,
): Promise<T> {
  if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
  return new Promise<T>((resolve, reject) => {
    let delay = 1;
    let retry: NodeJS.Timeout | undefined;
    const disarm = armGiveUp(wait, onTimeout, (reason) => {
      clearTimeout(retry);
      reject(reason);
    });
    const tryOnce = () => {
      let result: T | typeof AGAIN;
      try {
        result = attempt();
      } catch (err) {
        disarm();
        reject(err);
        return;
      }
      if (result !== AGAIN) {
        disarm();
        resolve(result);
        return;
      }
      retry = setTimeout(tryOnce, delay);
      delay = Math.min(delay * 2, maxDelayMs);
    };
    tryOnce();
  });
}

/**
 * The options of waiting calls, read and checked in one place: `waitOptions()`
 * for calls that return a promise, `syncTimeout()` for blocking `*Sync` calls,
 * and `timedOut()`, the ETIMEDOUT error every wait reports.
 * @packageDocumentation
 */
import { constants } from 'node:os';
import { invalidArgValue, IpcError } from '../errors';
import type { SyncWaitOptions, WaitOptions } from '../options';
import { validateOptions, validateSignal, validateTimeout } from './validate';

const { ETIMEDOUT } = constants.errno;

/** A waiting call's `{ signal, timeoutMs }`, read once and checked (ERR_INVALID_ARG_*). */
export function waitOptions(options: WaitOptions | undefined): WaitOptions {
  const { signal, timeoutMs } = validateOptions(options);
  validateSignal(signal);
  validateTimeout(timeoutMs);
  return { signal, timeoutMs };
}

/**
 * The timeout of a `*Sync` call, read from `opts` (already read once by
 * validateOptions), -1 for none. A `signal` is refused: nothing can run to
 * abort a call that blocks the thread.
 */
export function syncTimeout(opts: SyncWaitOptions & { signal?: unknown }): number {
  if (opts.signal !== undefined) {
    throw invalidArgValue(
      'options.signal', opts.signal, 'is not supported by blocking calls (nothing runs to abort them): use timeoutMs',
    );
  }
  const { timeoutMs } = opts;
  validateTimeout(timeoutMs);
  return timeoutMs ?? -1;
}

/**
 * The error of a wait that gave up after `timeoutMs` (`label`: the object's
 * name or path, if any; `waitingFor`: what it waited for, when the syscall
 * alone does not say, e.g. 'a reader').
 */
export function timedOut(syscall: string, label: string | null, timeoutMs: number, waitingFor?: string): IpcError {
  const what = waitingFor === undefined ? '' : ` waiting for ${waitingFor}`;
  return new IpcError(-ETIMEDOUT, syscall, label, `timed out after ${timeoutMs} ms${what}`);
}

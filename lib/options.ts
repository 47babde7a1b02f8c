/**
 * The option shapes every waiting call of this package shares: one way to
 * give up, the same in every object's options.
 * @packageDocumentation
 */

/**
 * How a waiting call gives up. The limit is `timeoutMs`, a number of
 * milliseconds (not Node's `timeout`, whose unit varies between its modules):
 * the unit is in the name, and `timeoutMs: 0` means "only if it can be done
 * now". Leaving both out waits as long as it takes.
 */
export interface WaitOptions {
  /** Gives up with an `AbortError`. */
  signal?: AbortSignal;
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

/**
 * How a blocking `*Sync` call gives up: only `timeoutMs`, as nothing runs to
 * abort it (a `signal` is refused with `ERR_INVALID_ARG_VALUE`).
 */
export interface SyncWaitOptions {
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

/**
 * Classes are made only by their own factories (`create`, `open`, `inside`,
 * ...): each constructor takes this module's symbol first and refuses to run
 * without it, so `new Mutex(...)` from outside throws
 * `TypeError [ERR_ILLEGAL_CONSTRUCTOR]` before anything is touched (as
 * `new AbortSignal()` does in Node). The symbol is not exported by the
 * package.
 * @packageDocumentation
 */
import { illegalConstructor } from '../errors';

/**
 * The key a factory passes to its class's constructor (kept in the .d.ts: public constructors name its type).
 * @hidden
 */
export const INTERNAL: unique symbol = Symbol('posix-ipc internal construction');

/** The type of {@link INTERNAL}, for constructor signatures (kept in the .d.ts, as INTERNAL). @hidden */
export type Internal = typeof INTERNAL;

/** Throws `ERR_ILLEGAL_CONSTRUCTOR` unless `key` is {@link INTERNAL}. @internal */
export function assertInternal(key: unknown): asserts key is Internal {
  if (key !== INTERNAL) throw illegalConstructor();
}

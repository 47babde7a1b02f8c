/**
 * Argument validation. Everything here throws before any syscall is made, with
 * the codes Node uses for its own arguments.
 * @internal
 * @packageDocumentation
 */
import { invalidArgType, invalidArgValue } from '../errors';

/** The longest name component Linux accepts (NAME_MAX). */
const NAME_MAX = 255;

/** Returns `options`, or `{}` for undefined; rejects anything but a plain object. */
export function validateOptions<T extends object>(options: T | undefined, name = 'options'): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType(name, 'of type object', options);
  }
  return options;
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
}

export function validateInteger(value: unknown, name: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgValue(name, value, `must be an integer >= ${min} and <= ${max}`, true);
  }
}

/** A size in bytes, from 1 to `max`. */
export function validateSize(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  validateInteger(value, name, 1, max);
}

/** Permission bits, as for chmod(2). */
export function validateMode(value: unknown, name = 'options.mode'): asserts value is number {
  validateInteger(value, name, 0, 0o777);
}

export function validateFd(value: unknown, name = 'fd'): asserts value is number {
  validateInteger(value, name, 0, 2 ** 31 - 1);
}

/** A filesystem path: a non-empty string without NUL. */
export function validatePath(value: unknown, name = 'path'): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.length === 0) throw invalidArgValue(name, value, 'must not be empty');
  if (value.includes('\0')) throw invalidArgValue(name, value, 'must not contain NUL characters');
  return value;
}

/**
 * Normalises a POSIX IPC object name: one leading '/', then 1 to 255 bytes
 * with no '/' and no NUL, and not '.' or '..'. A name given without the
 * leading '/' gets one, so 'jobs' and '/jobs' are the same object (as in
 * Python's multiprocessing.shared_memory).
 */
export function validateName(value: unknown, name = 'name'): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  const bare = value.startsWith('/') ? value.slice(1) : value;
  const bytes = Buffer.byteLength(bare);
  const why =
    bytes === 0 ? 'must not be empty' :
    bytes > NAME_MAX ? `must be at most ${NAME_MAX} bytes after the leading '/'` :
    bare.includes('/') ? "must not contain '/' after the leading one" :
    bare.includes('\0') ? 'must not contain NUL characters' :
    bare === '.' || bare === '..' ? "must not be '.' or '..'" :
    null;
  if (why !== null) throw invalidArgValue(name, value, `${why} (a POSIX IPC name)`);
  return `/${bare}`;
}

/** `timeoutMs`: undefined (no limit), or whole milliseconds up to about 24.8 days. */
export function validateTimeout(value: unknown, name = 'options.timeoutMs'): asserts value is number | undefined {
  if (value !== undefined) validateInteger(value, name, 0, 2 ** 31 - 1);
}

export function validateSignal(value: unknown, name = 'options.signal'): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
}

/** The bytes of a message: a view of a Buffer, TypedArray or DataView (no copy), or a string as UTF-8. */
export function toBytes(value: unknown, name = 'data'): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray or DataView', value);
}

/**
 * Argument validation. Everything here throws before any syscall is made, with
 * the codes Node uses for its own arguments.
 * @packageDocumentation
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import { invalidArgType, invalidArgValue, stateError } from '../errors';

/** The longest name component Linux accepts (NAME_MAX). */
const NAME_MAX = 255;

/**
 * A copy of `options` (its enumerable properties, own and inherited, each
 * read once), or `{}` for undefined; rejects anything but an object. What is
 * validated is then what is used: a getter or a Proxy cannot answer one thing
 * to the check and another to the use. An object that throws while being
 * read is `ERR_INVALID_ARG_VALUE`, with what it threw as `cause`.
 */
export function validateOptions<T extends object>(options: T | undefined, name = 'options'): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw invalidArgType(name, 'of type object', options);
  const copy: Record<string, unknown> = {};
  try {
    // Inside: Array.isArray throws for a revoked Proxy.
    if (Array.isArray(options)) throw invalidArgType(name, 'of type object', options);
    for (const key in options) copy[key] = (options as Record<string, unknown>)[key];
  } catch (cause) {
    if ((cause as { code?: unknown } | null)?.code === 'ERR_INVALID_ARG_TYPE') throw cause;
    throw Object.assign(invalidArgValue(name, options, 'could not be read'), { cause });
  }
  return copy as Partial<T>;
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

const signalAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;

/** A real AbortSignal: asked through its own brand-checked getter, so neither a Proxy nor a look-alike passes. */
export function validateSignal(value: unknown, name = 'options.signal'): asserts value is AbortSignal | undefined {
  if (value === undefined) return;
  let real = value !== null && typeof value === 'object' && !types.isProxy(value);
  if (real) {
    try {
      Reflect.apply(signalAborted, value, []);
    } catch {
      real = false;
    }
  }
  if (!real) throw invalidArgType(name, 'an instance of AbortSignal', value);
}

// What the engine itself says of a view, through the intrinsic getters: never
// a `length` or `byteLength` a caller defined on the object, never a Proxy's
// trap (util.types answers from the engine's own slots; a Proxy is no view).
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsic<T>(proto: object, key: string): (view: unknown) => T {
  const get = Object.getOwnPropertyDescriptor(proto, key)!.get!;
  return (view) => Reflect.apply(get, view, []) as T;
}
const typedBuffer = intrinsic<ArrayBufferLike>(TypedArrayPrototype, 'buffer');
const typedByteOffset = intrinsic<number>(TypedArrayPrototype, 'byteOffset');
const typedByteLength = intrinsic<number>(TypedArrayPrototype, 'byteLength');
const typedLength = intrinsic<number>(TypedArrayPrototype, 'length');
const viewBuffer = intrinsic<ArrayBufferLike>(DataView.prototype, 'buffer');
const viewByteOffset = intrinsic<number>(DataView.prototype, 'byteOffset');
const viewByteLength = intrinsic<number>(DataView.prototype, 'byteLength');
// ArrayBuffer.prototype.detached where the engine has it (not Node 20's);
// else a detached buffer is one of length 0 over which no view can be made.
const detachedGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get;
const arrayBufferByteLength = intrinsic<number>(ArrayBuffer.prototype, 'byteLength');

/** Whether `buffer` is an ArrayBuffer that was detached (transferred, or its memory closed). */
function isDetached(buffer: ArrayBufferLike): boolean {
  if (types.isSharedArrayBuffer(buffer)) return false;
  if (detachedGetter !== undefined) return Reflect.apply(detachedGetter, buffer, []) === true;
  if (arrayBufferByteLength(buffer) !== 0) return false;
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

const VIEW = 'an instance of Buffer, TypedArray or DataView';

/**
 * A Buffer, TypedArray or DataView as a Uint8Array over the same bytes, made
 * from what the engine says of it (its real buffer, offset and length). A
 * Proxy or anything else is `ERR_INVALID_ARG_TYPE`; a view of a detached
 * buffer is `ERR_INVALID_STATE`. Nothing of the caller's object is called.
 */
export function viewBytes(value: unknown, name: string, expected = VIEW): Uint8Array {
  if (types.isTypedArray(value)) {
    const buffer = typedBuffer(value);
    if (isDetached(buffer)) throw detachedError(name);
    return new Uint8Array(buffer, typedByteOffset(value), typedByteLength(value));
  }
  if (types.isDataView(value)) {
    const buffer = viewBuffer(value);
    if (isDetached(buffer)) throw detachedError(name);
    return new Uint8Array(buffer, viewByteOffset(value), viewByteLength(value));
  }
  throw invalidArgType(name, expected, value);
}

/**
 * A Uint8Array (or Buffer) target to write into, checked as {@link viewBytes}
 * checks; returned as it is (a Buffer stays a Buffer), so the caller's own
 * object is what the addon is given, whose length the addon reads itself.
 */
export function validateUint8Array(value: unknown, name: string): Uint8Array {
  if (!types.isUint8Array(value)) throw invalidArgType(name, 'an instance of Buffer or Uint8Array', value);
  if (isDetached(typedBuffer(value))) throw detachedError(name);
  return value;
}

/** A Uint32Array, checked as {@link validateUint8Array}; returns its real element count. */
export function validateUint32Array(value: unknown, name: string): number {
  if (!types.isUint32Array(value)) throw invalidArgType(name, 'an instance of Uint32Array', value);
  if (isDetached(typedBuffer(value))) throw detachedError(name);
  return typedLength(value);
}

/** A typed array's byteLength, as the engine says it (0 once detached). */
export function byteLengthOf(view: ArrayBufferView): number {
  return typedByteLength(view);
}

const resizableGetter = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;
const growableGetter = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')?.get;

/**
 * A typed array's byteLength when its buffer can neither be resized nor
 * grown (it can only be detached, which makes the length 0): what native
 * code may remember its pointer for, as long as the length stays the same.
 * 0 for a view whose memory may move or change size.
 */
export function fixedByteLength(view: ArrayBufferView): number {
  const buffer = typedBuffer(view);
  const getter = types.isSharedArrayBuffer(buffer) ? growableGetter : resizableGetter;
  if (getter !== undefined && Reflect.apply(getter, buffer, []) !== false) return 0;
  return typedByteLength(view);
}

/** An Int32Array, checked as {@link validateUint8Array}; returns its real element count. */
export function validateInt32Array(value: unknown, name: string): number {
  if (!types.isInt32Array(value)) throw invalidArgType(name, 'an instance of Int32Array', value);
  if (isDetached(typedBuffer(value))) throw detachedError(name);
  return typedLength(value);
}

/**
 * A copy of the array `value`, each element read once; a Proxy or anything
 * not an array is `ERR_INVALID_ARG_TYPE`, an array that throws while read is
 * `ERR_INVALID_ARG_VALUE` with the cause.
 */
export function readArray(value: unknown, name: string): unknown[] {
  if (types.isProxy(value) || !Array.isArray(value)) throw invalidArgType(name, 'an instance of Array', value);
  try {
    return Array.from(value as unknown[]);
  } catch (cause) {
    throw Object.assign(invalidArgValue(name, value, 'could not be read'), { cause });
  }
}

function detachedError(name: string): Error {
  return stateError('ERR_INVALID_STATE', `Invalid state: the "${name}" argument's ArrayBuffer is detached`);
}

/** The bytes of a message: a view of a Buffer, TypedArray or DataView (no copy), or a string as UTF-8. */
export function toBytes(value: unknown, name = 'data'): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return viewBytes(value, name, `of type string or ${VIEW}`);
}

/** A module to run: a path or a file: URL, checked and made absolute (Process and Pool). */
export function validateFile(value: unknown, name = 'file'): string {
  // A Proxy is not asked for its prototype (a revoked one throws): validatePath refuses it.
  if (!types.isProxy(value) && value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value.href, 'must be a file: URL');
    return fileURLToPath(value);
  }
  return path.resolve(validatePath(value, name));
}

/**
 * The error model shared by every object: syscall failures become
 * {@link IpcError}s shaped like Node's own fs errors; bad arguments become
 * `TypeError`/`RangeError` with Node's `ERR_INVALID_ARG_*` codes, thrown before
 * any syscall; misuse of a closed handle has `code: 'ERR_IPC_CLOSED'`.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, inspect } from 'node:util';
import { binding } from './binding';

const systemErrors = getSystemErrorMap();

const { EBADMSG } = osConstants.errno;

/** [code, description]: libuv's words where it has them (as Node prints them), else libc's. */
function describeErrno(errno: number): [string, string] {
  const known = systemErrors.get(errno) ?? binding.errnoName(-errno);
  if (known === null) return [`Unknown system error ${errno}`, 'unknown error'];
  const [code, text] = known;
  return [code, text.charAt(0).toLowerCase() + text.slice(1)];
}

/**
 * A failed syscall, shaped like the errors of Node's `fs` module:
 * `EEXIST: file already exists, shm_open '/jobs'`.
 */
export class IpcError extends Error {
  /** The errno name, e.g. `'EEXIST'`. */
  readonly code: string;
  /** The negated errno, as in Node (`-17` for EEXIST). */
  readonly errno: number;
  /** The libc function that failed, e.g. `'shm_open'`. */
  readonly syscall: string;
  /** The name of the object the call was about, when it has one. */
  declare readonly path?: string;

  /**
   * @param errno - The negated errno that a binding function returned.
   * @param syscall - The exact libc name of the failed call.
   * @param path - The object's name, if any.
   * @param description - Replaces the generic text (e.g. to name a kernel limit).
   */
  constructor(errno: number, syscall: string, path?: string | null, description?: string) {
    const [code, text] = describeErrno(errno);
    super(`${code}: ${description ?? text}, ${syscall}${path == null ? '' : ` '${path}'`}`);
    this.name = 'IpcError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (path != null) this.path = path;
  }
}

/**
 * Returns `result` when it is a success (>= 0); throws the {@link IpcError}
 * for it otherwise.
 * @internal
 */
export function check(result: number, syscall: string, path?: string | null): number {
  if (result >= 0) return result;
  const err = errorFor(result, syscall, path);
  Error.captureStackTrace(err, check);
  throw err;
}

/**
 * The error for a negative `result`: an {@link IpcError} (with `description`
 * when given), or for -EBADMSG, the addon's word for an object in shared
 * memory overwritten with what this library never writes (a sem_t's futex
 * flags, a mutex's kind; it was not handed to the C library, which would have
 * aborted the process), `ERR_IPC_CORRUPT`.
 * @internal
 */
export function errorFor(result: number, syscall: string, path?: string | null, description?: string): Error {
  if (result === -EBADMSG) return corrupt(path ?? 'the object in shared memory', `its bytes were overwritten with what this library never writes, so it is not handed to the C library (${syscall})`);
  return new IpcError(result, syscall, path, description);
}

/** An error that is not a syscall's: it carries a Node-style `code`. */
export interface CodedError extends Error {
  /** e.g. `'ERR_INVALID_ARG_TYPE'`, `'ERR_IPC_CLOSED'`. */
  code: string;
}

function coded<E extends Error>(err: E, code: string): E & CodedError {
  return Object.assign(err, { code });
}

function describe(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    return ` Received ${ctor?.name ? `an instance of ${ctor.name}` : inspect(value, { depth: -1 })}`;
  }
  return ` Received type ${typeof value} (${inspect(value, { maxStringLength: 28 })})`;
}

/** `TypeError [ERR_INVALID_ARG_TYPE]`, worded like Node's. @internal */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}.${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

/**
 * `ERR_INVALID_ARG_VALUE`: a `RangeError` for a number out of range, a
 * `TypeError` for a malformed value, as Node does. @internal
 */
export function invalidArgValue(name: string, value: unknown, reason: string, range = false): Error & CodedError {
  const Ctor = range ? RangeError : TypeError;
  const shown = inspect(value, { maxStringLength: 64 });
  return coded(new Ctor(`The argument '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

/** Use of a handle after `close()`: `code: 'ERR_IPC_CLOSED'`. @internal */
export function closedError(what: string): Error & CodedError {
  return coded(new Error(`${what} is closed`), 'ERR_IPC_CLOSED');
}

/** `new X()` from outside the package: `TypeError [ERR_ILLEGAL_CONSTRUCTOR]`, as Node's own. @internal */
export function illegalConstructor(): TypeError & CodedError {
  return coded(new TypeError('Illegal constructor'), 'ERR_ILLEGAL_CONSTRUCTOR');
}

/** An operation the handle's own state forbids, e.g. `ERR_IPC_READ_ONLY`. @internal */
export function stateError(code: string, message: string): Error & CodedError {
  return coded(new Error(message), code);
}

/** `ERR_IPC_CORRUPT`: shared memory that `label` names holds what no peer of ours writes. */
export function corrupt(label: string, why: string): Error & CodedError {
  return stateError('ERR_IPC_CORRUPT', `${label} is corrupt: ${why}`);
}

/**
 * An operation given up through its `AbortSignal`, shaped like Node's own
 * (`name: 'AbortError'`, `code: 'ABORT_ERR'`, the signal's reason as `cause`).
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';

  constructor(options?: { cause?: unknown }) {
    super('The operation was aborted', options);
    this.name = 'AbortError';
  }
}

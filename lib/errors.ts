/**
 * The error model shared by every object: syscall failures become
 * {@link IpcError}s shaped like Node's own fs errors; bad arguments become
 * `TypeError`/`RangeError` with Node's `ERR_INVALID_ARG_*` codes, thrown before
 * any syscall; misuse of a closed handle has `code: 'ERR_IPC_CLOSED'`.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, inspect, types } from 'node:util';
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
 * `EEXIST` for a name or path asked to be new, with the way out: a name left
 * by a process that never removed it is the usual cause.
 * @internal
 */
export function existsError(syscall: string, path: string): IpcError {
  const quoted = /^[\w./@:+-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`;
  return new IpcError(
    -osConstants.errno.EEXIST, syscall, path,
    `file already exists (left by a process that did not remove it? \`npx posix-ipc rm ${quoted}\` ` +
      'removes it if no process holds it)',
  );
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
  if (result === -EBADMSG) {
    return corrupt(
      path ?? 'the object in shared memory',
      'its bytes were overwritten with what this library never writes, ' +
        `so it is not handed to the C library (${syscall})`,
    );
  }
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

// Says what a bad argument was without running any of its code: no getter,
// no Proxy trap, no toString (any of which may throw, or lie).
function describe(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (types.isProxy(value)) return ' Received a Proxy';
  if (typeof value === 'function') return ` Received function ${safeName(value)}`;
  if (typeof value === 'object') {
    const ctor = ownValue(Object.getPrototypeOf(value), 'constructor');
    const name = typeof ctor === 'function' ? ownValue(ctor, 'name') : undefined;
    return ` Received ${typeof name === 'string' && name !== '' ? `an instance of ${name}` : show(value)}`;
  }
  return ` Received type ${typeof value} (${show(value, 28)})`;
}

function safeName(fn: object): string {
  const name = ownValue(fn, 'name');
  return typeof name === 'string' ? name : '<anonymous>';
}

// An own data property's value, without calling a getter (undefined otherwise).
function ownValue(object: object | null, key: string): unknown {
  if (object === null || types.isProxy(object)) return undefined;
  const own = Object.getOwnPropertyDescriptor(object, key);
  return own !== undefined && 'value' in own ? own.value : undefined;
}

// util.inspect never calls getters or Proxy traps unless asked to; anything
// it still cannot show (a revoked Proxy, say) is shown as what it is.
function show(value: unknown, maxStringLength = 64): string {
  if (types.isProxy(value)) return 'a Proxy';
  try {
    return inspect(value, {
      depth: 0, maxStringLength, maxArrayLength: 8, breakLength: Infinity, customInspect: false, getters: false,
    });
  } catch {
    return `a value of type ${typeof value}`;
  }
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
  const shown = show(value);
  return coded(new Ctor(`The argument '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

/** Use of a handle after `close()`: `code: 'ERR_IPC_CLOSED'`. @internal */
export function closedError(what: string): Error & CodedError {
  return coded(new Error(`${what} is closed`), 'ERR_IPC_CLOSED');
}

/**
 * A method called on something that is not its class's instance: `TypeError [ERR_INVALID_THIS]`, as Node's own.
 * @internal
 */
export function invalidThis(expected: string): TypeError & CodedError {
  return coded(new TypeError(`Value of "this" must be of type ${expected}`), 'ERR_INVALID_THIS');
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

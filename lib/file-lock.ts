/**
 * File locks between processes: byte-range locks that belong to an open file
 * description (Linux "OFD" locks, `fcntl(F_OFD_SETLK)`), and whole-file
 * `flock(2)` locks, which Node itself does not offer.
 *
 * A lock is held by a {@link FileLock} and ends with `release()`, or when the
 * process (or Worker) that holds it ends, however it ends: the kernel drops
 * the locks of a description when its last descriptor closes. Waiting for a
 * lock runs on a dedicated thread that polls (see {@link lockFile}), never on
 * the event loop or libuv's pool.
 * @packageDocumentation
 */
import { constants as fsConstants, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, invalidArgType, invalidArgValue, IpcError, stateError } from './errors';
import { abortError } from './internal/cancel';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { ThreadWaits, TIMED_OUT, WaitingLifetime } from './internal/thread-wait';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';
import {
  validateBoolean, validateFd, validateInteger, validateMode, validateOptions, validatePath,
} from './internal/validate';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';
import { endWaitRecords, fileLockTarget, recordedWait } from './internal/wait-record';

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL } = fsConstants;
const { EACCES, EAGAIN, EBADF, EEXIST, EISDIR, EROFS, ETXTBSY } = osConstants.errno;

/** What open(2) says when only write access is refused. */
const NOT_WRITABLE = new Set([-EACCES, -EROFS, -EISDIR, -ETXTBSY]);
const { F_RDLCK, F_WRLCK, F_UNLCK } = binding;

/**
 * `'exclusive'` (a write lock: nobody else holds any lock on the range) or `'shared'` (a read lock: others may share
 * it).
 */
export type FileLockMode = 'exclusive' | 'shared';

/**
 * `'ofd'`: a byte-range lock of the open file description (`fcntl(F_OFD_SETLK)`),
 * the default. `'flock'`: a whole-file `flock(2)` lock, as `flock(1)` takes in
 * shell scripts. On Linux the two kinds never conflict with each other.
 */
export type FileLockKind = 'ofd' | 'flock';

/** What to lock, and how. */
export interface FileLockOptions {
  /** Default `'exclusive'`. */
  mode?: FileLockMode;
  /** Default `'ofd'`. */
  kind?: FileLockKind;
  /** First byte of the range (OFD only). Default `0`. */
  start?: number;
  /** Bytes in the range (OFD only); `0`, the default, reaches past the end of the file, however it grows. */
  length?: number;
  /** Given a path: create the file if it does not exist. Default `false`. */
  create?: boolean;
  /** Permission bits of a file this call creates, exact whatever the umask. Default `0o600`. */
  fileMode?: number;
}

/** Options of {@link lockFile}. */
export interface LockFileOptions extends FileLockOptions, WaitOptions {
  /**
   * `false`: the wait does not keep the process alive (as the `ref` option
   * of `timers/promises`): a process with nothing else to do exits while
   * it waits. Default `true`.
   */
  ref?: boolean;
}

/** Options of {@link lockFileSync}. */
export interface LockFileSyncOptions extends FileLockOptions, SyncWaitOptions {}

/** Options of {@link FileLock.upgrade}: whichever way it gives up, the lock stays shared. */
export interface FileLockUpgradeOptions extends WaitOptions {}

const KINDS: Record<FileLockKind, number> = { ofd: 0, flock: 1 };
const TYPES: Record<FileLockMode, number> = { exclusive: F_WRLCK, shared: F_RDLCK };
const SYSCALLS: Record<FileLockKind, string> = { ofd: 'fcntl', flock: 'flock' };

/** A validated request: what to lock, on which file. */
interface Request {
  /** The caller's descriptor, or -1 for a path. */
  target: number;
  path: string | null;
  mode: FileLockMode;
  kind: FileLockKind;
  start: number;
  length: number;
  create: boolean;
  fileMode: number;
}

function parseRequest(target: unknown, options: FileLockOptions | undefined): Request {
  const isFd = typeof target === 'number';
  if (isFd) validateFd(target, 'target');
  else if (typeof target !== 'string') throw invalidArgType('target', 'of type string or number', target);
  else validatePath(target, 'target');
  const {
    mode = 'exclusive', kind = 'ofd', start = 0, length = 0, create = false, fileMode = 0o600,
  } = validateOptions(options);
  if (!Object.hasOwn(TYPES, mode)) throw invalidArgValue('options.mode', mode, "must be 'exclusive' or 'shared'");
  if (!Object.hasOwn(KINDS, kind)) throw invalidArgValue('options.kind', kind, "must be 'ofd' or 'flock'");
  validateInteger(start, 'options.start', 0, Number.MAX_SAFE_INTEGER);
  validateInteger(length, 'options.length', 0, Number.MAX_SAFE_INTEGER - start);
  if (kind === 'flock' && (start !== 0 || length !== 0)) {
    throw invalidArgValue('options.kind', kind, 'locks the whole file: it takes no start or length');
  }
  validateBoolean(create, 'options.create');
  validateMode(fileMode, 'options.fileMode');
  if (isFd && create) throw invalidArgValue('options.create', create, 'applies to a path, not to a descriptor');
  return {
    target: isFd ? target : -1, path: isFd ? null : (target as string), mode, kind, start, length, create, fileMode,
  };
}

/**
 * A descriptor of its own for the lock: the path opened, or a duplicate of
 * the caller's descriptor, which shares its open file description and so its
 * locks.
 */
function openFor(req: Request): number {
  if (req.path === null) return check(binding.dupFd(req.target), 'fcntl');
  // flock(2) needs no write access: like flock(1), it locks files this
  // process may only read, and directories. An OFD lock is opened read-write,
  // so that a shared one can be upgraded, unless this process may only read
  // the file: a shared lock then makes do with read access.
  if (req.kind === 'flock') return openPath(req, O_RDONLY);
  const fd = openPath(req, O_RDWR, req.mode === 'shared');
  return fd >= 0 ? fd : openPath(req, O_RDONLY);
}

/**
 * Opens (with `create`, creates) the request's path: the descriptor, or with
 * `orNotWritable`, -EACCES, -EROFS, -EISDIR or -ETXTBSY when write access is
 * what failed. Other failures throw.
 */
function openPath(req: Request, flags: number, orNotWritable = false): number {
  const path = req.path!;
  let fd: number;
  let created = false;
  if (!req.create) {
    fd = binding.fileLockOpen(path, flags, 0);
  } else {
    fd = binding.fileLockOpen(path, flags | O_CREAT | O_EXCL, req.fileMode);
    created = fd >= 0;
    // Taken: open what is there. O_CREAT again, not a plain open, so that a
    // file removed in between (or a dangling symbolic link) is created
    // instead of making this fail or loop; made that way, it keeps the
    // umask's mode, which only ever removes bits.
    if (fd === -EEXIST) fd = binding.fileLockOpen(path, flags | O_CREAT, req.fileMode);
  }
  if (orNotWritable && NOT_WRITABLE.has(fd)) return fd;
  check(fd, 'open', path);
  const chmod = created ? binding.fchmod(fd, req.fileMode) : 0;
  if (chmod < 0) {
    binding.close(fd);
    rmSync(path, { force: true });
  }
  check(chmod, 'fchmod', path);
  return fd;
}

/** The error of a failed lock call; EBADF from an open descriptor means its access mode does not allow the lock. */
function lockError(result: number, kind: FileLockKind, mode: FileLockMode, path: string | null): IpcError {
  if (result === -EBADF) {
    const needs = mode === 'exclusive'
      ? 'an exclusive lock needs a descriptor open for writing'
      : 'a shared lock needs a descriptor open for reading';
    return new IpcError(result, SYSCALLS[kind], path, needs);
  }
  return new IpcError(result, SYSCALLS[kind], path);
}

/** The ETIMEDOUT of a lock wait. */
function lockTimedOut(kind: FileLockKind, path: string | null, timeoutMs: number | undefined): IpcError {
  return timedOut(SYSCALLS[kind], path, timeoutMs!, 'the lock');
}

/** lockFile() waits; they have no handle to end them, only their signal and timeout. */
const waits = new ThreadWaits();

/** Makes a FileLock (its constructor is private to this module's functions). */
let makeLock: (fd: number, req: Request) => FileLock;

/**
 * A held file lock. It lasts until `release()` (also `close()` and `using`),
 * or until the process or Worker that holds it ends, by a crash or SIGKILL
 * too. A `FileLock` that is garbage-collected is *not* released: a lock must
 * not vanish whenever the collector runs. Its descriptor is close-on-exec.
 *
 * @example
 * ```ts
 * using lock = await lockFile('/var/lock/jobs.lock', { create: true, timeoutMs: 5000 });
 * // ... only one process at a time gets here ...
 * ```
 */
export class FileLock implements Disposable {
  /**
   * Its handle is the lock's descriptor (see the constructor); its waits are
   * a pending upgrade, which release() ends and which is what it can keep the
   * loop alive with.
   */
  readonly #life: WaitingLifetime<number>;
  #mode: FileLockMode;
  readonly #req: Request;

  static {
    makeLock = (fd, req) => new FileLock(INTERNAL, fd, req);
    implementRef(this, (self) => (#life in self ? (self as FileLock).#life.loopRef : undefined));
  }

  private constructor(key: Internal, fd: number, req: Request) {
    assertInternal(key);
    // A Lifetime, not an OwnedDescriptor: that one closes its descriptor when
    // the handle is garbage-collected, and a lock must not vanish whenever the
    // collector runs. The descriptor is tracked natively all the same, so the
    // end of its Worker or process closes it (and so releases the lock).
    this.#life = new WaitingLifetime('FileLock', fd);
    this.#mode = req.mode;
    this.#req = req;
  }

  /**
   * The lock's own descriptor (close-on-exec), or -1 once released: for a
   * path, the file opened read-write for an OFD lock (read-only for a shared
   * one this process may not write, and for flock); for a descriptor, a
   * duplicate of it. Read and write the file
   * through it if you like; closing it yourself is a mistake (release() would
   * close a number that may belong to someone else by then).
   */
  get fd(): number {
    return this.#life.current ?? -1;
  }

  /** `'exclusive'` or `'shared'`; changes with {@link FileLock.upgrade} and {@link FileLock.downgrade}. */
  get mode(): FileLockMode {
    return this.#mode;
  }

  /** `'ofd'` or `'flock'`. */
  get kind(): FileLockKind {
    return this.#req.kind;
  }

  /** First byte of the locked range (0 for flock). */
  get start(): number {
    return this.#req.start;
  }

  /** Bytes in the locked range; 0: to the end of the file and beyond (always 0 for flock). */
  get length(): number {
    return this.#req.length;
  }

  /** The path it was taken on, or `null` when it was taken on a descriptor. */
  get path(): string | null {
    return this.#req.path;
  }

  /** Whether it was released. */
  get released(): boolean {
    return this.#life.closed;
  }

  /**
   * Turns a shared OFD lock into an exclusive one, atomically: while it waits,
   * and if it times out or is aborted, the lock stays shared, never unlocked.
   * Resolves at once when already exclusive. Two holders that both upgrade
   * wait for each other forever (OFD locks detect no deadlock): give a
   * timeout. Needs a descriptor open for writing (`EBADF` otherwise, e.g. on
   * a file this process may only read). `flock` locks cannot change
   * mode atomically: `ERR_IPC_UNSUPPORTED`.
   */
  async upgrade(options?: FileLockUpgradeOptions): Promise<void> {
    this.#convertible();
    const wait = waitOptions(options);
    if (this.#life.waits.size > 0) throw stateError('ERR_IPC_BUSY', 'An upgrade of this FileLock is already pending');
    if (this.#mode === 'exclusive') return;
    if (wait.signal?.aborted) throw abortError(wait.signal);
    const { start, length, path } = this.#req;
    const deadline = wait.timeoutMs === undefined ? Infinity : performance.now() + wait.timeoutMs;
    for (;;) {
      // Asked again after each wait: code that ran before this continuation
      // may have released the lock, and fd may be someone else's by now.
      const fd = this.#life.open;
      // Taken here, on this thread, never by the wait (native/file-lock.cc says why).
      const result = binding.fileLock(fd, KINDS.ofd, start, length, F_WRLCK);
      if (result === 0) break;
      if (result !== -EAGAIN) throw lockError(result, 'ofd', 'exclusive', path);
      const timeoutMs = deadline === Infinity ? undefined : Math.max(0, Math.ceil(deadline - performance.now()));
      const target = () => fileLockTarget(fd, path, start, length, true, 'ofd');
      const free = await recordedWait(target, () => this.#life.waits.run(
        (t, done) => binding.fileLockWait(fd, KINDS.ofd, start, length, F_WRLCK, true, t, done),
        { signal: wait.signal, timeoutMs }, 'fcntl', path,
      ), this);
      if (free === TIMED_OUT) throw lockTimedOut('ofd', path, wait.timeoutMs);
      // The range was free a moment ago; someone may have been quicker: try again.
    }
    this.#mode = 'exclusive';
  }

  /** Turns an exclusive OFD lock into a shared one, atomically; never waits. Nothing to do when already shared. */
  downgrade(): void {
    const fd = this.#convertible();
    if (this.#life.waits.size > 0) throw stateError('ERR_IPC_BUSY', 'An upgrade of this FileLock is pending');
    if (this.#mode === 'shared') return;
    const { start, length, path } = this.#req;
    const result = binding.fileLock(fd, KINDS.ofd, start, length, F_RDLCK);
    if (result < 0) throw lockError(result, 'ofd', 'shared', path);
    this.#mode = 'shared';
  }

  /**
   * Unlocks the range and closes the descriptor. Idempotent. A pending
   * upgrade rejects with `ERR_IPC_CLOSED`. On a lock taken on a descriptor
   * this unlocks the range of that descriptor's open file description, which
   * the caller still holds open.
   */
  release(): void {
    // end() rejects a pending upgrade with ERR_IPC_CLOSED first.
    const fd = this.#life.end();
    if (fd === null) return;
    endWaitRecords(this);
    const { kind, start, length } = this.#req;
    // Cannot fail on a descriptor this handle owns and a range it locked; and
    // a lock taken on a path goes with the descriptor anyway.
    binding.fileLock(fd, KINDS[kind], start, length, F_UNLCK);
    binding.close(fd);
  }

  /** Same as `release()`. */
  close(): void {
    this.release();
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /**
   * `FileLock { path: '/var/lock/jobs.lock', fd: 21, kind: 'ofd', mode: 'exclusive', start: 0, length: 0, ref: true,
   * closed: false }`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const { path, kind, start, length } = this.#req;
    return inspectHandle(
      'FileLock',
      { path, fd: this.fd, kind, mode: this.#mode, start, length, ref: this.#life.loopRef.ref, closed: this.released },
      depth, options,
    );
  }

  /** The open descriptor of an OFD lock, whose mode can change (`ERR_IPC_CLOSED`, `ERR_IPC_UNSUPPORTED`). */
  #convertible(): number {
    const fd = this.#life.open;
    if (this.#req.kind === 'flock') {
      throw stateError(
        'ERR_IPC_UNSUPPORTED',
        'A flock(2) lock cannot change mode atomically (the kernel unlocks it first): ' +
          'release it and lock again, or use an OFD lock',
      );
    }
    return fd;
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface FileLock extends Referable {}

/**
 * Locks a file, waiting as long as another open file description holds a
 * conflicting lock, in this process or any other. `target` is a path (opened,
 * and with `create: true` created, by this call; the lock's own descriptor is
 * closed on release) or a descriptor (duplicated: the lock belongs to its
 * open file description, which the caller keeps open and shares with every
 * duplicate and every process it was passed to).
 *
 * The wait runs on a dedicated thread that retries the non-blocking lock
 * call, after 1 ms and then twice as long each time up to 10 ms: the kernel
 * would only interrupt a blocking wait with a signal, and this library
 * installs no signal handlers. So waiters are not queued: a writer can be
 * starved by readers whose shared locks keep overlapping. No deadlock is
 * detected.
 *
 * Rejects with `ETIMEDOUT` (`syscall: 'fcntl'`, or `'flock'`) after
 * `timeoutMs`, an `AbortError` when `signal` aborts (a lock granted in the
 * meantime is released again), `EBADF` for a bad descriptor, the `open` error
 * for a path (`ENOENT`, `EISDIR`, `EACCES`, ...).
 */
export async function lockFile(target: string | number, options?: LockFileOptions): Promise<FileLock> {
  // Read once: the request, the wait and ref all come from this copy.
  const opts = validateOptions(options);
  const req = parseRequest(target, opts);
  const wait = waitOptions(opts);
  const { ref = true } = opts;
  validateBoolean(ref, 'options.ref');
  if (wait.signal?.aborted) throw abortError(wait.signal);
  const { kind, start, length, mode, path } = req;
  const fd = openFor(req);
  try {
    const result = binding.fileLock(fd, KINDS[kind], start, length, TYPES[mode]);
    if (result === -EAGAIN) {
      const target = () => fileLockTarget(fd, path, start, length, mode === 'exclusive', kind);
      const waited = await recordedWait(target, () => waits.run(
        (t, done) => binding.fileLockWait(fd, KINDS[kind], start, length, TYPES[mode], false, t, done),
        { ...wait, ref }, SYSCALLS[kind], path,
      ));
      if (waited === TIMED_OUT) throw lockTimedOut(kind, path, wait.timeoutMs);
    } else if (result < 0) {
      throw lockError(result, kind, mode, path);
    }
    return makeLock(fd, req);
  } catch (err) {
    binding.close(fd);
    throw err;
  }
}

/**
 * Locks a file if no other open file description holds a conflicting lock:
 * the {@link FileLock}, or `null` at once when one does. Same arguments as
 * {@link lockFile}; never waits.
 */
export function tryLockFile(target: string | number, options?: FileLockOptions): FileLock | null {
  const req = parseRequest(target, options);
  const lock = lockNow(req, (fd) => binding.fileLock(fd, KINDS[req.kind], req.start, req.length, TYPES[req.mode]));
  if (lock === -EAGAIN) return null;
  if (typeof lock === 'number') throw lockError(lock, req.kind, req.mode, req.path);
  return lock;
}

/**
 * {@link lockFile}, blocking this thread: for scripts and dedicated
 * processes. Without `timeoutMs` it sleeps in the kernel (`F_OFD_SETLKW`, or
 * `flock` without `LOCK_NB`) until granted; with one it polls like
 * {@link lockFile} (1 to 10 ms apart) and throws `ETIMEDOUT` when it passes.
 * A lock this process already holds through another handle blocks it too:
 * without a timeout, that waits forever.
 */
export function lockFileSync(target: string | number, options?: LockFileSyncOptions): FileLock {
  const opts = validateOptions(options);
  const req = parseRequest(target, opts);
  const timeoutMs = syncTimeout(opts);
  const lock = lockNow(req, (fd) =>
    binding.fileLockSync(fd, KINDS[req.kind], req.start, req.length, TYPES[req.mode], timeoutMs),
  );
  if (lock === TIMED_OUT) throw lockTimedOut(req.kind, req.path, timeoutMs);
  if (typeof lock === 'number') throw lockError(lock, req.kind, req.mode, req.path);
  return lock;
}

/**
 * Opens the target and calls `lock(fd)`: the FileLock when it returns 0, else its result, with the descriptor closed.
 */
function lockNow(req: Request, lock: (fd: number) => number): FileLock | number {
  const fd = openFor(req);
  const result = lock(fd);
  if (result === 0) return makeLock(fd, req);
  binding.close(fd);
  return result;
}

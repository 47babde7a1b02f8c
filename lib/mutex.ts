/**
 * Robust mutexes between processes: a `pthread_mutex_t` (process-shared,
 * robust, error-checking) in shared memory. When a holder dies, SIGKILL
 * included, the kernel marks the mutex and the next locker learns it
 * (`ownerDied: true`); nothing is guessed from timers or pids.
 * @packageDocumentation
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding, type MutexHandle } from './binding';
import {
  check, closedError, errorFor, existsError, invalidArgType, invalidArgValue, IpcError, stateError,
} from './errors';
import { abortError } from './internal/cancel';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { TIMED_OUT, WaitingLifetime } from './internal/thread-wait';
import { endWaitRecords, recordedWait, recordedWaitSync, type WaitTarget } from './internal/wait-record';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';
import { HostedRecord, isSharedMemory, type Placement, type SharedMemory } from './shared-memory';
import { validateBoolean, validateInteger, validateMode, validateName, validateOptions } from './internal/validate';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';

const { O_RDWR } = fsConstants;
const { EBUSY, EDEADLK, EEXIST, EINVAL, ENOENT, ENOTSUP, EPERM } = osConstants.errno;

/** Options of {@link Mutex.open}. */
export interface MutexOpenOptions {
  /** Create the mutex if the name is free. Default `false`. */
  create?: boolean;
  /** With `create`: fail with `EEXIST` if the name is taken. Default `false`. */
  exclusive?: boolean;
  /** With `create`: permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
}

/** Options of {@link Mutex.inside}. */
export interface MutexInsideOptions {
  /**
   * `true`: initialise a new mutex at the offset (`EEXIST` if one is already
   * there). `false` (the default): attach to the one there (`EINVAL` if none).
   */
  init?: boolean;
}

/** Options of {@link Mutex.lock} and {@link Mutex.withLock}. */
export interface MutexLockOptions extends WaitOptions {}

/** Options of {@link Mutex.lockSync}. */
export interface MutexLockSyncOptions extends SyncWaitOptions {}

/** What a successful lock tells. */
export interface MutexLockResult {
  /**
   * The previous holder died holding the lock (the kernel said so). The lock
   * is now yours, but what it protects may be half-updated: repair it, then
   * call {@link Mutex.markConsistent} before unlocking, or the mutex becomes
   * unusable for everyone (`ENOTRECOVERABLE`).
   */
  ownerDied: boolean;
}

/** Why `ENOTSUP`: a robust mutex of another library sits among ours in the list (native/mutex.cc says why). */
const FOREIGN_ROBUST_MUTEX =
  'this thread holds a robust mutex this library did not lock, which shares the list the kernel keeps of held mutexes';

/** Bytes a mutex takes inside shared memory. */
const SIZE: number = binding.MUTEX_SIZE;

/** Maps the mutex record at `offset` of `fd`, initialising it when `init`. */
function map(fd: number, offset: number, init: boolean, path: string | null): MutexHandle {
  const r = binding.mutexMap(fd, offset, init);
  if (typeof r !== 'number') return r;
  const why =
    r === -ENOTSUP ? "this C library's robust mutex word is not the kernel's robust-futex word" :
    r === -EEXIST ? `a mutex is already initialised at offset ${offset}` :
    r === -EINVAL ? `no initialised mutex at offset ${offset}` :
    undefined;
  throw errorFor(r, init ? 'pthread_mutex_init' : 'mmap', path, why);
}

/**
 * A robust mutex shared between processes, by name ({@link Mutex.open}) or
 * at an offset of a {@link SharedMemory} ({@link Mutex.inside}).
 *
 * The owner is the JavaScript thread that locked it, through this handle: the
 * main thread stands for the process, and a `worker_threads` Worker is an owner
 * of its own (its exit counts as the owner's death). All locking happens on
 * that thread; `lock()` waits on a dedicated thread that never takes the lock
 * itself, so the event loop and libuv's pool stay free.
 *
 * @example
 * ```ts
 * using m = Mutex.open('/jobs.lock', { create: true });
 * await m.withLock(async ({ ownerDied }) => {
 *   if (ownerDied) { repair(); m.markConsistent(); }
 *   update();
 * });
 * ```
 */
export class Mutex implements Disposable {
  static {
    implementRef(this, (self) => (#life in self ? (self as Mutex).#life.loopRef : undefined));
  }

  readonly #life: WaitingLifetime<MutexHandle>;
  // Whether this handle holds the lock (see #setHeld).
  #held = false;
  readonly #name: string | null;
  // The name errors carry: the mutex's own, or that of the memory it lives in.
  readonly #path: string | null;
  // Its record in the memory it lives in, so no resize() of this process cuts it off.
  #hosted: HostedRecord | null = null;
  // Inside shared memory: that memory and where, so a child can be given the
  // same memory (lib/internal/share.ts). Kept until close().
  #inside: Placement | null = null;

  /** Bytes a mutex takes inside a {@link SharedMemory} ({@link Mutex.inside}): 64. */
  static readonly SIZE: number = SIZE;

  private constructor(key: Internal, handle: MutexHandle, name: string | null, path: string | null) {
    assertInternal(key);
    this.#life = new WaitingLifetime('Mutex', handle);
    this.#name = name;
    this.#path = path;
  }

  /**
   * Opens a named mutex (`create: true`: creates it if the name is free). A
   * new mutex is complete before its name appears, so a process that opens it
   * never sees it half-made. The name lives in /dev/shm beside shared-memory
   * objects, until {@link Mutex.unlink}.
   */
  static open(name: string, options?: MutexOpenOptions): Mutex {
    const path = validateName(name);
    const { create = false, exclusive = false, mode = 0o600 } = validateOptions(options);
    validateBoolean(create, 'options.create');
    validateBoolean(exclusive, 'options.exclusive');
    validateMode(mode);
    if (exclusive && !create) throw invalidArgValue('options', options, 'sets exclusive, which needs create: true');
    for (;;) {
      if (create) {
        const made = Mutex.#create(path, mode);
        if (made !== null) return made;
        if (exclusive) throw existsError('linkat', path);
      }
      const fd = binding.shmOpen(path, O_RDWR, 0);
      // Unlinked since we found the name taken: create it again.
      if (fd === -ENOENT && create) continue;
      check(fd, 'shm_open', path);
      try {
        const { key } = HostedRecord.identify(fd, path);
        return Mutex.#hosting(new Mutex(INTERNAL, map(fd, 0, false, path), path, path), key, 0);
      } finally {
        binding.close(fd);
      }
    }
  }

  /**
   * A mutex at `offset` of `shm` (a multiple of 8; it takes {@link Mutex.SIZE}
   * bytes). Exactly one process initialises it, once, with `{ init: true }`,
   * before the others attach with the default `{ init: false }`: typically the
   * creator of the memory, before it starts the others. A live mutex is never
   * initialised again (`EEXIST`), and attaching where none was initialised is
   * `EINVAL`.
   *
   * The mutex has its own mapping of the page(s) it is in: closing `shm` does
   * not affect it, and it keeps that memory until it is closed itself. While
   * it is open, `shm.resize()` (or that of any other handle of the same
   * memory in this process) refuses to shrink the memory past it
   * (`ERR_IPC_BUSY`). Another process can still truncate it under the mutex:
   * its next call then dies of SIGBUS (see SharedMemory's limits).
   */
  static inside(shm: SharedMemory, offset: number, options?: MutexInsideOptions): Mutex {
    if (!isSharedMemory(shm)) throw invalidArgType('shm', 'an instance of SharedMemory', shm);
    validateInteger(offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    if (offset % 8 !== 0) throw invalidArgValue('offset', offset, 'must be a multiple of 8', true);
    const { init = false } = validateOptions(options);
    validateBoolean(init, 'options.init');
    if (shm.closed) throw closedError('SharedMemory');
    if (offset + SIZE > shm.size) {
      throw invalidArgValue(
        'offset', offset, `must leave Mutex.SIZE (${SIZE}) bytes in the ${shm.size}-byte SharedMemory`, true,
      );
    }
    if (shm.readOnly) throw stateError('ERR_IPC_READ_ONLY', 'Cannot place a Mutex in a read-only SharedMemory');
    // The memory's real size: this handle's may be stale after another's resize().
    const { key, size } = HostedRecord.identify(shm.fd, shm.name);
    if (offset + SIZE > size) {
      throw invalidArgValue(
        'offset', offset, `must leave Mutex.SIZE (${SIZE}) bytes in the shared memory object, now ${size} bytes`, true,
      );
    }
    const mutex = Mutex.#hosting(new Mutex(INTERNAL, map(shm.fd, offset, init, shm.name), null, shm.name), key, offset);
    mutex.#inside = { shm, offset };
    return mutex;
  }

  /**
   * For a child (lib/internal/share.ts): the name, or the memory and offset it
   * was placed at; undefined when `value` is no Mutex.
   * @internal
   */
  static shareState(value: unknown): { name: string | null; inside: Placement | null } | undefined {
    if (typeof value !== 'object' || value === null || !(#inside in value)) return undefined;
    return { name: value.#name, inside: value.#inside };
  }

  /** Registers `mutex`'s record at `offset` of the memory `key` (see HostedRecord). */
  static #hosting(mutex: Mutex, key: string, offset: number): Mutex {
    mutex.#hosted = HostedRecord.register(key, mutex, 'Mutex', offset, SIZE);
    return mutex;
  }

  /** What a blocking lock records it waits on (lib/internal/wait-record.ts): the memory it lives in, and where. */
  #waitTarget(): WaitTarget {
    return { kind: 'mutex', key: this.#hosted!.key, offset: this.#hosted!.offset, name: this.#path };
  }

  /**
   * Creates a named mutex fully before anyone can see it: an unnamed file is
   * sized, mapped and initialised, then linked under its name in one step (the
   * way glibc's sem_open publishes a semaphore). Returns null if the name is taken.
   */
  static #create(path: string, mode: number): Mutex | null {
    const fd = check(binding.mutexTmpfile(mode), 'open', path);
    try {
      // open(2) applied the umask; make the mode exactly what was asked.
      check(binding.fchmod(fd, mode), 'fchmod', path);
      check(binding.posixFallocate(fd, SIZE), 'posix_fallocate', path);
      const { key } = HostedRecord.identify(fd, path);
      const handle = map(fd, 0, true, path);
      const r = binding.mutexPublish(fd, path);
      if (r < 0) {
        binding.mutexClose(handle);
        if (r === -EEXIST) return null;
        throw new IpcError(r, 'linkat', path, r === -ENOENT ? 'naming a new mutex needs /proc mounted' : undefined);
      }
      return Mutex.#hosting(new Mutex(INTERNAL, handle, path, path), key, 0);
    } finally {
      binding.close(fd);
    }
  }

  /** Removes a mutex's name; handles already open keep working. */
  static unlink(name: string): void {
    const path = validateName(name);
    check(binding.shmUnlink(path), 'shm_unlink', path);
  }

  /** Removes this mutex's name (see {@link Mutex.unlink}); nothing for one inside shared memory. */
  unlink(): void {
    if (this.#name !== null) Mutex.unlink(this.#name);
  }

  /** The name, with its leading '/'; `null` for a mutex inside shared memory. */
  get name(): string | null {
    return this.#name;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /** Whether this handle holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * The pid of the process holding the lock (as its holder recorded it, in
   * the holder's pid namespace), or `null` when it is free, its holder died,
   * or a new holder has not recorded itself yet. A snapshot, for tools and
   * diagnostics: it may change right after.
   */
  get ownerPid(): number | null {
    const pid = binding.mutexOwnerPid(this.#life.open);
    return pid > 0 ? pid : null;
  }

  /**
   * Takes the lock, waiting as long as needed without blocking the event loop.
   * Resolves `{ ownerDied }` (see {@link MutexLockResult}); rejects
   * `ETIMEDOUT` after `timeoutMs`, `AbortError`, `ERR_IPC_CLOSED` if the
   * handle is closed meanwhile, or `ENOTRECOVERABLE`. A lock held by this very
   * handle (another async task of this thread) is waited for too: async code
   * cannot tell a relock from contention.
   */
  async lock(options?: MutexLockOptions): Promise<MutexLockResult> {
    const { signal, timeoutMs } = waitOptions(options);
    const handle = this.#life.open;
    if (signal?.aborted) throw abortError(signal);
    const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
    let afterWait = false;
    for (;;) {
      const r = binding.mutexTryLock(this.#life.open, afterWait);
      if (r >= 0) return this.#acquired(r);
      // EDEADLK: this thread holds it, through this or another handle.
      if (r !== -EBUSY && r !== -EDEADLK) this.#fail(r, 'pthread_mutex_trylock');
      // A wait with no time left still marks the lock word as waited on before
      // it times out, so a wake-up this call consumed is never lost.
      const left = deadline === undefined ? undefined : Math.max(0, Math.ceil(deadline - performance.now()));
      const w = await recordedWait(() => this.#waitTarget(), () => this.#life.waits.run(
        (t, done) => binding.mutexWait(handle, t, done), { signal, timeoutMs: left }, 'futex', this.#path,
      ), this);
      if (w === TIMED_OUT) throw timedOut('pthread_mutex_lock', this.#path, timeoutMs!);
      afterWait = true;
    }
  }

  /**
   * Takes the lock if nobody holds it: `{ ownerDied }`, or `false` when it is
   * held (by anyone, this handle included). Throws `ENOTRECOVERABLE`.
   */
  tryLock(): MutexLockResult | false {
    const r = binding.mutexTryLock(this.#life.open, false);
    if (r === -EBUSY || r === -EDEADLK) return false;
    if (r < 0) this.#fail(r, 'pthread_mutex_trylock');
    return this.#acquired(r);
  }

  /**
   * Takes the lock, blocking this thread (for dedicated processes, scripts and
   * Workers): `pthread_mutex_clocklock` on CLOCK_MONOTONIC, so signals do not
   * extend `timeoutMs`. Throws `ETIMEDOUT`, `ENOTRECOVERABLE`, or `EDEADLK`
   * when this thread already holds it (through any handle: it would wait forever).
   */
  lockSync(options?: MutexLockSyncOptions): MutexLockResult {
    const timeoutMs = syncTimeout(validateOptions(options));
    const handle = this.#life.open;
    // Free: taken without a record. Otherwise (held, or an error lockSync reports itself) recorded.
    const first = binding.mutexTryLock(handle, false);
    if (first >= 0) return this.#acquired(first);
    const r = recordedWaitSync(this.#waitTarget(), () => binding.mutexLockSync(handle, timeoutMs));
    if (r === TIMED_OUT) throw timedOut('pthread_mutex_clocklock', this.#path, timeoutMs);
    if (r < 0) this.#fail(r, timeoutMs === -1 ? 'pthread_mutex_lock' : 'pthread_mutex_clocklock');
    return this.#acquired(r);
  }

  /**
   * Releases the lock. `EPERM` if this handle does not hold it. After an
   * `ownerDied` lock without {@link Mutex.markConsistent}, this makes the mutex
   * permanently unusable: every later lock fails with `ENOTRECOVERABLE`.
   */
  unlock(): void {
    const r = binding.mutexUnlock(this.#life.open);
    // The addon lets go of the lock on every outcome but ENOTSUP (it could not
    // unlink the mutex from this thread's robust list safely, so it stays
    // held and linked): a corrupt lock word still ends this handle's hold.
    if (r !== -ENOTSUP) this.#setHeld(false);
    if (r < 0) this.#fail(r, 'pthread_mutex_unlock');
  }

  /**
   * Runs `fn` holding the lock and unlocks when it settles, even if it throws.
   * `fn` gets `{ ownerDied }`: when true, repair the shared state and call
   * {@link Mutex.markConsistent} inside `fn`.
   */
  async withLock<T>(
    fn: (result: MutexLockResult) => T | PromiseLike<T>, options?: MutexLockOptions,
  ): Promise<Awaited<T>> {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'of type function', fn);
    const result = await this.lock(options);
    try {
      return await fn(result);
    } finally {
      if (this.#held) this.unlock();
    }
  }

  /**
   * Declares the state protected by a mutex whose owner died repaired
   * (`pthread_mutex_consistent`), so that unlocking makes it usable again.
   * `EPERM` unless this handle holds the lock; `EINVAL` if nobody died.
   */
  markConsistent(): void {
    const handle = this.#life.open;
    if (!this.#held) this.#fail(-EPERM, 'pthread_mutex_consistent');
    const r = binding.mutexConsistent(handle);
    if (r === -EINVAL) {
      throw new IpcError(
        r, 'pthread_mutex_consistent', this.#path, 'the mutex is consistent: its previous owner did not die',
      );
    }
    if (r < 0) this.#fail(r, 'pthread_mutex_consistent');
  }

  /**
   * Releases the lock if this handle holds it (as `unlock()` would: after an
   * unrepaired owner death the mutex becomes not recoverable), rejects pending
   * `lock()` calls with `ERR_IPC_CLOSED`, and unmaps. Idempotent. The mutex
   * itself stays until unlinked (or, inside shared memory, with it).
   */
  close(): void {
    // end() rejects pending lock() calls with ERR_IPC_CLOSED first.
    const handle = this.#life.end();
    if (handle === null) return;
    endWaitRecords(this);
    if (this.#held) binding.mutexUnlock(handle);
    this.#setHeld(false);
    binding.mutexClose(handle);
    this.#hosted?.release();
    this.#inside = null;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `Mutex { name: '/jobs.lock', held: false, pending: 0, ref: true, closed: false }` for `console.log` and
   * `util.inspect`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('Mutex', {
      name: this.#name, ...(this.#name === null && { in: this.#path }), held: this.#held,
      pending: this.#life.waits.size, ref: this.#life.loopRef.ref, closed: this.closed,
    }, depth, options);
  }

  #acquired(r: number): MutexLockResult {
    this.#setHeld(true);
    return { ownerDied: r === 1 };
  }

  /**
   * A held mutex is linked into this thread's robust list through its own
   * bytes, which glibc writes when other mutexes are locked and unlocked: its
   * record then stays protected from resize() even if this handle is dropped.
   */
  #setHeld(held: boolean): void {
    this.#held = held;
    this.#hosted?.pin(held);
  }

  #fail(r: number, syscall: string): never {
    const why =
      r === -EPERM ? 'this handle does not hold the mutex' :
      r === -EDEADLK ? 'this thread already holds the mutex' :
      r === -ENOTSUP ? FOREIGN_ROBUST_MUTEX :
      undefined;
    throw errorFor(r, syscall, this.#path, why);
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface Mutex extends Referable {}

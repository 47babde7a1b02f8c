/**
 * POSIX semaphores: named ones (`sem_open`'s, between any processes) and
 * unnamed ones living inside a {@link SharedMemory} (`sem_init` with
 * pshared = 1), for processes that share that memory.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding, type SemHandle } from './binding';
import { check, errorFor, invalidArgType, invalidArgValue, IpcError, stateError } from './errors';
import { createOrOpen } from './internal/create-or-open';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { TIMED_OUT, WaitingLifetime } from './internal/thread-wait';
import { endWaitRecords, recordedWait, recordedWaitSync, type WaitTarget } from './internal/wait-record';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';
import {
  validateBoolean, validateInteger, validateMode, validateName, validateOptions,
} from './internal/validate';
import { HostedRecord, isSharedMemory, type Placement, type SharedMemory } from './shared-memory';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';

const { EAGAIN, EOVERFLOW } = osConstants.errno;

/** The longest name: its file, /dev/shm/sem.<name>, must fit NAME_MAX (255). */
const NAME_MAX = 251;

/** Options of {@link Semaphore.open}. */
export interface SemaphoreOpenOptions {
  /** Create the semaphore if it does not exist. Default `false`. */
  create?: boolean;
  /** With `create`: fail with `EEXIST` if it exists. Default `false`. */
  exclusive?: boolean;
  /** With `create`: its value when this call creates it, `0` to `Semaphore.VALUE_MAX`. Default `0`. */
  initial?: number;
  /** With `create`: permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
}

/** Options of {@link Semaphore.inside}. */
export interface SemaphoreInsideOptions {
  /**
   * Initialise a new semaphore there with this value (`0` to
   * `Semaphore.VALUE_MAX`). Omitted: attach to the one another handle, in
   * this process or another, initialised at that offset before.
   */
  initial?: number;
}

/** Options of {@link Semaphore.acquire}. */
export interface SemaphoreAcquireOptions extends WaitOptions {}

/** Options of {@link Semaphore.acquireSync}. */
export interface SemaphoreAcquireSyncOptions extends SyncWaitOptions {}

/**
 * A counting semaphore shared between processes: `acquire` takes a token,
 * waiting while there is none; `release` gives tokens back and wakes waiters
 * in any process. Waiting never blocks the event loop or libuv's pool: each
 * pending `acquire()` waits on a thread of its own. `close()` rejects pending
 * acquires with `ERR_IPC_CLOSED`; a token a wait takes after it was given up
 * (closed, aborted, its Worker ended) is released again, so none is lost.
 *
 * @example
 * ```ts
 * using lock = Semaphore.open('/jobs-lock', { create: true, initial: 1 });
 * await lock.acquire();
 * try {
 *   // one process at a time
 * } finally {
 *   lock.release();
 * }
 * ```
 */
export class Semaphore implements Disposable {
  static {
    implementRef(this, (self) => (#life in self ? (self as Semaphore).#life.loopRef : undefined));
  }

  readonly #life: WaitingLifetime<SemHandle>;
  readonly #name: string | null;
  /** The name errors carry: the semaphore's, or its SharedMemory's. */
  readonly #path: string | null;
  // Its record in the memory it lives in, so no resize() of this process cuts it off.
  #hosted: HostedRecord | null = null;
  // Inside shared memory: that memory and where, so a child can be given the
  // same memory (lib/internal/share.ts). Kept until close().
  #inside: Placement | null = null;

  private constructor(key: Internal, handle: SemHandle, name: string | null, path: string | null) {
    assertInternal(key);
    // The handle (a tagged native handle) lets go of the semaphore when it is collected,
    // so a Semaphore dropped without close() leaks nothing.
    this.#life = new WaitingLifetime('Semaphore', handle);
    this.#name = name;
    this.#path = path;
  }

  /**
   * What a blocking acquire records it waits on (lib/internal/wait-record.ts): the memory it lives in and where, or
   * (a named semaphore) its name alone.
   */
  #waitTarget(): WaitTarget {
    const hosted = this.#hosted;
    return { kind: 'semaphore', key: hosted?.key ?? '', offset: hosted?.offset ?? 0, name: this.#path };
  }

  /** The largest value a semaphore can hold (`SEM_VALUE_MAX`, 2147483647 on Linux). */
  static readonly VALUE_MAX: number = binding.SEM_VALUE_MAX;

  /** Bytes a semaphore takes inside shared memory (`sizeof(sem_t)`, 32 on 64-bit Linux). */
  static readonly SIZE: number = binding.SEM_SIZE;

  /** What an offset inside shared memory must be a multiple of (`alignof(sem_t)`, 8). */
  static readonly ALIGNMENT: number = binding.SEM_ALIGN;

  /**
   * Opens (`create: true`: creates) a named semaphore: the file
   * /dev/shm/sem.<name>, which C programs open with `sem_open(3)` too. Every
   * descriptor involved is close-on-exec, and a created semaphore has exactly
   * `mode` before anyone can open it.
   * @param name - `'/jobs'` or `'jobs'` (the same semaphore), at most 251 bytes.
   */
  static open(name: string, options?: SemaphoreOpenOptions): Semaphore {
    const path = validateName(name);
    if (Buffer.byteLength(path) - 1 > NAME_MAX) {
      throw invalidArgValue(
        'name', name, `must be at most ${NAME_MAX} bytes after the leading '/' (its file is /dev/shm/sem.<name>)`,
      );
    }
    const opts = validateOptions(options);
    const { create = false, exclusive = false, mode = 0o600, initial = 0 } = opts;
    validateBoolean(create, 'options.create');
    validateBoolean(exclusive, 'options.exclusive');
    validateMode(mode);
    validateInteger(initial, 'options.initial', 0, Semaphore.VALUE_MAX);
    if (!create && (exclusive || opts.initial !== undefined)) {
      throw invalidArgValue('options', options, 'sets initial or exclusive, which need create: true');
    }

    let handle: SemHandle | null = null;
    // createOrOpen speaks in numbers: 0 stands for the handle kept here.
    const open = (flags: number): number => {
      const r = binding.semOpen(path, flags !== 0, mode, initial);
      if (typeof r === 'number') return r;
      handle = r;
      return 0;
    };
    if (create) createOrOpen(open, exclusive, 'sem_open', path);
    else check(open(0), 'sem_open', path);
    return new Semaphore(INTERNAL, handle!, path, path);
  }

  /**
   * A semaphore living inside shared memory, at `offset`: processes that map
   * the same memory (a named SharedMemory, or an anonymous one passed as a
   * descriptor) share it without a name of its own.
   *
   * Exactly one handle initialises it, with `options.initial`; every other one
   * (any process) attaches, without `initial`, after that initialisation.
   * Initialising a semaphore other handles use is undefined behaviour.
   *
   * The handle maps the few bytes it needs itself, so closing (or unmapping)
   * `shm` never affects it; it keeps the memory alive until it is closed too.
   * While it is open, `shm.resize()` (or that of any other handle of the same
   * memory in this process) refuses to shrink the memory past it
   * (`ERR_IPC_BUSY`). Another process can still truncate it under the
   * semaphore: its next call then dies of SIGBUS (see SharedMemory's limits).
   * @param offset - A multiple of {@link Semaphore.ALIGNMENT}, leaving
   *   {@link Semaphore.SIZE} bytes before the end of `shm`.
   */
  static inside(shm: SharedMemory, offset: number, options?: SemaphoreInsideOptions): Semaphore {
    if (!isSharedMemory(shm)) throw invalidArgType('shm', 'an instance of SharedMemory', shm);
    validateInteger(offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
    const { ALIGNMENT, SIZE, VALUE_MAX } = Semaphore;
    if (offset % ALIGNMENT !== 0) {
      throw invalidArgValue('offset', offset, `must be a multiple of Semaphore.ALIGNMENT (${ALIGNMENT})`, true);
    }
    if (offset + SIZE > shm.size) {
      throw invalidArgValue(
        'offset', offset,
        `must leave Semaphore.SIZE (${SIZE}) bytes before the end of the ${shm.size}-byte SharedMemory`, true,
      );
    }
    const { initial } = validateOptions(options);
    if (initial !== undefined) validateInteger(initial, 'options.initial', 0, VALUE_MAX);
    const bytes = new Uint8Array(shm.buffer, offset, SIZE); // ERR_IPC_CLOSED for a closed shm
    if (shm.readOnly) throw stateError('ERR_IPC_READ_ONLY', 'Cannot use a semaphore inside a read-only SharedMemory');
    // The memory's real size: this handle's may be stale after another's
    // resize(), and its bytes past the real end would be SIGBUS to read.
    const { key, size } = HostedRecord.identify(shm.fd, shm.name);
    if (offset + SIZE > size) {
      throw invalidArgValue(
        'offset', offset,
        `must leave Semaphore.SIZE (${SIZE}) bytes before the end of the shared memory object, now ${size} bytes`, true,
      );
    }
    // A semaphore initialised for processes is never all zeros; untouched memory is.
    if (initial === undefined && bytes.every((b) => b === 0)) {
      throw invalidArgValue(
        'offset', offset,
        'holds no initialised semaphore (its bytes are all zero): one handle must pass options.initial first',
      );
    }
    const r = binding.semInside(shm.fd, offset, initial ?? -1);
    if (typeof r === 'number') throw errorFor(r, 'mmap', shm.name);
    const sem = new Semaphore(INTERNAL, r, null, shm.name);
    sem.#hosted = HostedRecord.register(key, sem, 'Semaphore', offset, SIZE);
    sem.#inside = { shm, offset };
    return sem;
  }

  /**
   * Its name or placement, for a child to open it again (lib/internal/share.ts);
   * undefined for a non-Semaphore.
   * @internal
   */
  static shareState(value: unknown): { name: string | null; inside: Placement | null } | undefined {
    return typeof value === 'object' && value !== null && #inside in value
      ? { name: value.#name, inside: value.#inside }
      : undefined;
  }

  /** Removes a named semaphore (`sem_unlink`); open handles keep working. */
  static unlink(name: string): void {
    const path = validateName(name);
    check(binding.semUnlink(path), 'sem_unlink', path);
  }

  /** The name, with its leading '/'; `null` for a semaphore inside shared memory. */
  get name(): string | null {
    return this.#name;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /** The value now (`sem_getvalue`): how many tokens are free. Another process may change it at once. */
  get value(): number {
    return check(binding.semGetValue(this.#life.open), 'sem_getvalue', this.#path);
  }

  /**
   * Takes a token, waiting on a thread of its own while there is none. Rejects
   * with `ETIMEDOUT` after `options.timeoutMs`, with an `AbortError` when
   * `options.signal` aborts, with `ERR_IPC_CLOSED` when the handle closes.
   */
  async acquire(options?: SemaphoreAcquireOptions): Promise<void> {
    const { signal, timeoutMs } = waitOptions(options);
    const handle = this.#life.open;
    if (!signal?.aborted && this.#tryWait(handle)) return;
    if (timeoutMs === 0 && !signal?.aborted) throw timedOut('sem_clockwait', this.#path, 0);
    const r = await recordedWait(() => this.#waitTarget(), () => this.#life.waits.run(
      (t, done) => binding.semWait(handle, t, done), { signal, timeoutMs }, 'sem_clockwait', this.#path,
    ), this);
    if (r === TIMED_OUT) throw timedOut('sem_clockwait', this.#path, timeoutMs!);
  }

  /** Takes a token if one is free now: `true`, else `false`. */
  tryAcquire(): boolean {
    return this.#tryWait(this.#life.open);
  }

  /**
   * Takes a token, blocking this thread while there is none: for scripts and
   * dedicated processes. Throws `ETIMEDOUT` after `options.timeoutMs`; signals
   * delivered meanwhile do not extend it.
   */
  acquireSync(options?: SemaphoreAcquireSyncOptions): void {
    const timeoutMs = syncTimeout(validateOptions(options));
    const handle = this.#life.open;
    // A free token is taken without a record; otherwise (none, or an error semWaitSync reports itself) recorded.
    if (binding.semTryWait(handle) === 0) return;
    const r = recordedWaitSync(this.#waitTarget(), () => binding.semWaitSync(handle, timeoutMs));
    if (r === TIMED_OUT) throw timedOut('sem_clockwait', this.#path, timeoutMs);
    check(r, timeoutMs === -1 ? 'sem_wait' : 'sem_clockwait', this.#path);
  }

  /**
   * Gives back `n` tokens (`sem_post` n times), waking as many waiters in any
   * process. Past {@link Semaphore.VALUE_MAX} it throws `EOVERFLOW`; the
   * tokens given before that stay given.
   */
  release(n = 1): void {
    validateInteger(n, 'n', 1, Semaphore.VALUE_MAX);
    const r = binding.semPost(this.#life.open, n);
    if (r === -EOVERFLOW) {
      throw new IpcError(
        r, 'sem_post', this.#path, `the value reached SEM_VALUE_MAX (${Semaphore.VALUE_MAX}) before ${n} were released`,
      );
    }
    check(r, 'sem_post', this.#path);
  }

  /**
   * Closes the handle: pending `acquire()` calls reject with `ERR_IPC_CLOSED`.
   * The semaphore itself stays (until unlinked, or as long as its memory).
   * Idempotent.
   */
  close(): void {
    const handle = this.#life.end();
    if (handle === null) return;
    endWaitRecords(this);
    binding.semClose(handle);
    this.#hosted?.release();
    this.#inside = null;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Removes this semaphore's name (see {@link Semaphore.unlink}); nothing for one inside shared memory. */
  unlink(): void {
    if (this.#name !== null) Semaphore.unlink(this.#name);
  }

  /** `Semaphore { name: '/jobs', value: 1, ref: true, closed: false }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const handle = this.#life.current;
    const r = handle === null ? -1 : binding.semGetValue(handle);
    const value = r >= 0 ? r : undefined;
    return inspectHandle('Semaphore', {
      name: this.#name, ...(this.#name === null && { in: this.#path }), value, pending: this.#life.waits.size,
      ref: this.#life.loopRef.ref, closed: this.closed,
    }, depth, options);
  }

  #tryWait(handle: SemHandle): boolean {
    const r = binding.semTryWait(handle);
    if (r === -EAGAIN) return false;
    check(r, 'sem_trywait', this.#path);
    return true;
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface Semaphore extends Referable {}

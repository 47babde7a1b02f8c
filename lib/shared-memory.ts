/**
 * POSIX shared memory (`shm_open`) and anonymous shared memory (`memfd_create`),
 * mapped into this process as one zero-copy `ArrayBuffer`.
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants, fstatSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, closedError, IpcError, stateError } from './errors';
import { createOrOpen } from './internal/create-or-open';
import { descriptorOf, OwnedDescriptor, validateAdoptable } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { waitsOnMemory } from './internal/thread-wait';
import { validateBoolean, validateMode, validateName, validateOptions, validateSize } from './internal/validate';
import { INTERNAL, type Internal } from './internal/construct';

const { O_RDONLY, O_RDWR } = fsConstants;
const { EINVAL, EFBIG } = osConstants.errno;

/** The largest ArrayBuffer this Node can put over a mapping (4 GiB on Node 20). */
const MAX_SIZE = bufferConstants.MAX_LENGTH;

/** Options of {@link SharedMemory.create}. */
export interface SharedMemoryCreateOptions {
  /** Permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
  /**
   * Fail with `EEXIST` when the name is taken (the default, `true`). With
   * `false` an existing object is opened as it is, and `size` only applies when
   * this call creates the object (or finds it still empty).
   */
  exclusive?: boolean;
}

/** Options of {@link SharedMemory.open} and {@link SharedMemory.fromFd}. */
export interface SharedMemoryOpenOptions {
  /**
   * Open without write access. The view is still writable from JavaScript, but
   * writes stay private to this process (copy-on-write) and never reach the
   * object or other processes, so a stray write cannot crash the process.
   * Default `false` (for `fromFd`: `true` exactly when the descriptor is O_RDONLY).
   */
  readOnly?: boolean;
}

/** Options of {@link SharedMemory.anonymous}. */
export interface SharedMemoryAnonymousOptions {
  /** Seal the size, so no process holding the descriptor can shrink or grow it. Default `false`. */
  seal?: boolean;
}


function map(fd: number, size: number, readOnly: boolean, path: string | null): ArrayBuffer {
  const result = binding.mmap(fd, size, readOnly);
  if (typeof result === 'number') throw new IpcError(result, 'mmap', path);
  return result;
}

/**
 * Objects of this JavaScript environment that map a record of a shared-memory
 * object themselves (a Mutex or Semaphore `inside()` one, a named Mutex), by
 * the object's identity (`dev:ino`), not by SharedMemory handle: a second
 * handle of the same object (`open` again, `fromFd`) must not shrink it under
 * them either. Their native side maps the record's pages on its own and
 * touches them at every call, so truncating the object under a live one
 * would kill the process with SIGBUS at its next call.
 *
 * Entries hold their object weakly, so a Mutex or Semaphore dropped without
 * close() does not pin the memory's size for ever; except a Mutex while it is
 * held, which stays linked (through its bytes) into this thread's robust
 * list, whose neighbours' unlocks write those bytes: its record is pinned
 * until unlocked, and for good if the Mutex is collected while held (its
 * native mapping is never unmapped while held either).
 *
 * The futex waits on a SharedMemory's own buffer (waitsOnMemory) are another
 * matter, ended rather than refused: they wait on this handle's mapping,
 * which resize() replaces, whereas a hosted record has a mapping of its own
 * that may outlive every SharedMemory handle.
 */
const hosted = new Map<string, Set<HostedRecord>>();
// A pinned record (a held Mutex) outlives its object: the native mapping does too.
const collected = new FinalizationRegistry<HostedRecord>((record) => record.pinned || record.release());

/** The identity of the object behind `fd` (`dev:ino`) and its size now. */
function identify(fd: number, path: string | null): { key: string; size: number } {
  let st;
  try {
    st = fstatSync(fd, { bigint: true });
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    throw new IpcError(typeof errno === 'number' ? errno : -EINVAL, 'fstat', path);
  }
  return { key: `${st.dev}:${st.ino}`, size: Number(st.size) };
}

/**
 * One record (`size` bytes at `offset`) of a shared-memory object that an
 * object of this environment maps itself: while it is registered, no
 * {@link SharedMemory.resize} in this environment cuts it off.
 * @internal
 */
export class HostedRecord {
  /** The identity of the memory the object lives in (see {@link HostedRecord.identify}). */
  readonly key: string;
  readonly #object: WeakRef<object>;
  #pinned = false;
  /** The kind of object, for messages: `'Mutex'`, `'Semaphore'`. */
  readonly kind: string;
  readonly offset: number;
  readonly size: number;

  private constructor(key: string, object: object, kind: string, offset: number, size: number) {
    this.key = key;
    this.#object = new WeakRef(object);
    this.kind = kind;
    this.offset = offset;
    this.size = size;
  }

  /**
   * The identity of the object behind `fd` (whose name is `path`), for
   * {@link HostedRecord.register}, and its real size now (fstat: a handle's
   * `size` may be stale after another handle's resize).
   */
  static identify(fd: number, path: string | null): { key: string; size: number } {
    return identify(fd, path);
  }

  /** Registers `object`'s record; `release()` (its close()) ends that. */
  static register(key: string, object: object, kind: string, offset: number, size: number): HostedRecord {
    const record = new HostedRecord(key, object, kind, offset, size);
    let records = hosted.get(key);
    if (records === undefined) hosted.set(key, (records = new Set()));
    records.add(record);
    collected.register(object, record, record);
    return record;
  }

  /** The live records of the object `key`: those whose object is still there. */
  static of(key: string): HostedRecord[] {
    return [...(hosted.get(key) ?? [])].filter((r) => r.#pinned || r.#object.deref() !== undefined);
  }

  /**
   * `true` (a held Mutex): the record limits resize() even after its object
   * is collected, as long as the process lives (a held mutex stays mapped and
   * linked into the thread's robust list); `false`: as long as its object does.
   */
  pin(pinned: boolean): void {
    this.#pinned = pinned;
  }

  /** Whether {@link HostedRecord.pin} pinned it. */
  get pinned(): boolean {
    return this.#pinned;
  }

  /** The object closed (or was collected): its record no longer limits resize(). Idempotent. */
  release(): void {
    const records = hosted.get(this.key);
    if (records === undefined || !records.delete(this)) return;
    this.#pinned = false;
    const object = this.#object.deref();
    if (object !== undefined) collected.unregister(this);
    if (records.size === 0) hosted.delete(this.key);
  }
}

/** Where a Mutex or Semaphore was placed inside shared memory, for a child to place its own there. @internal */
export interface Placement {
  shm: SharedMemory;
  offset: number;
}

/** Maps all of an object that already has its size; throws for an empty one. */
function mapWhole(fd: number, readOnly: boolean, path: string | null): ArrayBuffer {
  const size = check(binding.fstatSize(fd), 'fstat', path);
  if (size === 0) {
    throw new IpcError(-EINVAL, 'mmap', path, 'shared memory object has size 0 (its creator has not sized it yet)');
  }
  if (size > MAX_SIZE) {
    throw new IpcError(
      -EFBIG, 'mmap', path,
      `shared memory object has ${size} bytes, more than the ${MAX_SIZE} an ArrayBuffer can hold in this Node`,
    );
  }
  return map(fd, size, readOnly, path);
}

/**
 * Each live mapping's handle, by the mapping's ArrayBuffer (set where the buffer is made): {@link sharedMappingOf}.
 * Held weakly: a view outliving its handle must not keep the handle (and its descriptor) from being collected.
 */
const mappingOwner = new WeakMap<ArrayBuffer, WeakRef<SharedMemory>>();

/**
 * When `buffer` is the mapping of an open SharedMemory: its descriptor, size and access, for a ProcessLink to send
 * its views by reference (lib/internal/link-transfer.ts); else null (a closed or resized handle's old buffer too).
 * @internal
 */
export function sharedMappingOf(buffer: ArrayBuffer): { fd: number; size: number; readOnly: boolean } | null {
  const shm = mappingOwner.get(buffer)?.deref();
  if (shm === undefined) return null;
  // From the handle's private fields: its public getters can be shadowed by own properties of the instance.
  const own = mappingState(shm);
  const fd = descriptorOf(shm);
  if (fd < 0 || own.buffer !== buffer) return null;
  return { fd, size: own.size, readOnly: own.readOnly };
}

/** A SharedMemory's mapping, size and access, read from its private fields (set in the class's static block). */
let mappingState: (shm: SharedMemory) => { buffer: ArrayBuffer | null; size: number; readOnly: boolean };

/**
 * Whether `value` is a SharedMemory this package made: asked of the object
 * itself (its private field), never through `instanceof`, which a Proxy's
 * traps answer (or throw from) and which an `Object.create(SharedMemory.prototype)`
 * passes without being one. A Proxy of a real one is not one.
 * @internal
 */
export function isSharedMemory(value: unknown): value is SharedMemory {
  return brand(value);
}
let brand: (value: unknown) => value is SharedMemory;

/**
 * A shared-memory object mapped into this process.
 *
 * `buffer` is an `ArrayBuffer` directly over the mapping (zero-copy). After
 * `close()` that `ArrayBuffer` is detached: every view over it has
 * `byteLength 0`, so no access can reach unmapped memory.
 *
 * @example
 * ```ts
 * using shm = SharedMemory.create('/jobs', 4096);
 * new Int32Array(shm.buffer)[0] = 42;
 * ```
 */
export class SharedMemory extends OwnedDescriptor {
  #name: string | null;
  #size: number;
  #readOnly: boolean;
  #buffer: ArrayBuffer | null;

  static {
    brand = (value): value is SharedMemory => typeof value === 'object' && value !== null && #buffer in value;
    mappingState = (shm) => ({ buffer: shm.#buffer, size: shm.#size, readOnly: shm.#readOnly });
  }

  private constructor(key: Internal, fd: number, name: string | null, readOnly: boolean, buffer: ArrayBuffer) {
    // A handle collected without close() gives its descriptor back; its
    // mapping lives as long as its ArrayBuffer does.
    super(key, fd);
    this.#name = name;
    this.#size = buffer.byteLength;
    this.#readOnly = readOnly;
    this.#buffer = buffer;
    mappingOwner.set(buffer, new WeakRef(this));
  }

  /**
   * Creates a named object (`shm_open` with `O_CREAT`), sizes it and maps it.
   * The pages are reserved now (`posix_fallocate`), so a full `/dev/shm` fails
   * here with `ENOSPC` rather than with SIGBUS later. On any failure nothing is
   * left behind.
   * @param name - `'/jobs'` or `'jobs'` (the same object).
   * @param size - In bytes, at least 1.
   */
  static create(name: string, size: number, options?: SharedMemoryCreateOptions): SharedMemory {
    const path = validateName(name);
    validateSize(size, 'size', MAX_SIZE);
    const { mode = 0o600, exclusive = true } = validateOptions(options);
    validateMode(mode);
    validateBoolean(exclusive, 'options.exclusive');

    const { fd, created } = createOrOpen(
      (flags) => binding.shmOpen(path, O_RDWR | flags, mode), exclusive, 'shm_open', path,
    );
    try {
      // shm_open applied the umask; make the mode exactly what was asked.
      if (created) check(binding.fchmod(fd, mode), 'fchmod', path);
      if (created || check(binding.fstatSize(fd), 'fstat', path) === 0) {
        check(binding.posixFallocate(fd, size), 'posix_fallocate', path);
      }
      return new SharedMemory(INTERNAL, fd, path, false, mapWhole(fd, false, path));
    } catch (err) {
      binding.close(fd);
      if (created) binding.shmUnlink(path);
      throw err;
    }
  }

  /**
   * Opens an existing named object and maps all of it (its size comes from
   * `fstat`). Fails with `ENOENT` when there is no such object.
   */
  static open(name: string, options?: SharedMemoryOpenOptions): SharedMemory {
    const path = validateName(name);
    const { readOnly = false } = validateOptions(options);
    validateBoolean(readOnly, 'options.readOnly');
    const fd = check(binding.shmOpen(path, readOnly ? O_RDONLY : O_RDWR, 0), 'shm_open', path);
    try {
      return new SharedMemory(INTERNAL, fd, path, readOnly, mapWhole(fd, readOnly, path));
    } catch (err) {
      binding.close(fd);
      throw err;
    }
  }

  /**
   * Creates anonymous shared memory (`memfd_create`): it has no name, and is
   * shared by passing {@link SharedMemory.fd} to a child process or over a
   * Unix socket. With `seal: true` its size is sealed: no process holding it
   * can shrink it (which would crash every mapping with SIGBUS) or grow it.
   */
  static anonymous(size: number, options?: SharedMemoryAnonymousOptions): SharedMemory {
    validateSize(size, 'size', MAX_SIZE);
    const { seal = false } = validateOptions(options);
    validateBoolean(seal, 'options.seal');
    return SharedMemory.anonymousOfMode(size, seal, 0o600);
  }

  /**
   * {@link SharedMemory.anonymous} with its memfd's mode (checked arguments): 0o666 for a Channel's ring, which
   * Channel.fromFd reopens through /proc, also in a process of another user.
   * @internal
   */
  static anonymousOfMode(size: number, seal: boolean, mode: number): SharedMemory {
    const fd = check(binding.memfdCreate(seal, undefined, mode), 'memfd_create');
    try {
      check(binding.posixFallocate(fd, size), 'posix_fallocate');
      if (seal) check(binding.sealSize(fd), 'fcntl');
      return new SharedMemory(INTERNAL, fd, null, false, map(fd, size, false, null));
    } catch (err) {
      binding.close(fd);
      throw err;
    }
  }

  /**
   * Maps shared memory from a descriptor this process received, typically one
   * a parent passed to a child (e.g. `fromFd(3)`). On success the handle owns
   * the descriptor: it becomes close-on-exec and `close()` closes it. On failure
   * the descriptor is left open. A descriptor that an open handle already owns
   * is refused (`ERR_INVALID_ARG_VALUE`).
   */
  static fromFd(fd: number, options?: SharedMemoryOpenOptions): SharedMemory {
    validateAdoptable(fd);
    const opts = validateOptions(options);
    if (opts.readOnly !== undefined) validateBoolean(opts.readOnly, 'options.readOnly');
    const readOnly = opts.readOnly ?? check(binding.accessMode(fd), 'fcntl') === O_RDONLY;
    const buffer = mapWhole(fd, readOnly, null);
    const adopted = binding.adoptFd(fd);
    if (adopted < 0) {
      binding.munmap(buffer);
      check(adopted, 'fcntl');
    }
    return new SharedMemory(INTERNAL, fd, null, readOnly, buffer);
  }

  /**
   * What a child needs to map this object again (lib/internal/share.ts), read
   * from its private state; undefined for anything that is not a SharedMemory.
   * @internal
   */
  static shareState(value: unknown): { name: string | null; readOnly: boolean } | undefined {
    return isSharedMemory(value) ? { name: value.#name, readOnly: value.#readOnly } : undefined;
  }

  /**
   * {@link SharedMemory.fromFd}, keeping the name the sharing process knew the
   * object by (lib/internal/share.ts), for errors and `unlink()`.
   * @internal
   */
  static adopt(fd: number, name: string | null, readOnly: boolean): SharedMemory {
    const shm = SharedMemory.fromFd(fd, { readOnly });
    shm.#name = name;
    return shm;
  }

  /** Removes a named object (`shm_unlink`). Mappings stay valid until closed. */
  static unlink(name: string): void {
    const path = validateName(name);
    check(binding.shmUnlink(path), 'shm_unlink', path);
  }

  /** The mapping, zero-copy. Throws `ERR_IPC_CLOSED` after `close()`. */
  get buffer(): ArrayBuffer {
    return this.#mapped();
  }

  /** Size of the mapping in bytes. */
  get size(): number {
    return this.#size;
  }

  /** The object's name with its leading '/', or `null` for anonymous memory. */
  get name(): string | null {
    return this.#name;
  }

  /** Whether writes through `buffer` stay private to this process. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /**
   * Changes the object's size and maps it anew; the old `buffer` is detached
   * and `buffer` returns the new one. On failure nothing changes.
   *
   * Shrinking past a live `Mutex` or `Semaphore` of this process
   * (JavaScript environment) inside the object, through this handle or any
   * other, is refused with `ERR_IPC_BUSY` naming it and its offset: close it
   * first. (It maps its record itself, so cutting the record off would kill
   * the process with SIGBUS at its next call.) Shrinking that keeps every such
   * record whole, and growing, are allowed. Shrinking an object that other
   * processes (or Workers) have mapped makes their accesses past the new end
   * fail with SIGBUS, their Mutexes and Semaphores inside it included: only
   * shrink what you alone map.
   */
  resize(newSize: number): void {
    const old = this.#mapped();
    validateSize(newSize, 'newSize', MAX_SIZE);
    if (this.#readOnly) throw stateError('ERR_IPC_READ_ONLY', 'Cannot resize a read-only SharedMemory');
    if (newSize === this.#size) return;
    if (newSize < this.#size) this.#refuseCuttingHosted(newSize);
    // Map first (mapping past the end of the file is allowed), then change the
    // size: if either step fails, the object and the old mapping are intact.
    const next = map(this.fd, newSize, false, this.#name);
    const grow = newSize > this.#size;
    const result = grow ? binding.posixFallocate(this.fd, newSize) : binding.ftruncate(this.fd, newSize);
    if (result < 0) {
      binding.munmap(next);
      throw new IpcError(result, grow ? 'posix_fallocate' : 'ftruncate', this.#name);
    }
    SharedMemory.#endWaits(old, 'resize() mapped it anew');
    binding.munmap(old);
    this.#buffer = next;
    mappingOwner.set(next, new WeakRef(this));
    this.#size = newSize;
  }

  /**
   * Refuses a shrink to `newSize` that would cut off a record a live object of
   * this environment maps itself. A coded refusal rather than closing the
   * object for the caller: the caller chose to keep it open, may hold its lock
   * or wait on it, and can tell from the error which one to close; and a
   * resize that fails changes nothing, as every other failure of resize().
   */
  #refuseCuttingHosted(newSize: number): void {
    if (hosted.size === 0) return;
    const { key } = identify(this.fd, this.#name);
    const cut = HostedRecord.of(key).find((r) => r.offset + r.size > newSize);
    if (cut === undefined) return;
    const where = `a ${cut.kind} at offset ${cut.offset} (${cut.size} bytes)`;
    throw stateError(
      'ERR_IPC_BUSY',
      `Cannot shrink SharedMemory${this.#name === null ? '' : ` '${this.#name}'`} to ${newSize} bytes: ` +
        `${where} of this process lives there; close it first`,
    );
  }

  /**
   * On close: `buffer` is detached (every view reads `byteLength 0`) and
   * unmapped before the descriptor closes. The object stays until unlinked.
   * A `Mutex` or `Semaphore` inside it has a mapping of its own
   * and keeps working (and keeps the memory) until it is closed itself; while
   * it lives, no other handle of the object in this process may shrink it
   * past it either.
   */
  protected override onClose(): void {
    SharedMemory.#endWaits(this.#buffer!, 'it was closed');
    binding.munmap(this.#buffer!);
    this.#buffer = null;
  }

  /** Pending futex waits on `buffer` reject with ERR_IPC_CLOSED before it is unmapped. */
  static #endWaits(buffer: ArrayBuffer, why: string): void {
    waitsOnMemory(buffer).cancelAll(() => stateError(
      'ERR_IPC_CLOSED', `The SharedMemory mapping this futex word is in is gone: ${why}`,
    ));
  }

  /** Removes this object's name (see {@link SharedMemory.unlink}); nothing for anonymous memory. */
  unlink(): void {
    if (this.#name !== null) SharedMemory.unlink(this.#name);
  }

  /**
   * `SharedMemory { name: '/jobs', fd: 21, size: 4096, readOnly: false, closed: false }` for `console.log` and
   * `util.inspect`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle(
      'SharedMemory',
      { name: this.#name, fd: this.fd, size: this.#size, readOnly: this.#readOnly, closed: this.closed }, depth,
      options,
    );
  }

  #mapped(): ArrayBuffer {
    if (this.#buffer === null) throw closedError('SharedMemory');
    return this.#buffer;
  }
}

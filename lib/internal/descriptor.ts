/**
 * One owned descriptor: the base of every handle (shared memory, queues, pipe
 * ends, FIFOs, sockets). It is close-on-exec from creation, closed by `close()` (idempotent),
 * by `using`, by environment teardown, and as a safety net when the handle is
 * garbage-collected. `toSocket()` hands it to a `net.Socket` for Node's stream
 * semantics (backpressure included); the socket owns it from then on.
 * @packageDocumentation
 */
import { fstatSync, lstatSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { binding } from '../binding';
import { closedError, invalidArgType, invalidArgValue } from '../errors';
import { LoopRef } from './loop-ref';
import { Poller } from './poller';
import { forget, reclaimOnCollect, type Reclaim } from './reclaim';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- INTERNAL is named by the {@link} in the TSDoc below.
import { assertInternal, type INTERNAL, type Internal } from './construct';
import { validateFd, validateOptions, validateUint8Array } from './validate';

/** Options of `stream()` on a pipe end or a FIFO. */
export interface StreamOptions {
  /**
   * `net.Socket`'s `onread`, for a read end: each read(2) goes straight into
   * `buffer` (one buffer, reused: up to its length per read, no allocation per
   * read), and `callback(bytes, buffer)` gets what arrived, instead of
   * `'data'` events; returning `false` from it pauses reading until
   * `resume()`. `buffer` may be a function that returns the buffer to use.
   * The bytes are only valid until the callback returns.
   */
  onread?: {
    buffer: Uint8Array | (() => Uint8Array);
    callback: (bytes: number, buffer: Uint8Array) => boolean | void;
  };
}

/**
 * A descriptor a caller hands over for a handle to own (`fromFd`,
 * `inherited`): a descriptor number no open handle of any thread of this
 * process owns yet (two owners would close it twice, the second time maybe
 * someone else's: a Worker's teardown closes what its handles own). Asked
 * before any syscall: a refused descriptor is not even looked at.
 */
export function validateAdoptable(fd: unknown): asserts fd is number {
  validateFd(fd);
  if (binding.ownsFd(fd)) throw invalidArgValue('fd', fd, 'already belongs to an open handle');
}

/** The watcher of a handle that waits on its descriptor from the event loop (see Poller). */
export interface Watch {
  /** The syscall and label an error of the watcher itself names. */
  syscall: string;
  label: string | null;
}

/**
 * A handle's descriptor read from its private field, never through a property a caller could shadow on the
 * instance (`Object.defineProperty(handle, 'fd', ...)`); -1 once closed.
 * @internal
 */
export let descriptorOf: (handle: OwnedDescriptor) => number;

export abstract class OwnedDescriptor implements Disposable {
  #fd: number;
  #poller: Poller | null;
  readonly #loopRef: LoopRef | null;
  readonly #reclaim: Reclaim;

  static {
    descriptorOf = (handle) => handle.#fd;
  }

  /**
   * @param key - {@link INTERNAL}: only this package's factories make handles.
   * @param fd - A descriptor the binding created (and tracks) or adopted.
   * @param watch - For a handle with waiting calls: its Poller is made here,
   *   after the key was checked (nothing is touched for a caller from
   *   outside) and before the handle owns `fd` (if it cannot be made, the
   *   caller still owns fd). Closed before the descriptor, by close() or when
   *   the handle is garbage-collected. It follows the handle's `loopRef`.
   */
  protected constructor(key: Internal, fd: number, watch: Watch | null = null) {
    assertInternal(key);
    const poller = watch === null ? null : new Poller(fd, watch.syscall, watch.label);
    this.#fd = fd;
    this.#poller = poller;
    this.#loopRef = poller === null ? null : new LoopRef();
    if (poller !== null) this.#loopRef!.attach(poller);
    this.#reclaim = reclaimOnCollect(this, { fds: [fd], poller });
  }

  /** The descriptor (close-on-exec), or -1 once closed or handed to a stream. */
  get fd(): number {
    return this.#fd;
  }

  /** Whether it was closed or handed to a stream. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor: pending waits reject with `ERR_IPC_CLOSED` first. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.#endWaits();
    this.onClose();
    forget(this);
    binding.close(this.#fd);
    this.#fd = -1;
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** A second descriptor the subclass closes in onClose(), given back too if the handle is collected. */
  protected reclaimAlso(fd: number): void {
    this.#reclaim.fds.push(fd);
  }

  /** What a subclass releases before its descriptor closes (its watcher's waits have ended). */
  protected onClose(): void {}

  /**
   * The ref state of a handle made with `watch` (its watcher follows it), for
   * the handle's `ref()`/`unref()` (implementRef) and its other waiting parts.
   * @internal
   */
  protected get loopRef(): LoopRef {
    return this.#loopRef!;
  }

  /**
   * The watcher (made with `watch`), for waiting calls; `ERR_IPC_CLOSED` once closed.
   * @internal
   */
  protected get poller(): Poller {
    this.assertOpen();
    return this.#poller!;
  }

  /** The open descriptor; `ERR_IPC_CLOSED` after close. */
  protected get openFd(): number {
    this.assertOpen();
    return this.#fd;
  }

  /** Throws `ERR_IPC_CLOSED` once closed or handed to a stream. */
  protected assertOpen(): void {
    if (this.#fd < 0) throw closedError(this.constructor.name);
  }

  /**
   * Moves the descriptor into a `net.Socket` (libuv makes it non-blocking);
   * this handle is closed afterwards and the socket closes the descriptor.
   * `stream` is validated first (nothing is moved when it is refused).
   */
  protected toSocket(options: { readable: boolean; writable: boolean }, stream?: StreamOptions): Socket {
    const fd = this.openFd;
    const { onread: given } = validateOptions(stream);
    let onread: StreamOptions['onread'];
    if (given !== undefined) {
      if (given === null || typeof given !== 'object') throw invalidArgType('options.onread', 'of type object', given);
      // Read once (a getter cannot answer the check one thing and Node another);
      // a buffer is a real Uint8Array (a Proxy is refused), or a function.
      const { buffer, callback } = validateOptions(given, 'options.onread');
      if (typeof buffer !== 'function') validateUint8Array(buffer, 'options.onread.buffer');
      if (typeof callback !== 'function') throw invalidArgType('options.onread.callback', 'of type function', callback);
      if (!options.readable) throw invalidArgValue('options.onread', given, 'needs a descriptor open for reading');
      onread = { buffer: buffer!, callback };
    }
    this.#endWaits();
    this.onClose();
    const socket = new Socket({ fd, ...options, ...(onread && { onread }) });
    forget(this);
    binding.releaseFd(fd);
    this.#fd = -1;
    return socket;
  }

  /**
   * Rejects pending waits with `ERR_IPC_CLOSED` and releases the watcher,
   * before the descriptor goes: closing a uv_poll handle removes the
   * descriptor's number from epoll, and that number may be reused at once.
   */
  #endWaits(): void {
    this.#poller?.close(() => closedError(this.constructor.name));
    this.#poller = null;
  }
}

/**
 * Which file a path named when we made it (device and inode), so that
 * `close()` removes the path only while it still names that file, never one
 * another process made there after ours was removed (libuv's pipe close
 * unlinks blindly; a FIFO or socket server must not).
 */
export type FileIdentity = { readonly dev: bigint; readonly ino: bigint };

/** The identity of the file `fd` has open (a FIFO: fstat sees its inode). */
export function identityOfFd(fd: number): FileIdentity {
  const { dev, ino } = fstatSync(fd, { bigint: true });
  return { dev, ino };
}

/**
 * The identity of the file at `path` if it is of the kind `is` accepts (lstat:
 * a symbolic link is never followed), else null. For a socket, whose
 * descriptor's fstat describes the socket and not its file, this is read just
 * after bind(2): a process that replaces the file in that instant has its own
 * file recorded (and removed at close); that window is what remains.
 */
export function identityOfPath(
  path: string, is: (st: { isSocket(): boolean; isFIFO(): boolean }) => boolean,
): FileIdentity | null {
  try {
    const st = lstatSync(path, { bigint: true });
    return is(st) ? { dev: st.dev, ino: st.ino } : null;
  } catch {
    return null;
  }
}

/**
 * Removes `path` if it still names the file `identity` recorded. The check
 * and the unlink are two calls (there is no unlink-if-inode): a file swapped
 * in between them is removed. Only a process that can write the directory can
 * do that, and it could remove our file itself.
 */
export function unlinkIfSame(path: string, identity: FileIdentity | null): void {
  if (identity === null) return;
  try {
    const st = lstatSync(path, { bigint: true });
    if (st.dev === identity.dev && st.ino === identity.ino) unlinkSync(path);
  } catch {
    // already gone, or replaced by something that is not ours
  }
}

/**
 * Named pipes (`mkfifo`): a path in the filesystem through which unrelated
 * processes stream bytes; {@link Fifo} is one open end. The opening steps are
 * exported for the request/reply protocol built on FIFOs (lib/fifo-request.ts).
 * @packageDocumentation
 */
import { constants as fsConstants, lstatSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, existsError, IpcError } from './errors';
import { OwnedDescriptor, type StreamOptions } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { pipeSize, setPipeSize } from './internal/pipe-size';
import { AGAIN } from './internal/poller';
import { retryUntil } from './internal/retry';
import { validateMode, validatePath } from './internal/validate';
import { timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import { INTERNAL, type Internal } from './internal/construct';

const { O_RDONLY, O_WRONLY, S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK } = fsConstants;
const { EEXIST, EINVAL, ENXIO, EOPNOTSUPP } = osConstants.errno;

/** What a path is when it is not a FIFO, for the error message. */
const FILE_TYPES = new Map<number, string>([
  [S_IFREG, 'a regular file'],
  [S_IFDIR, 'a directory'],
  [S_IFCHR, 'a character device'],
  [S_IFBLK, 'a block device'],
  [S_IFLNK, 'a symbolic link'],
  [S_IFSOCK, 'a socket'],
]);

/**
 * A writer waiting for a reader retries its non-blocking open on a timer: the
 * first retry after 1 ms, then twice as long each time, at most every 50 ms.
 * Nothing cheaper wakes it for every kind of reader: inotify reports IN_OPEN
 * for a non-blocking reader, but not for one still blocked in open(2) (`cat
 * fifo`, `read < fifo`), which waits inside the kernel for a writer and only
 * shows up as a successful O_WRONLY | O_NONBLOCK open.
 */
const MAX_RETRY_MS = 50;

/** Which way this process uses a FIFO end. */
export type FifoDirection = 'read' | 'write';

/** Options of {@link Fifo.openWriter} and {@link FifoClient.connect}'s wait for a reader. */
export interface FifoOpenWriterOptions extends WaitOptions {}

/**
 * One non-blocking open of the FIFO at `path`: the descriptor, or -ENXIO when
 * it is opened for writing and nobody reads; any other failure throws.
 */
function tryOpen(path: string, access: number): number {
  const type = new Int32Array(1);
  const fd = binding.fifoOpen(path, access, type);
  if (fd >= 0 || fd === -ENXIO) return fd;
  if (type[0] === S_IFLNK) throw new IpcError(fd, 'open', path, 'a symbolic link, which a FIFO open never follows');
  if (type[0] !== 0) {
    throw new IpcError(fd, 'open', path, `not a FIFO but ${FILE_TYPES.get(type[0]) ?? 'another kind of file'}`);
  }
  return check(fd, 'open', path);
}

/**
 * Opens at once, or throws ENXIO (no reader) like any other failure.
 * @internal
 */
export function openNow(path: string, access: number): number {
  const fd = tryOpen(path, access);
  if (fd === -ENXIO) throw new IpcError(fd, 'open', path, 'no process has the FIFO open for reading');
  return fd;
}

/**
 * Opens for writing (or `access`) as soon as a reader exists: retries the
 * non-blocking open with backoff, never blocking a thread. Errors other than
 * ENXIO (and ENOENT with `whileMissing`: the FIFO is not made yet) end the wait.
 * @internal
 */
export function openWhenRead(path: string, access: number, wait: WaitOptions, whileMissing = false): Promise<number> {
  const attempt = () => {
    let fd: number;
    try {
      fd = tryOpen(path, access);
    } catch (err) {
      if (whileMissing && (err as IpcError).code === 'ENOENT') return AGAIN;
      throw err;
    }
    return fd === -ENXIO ? AGAIN : fd;
  };
  return retryUntil(attempt, MAX_RETRY_MS, wait, () => timedOut('open', path, wait.timeoutMs!, 'a reader'));
}

/**
 * Creates a FIFO with exactly `mode`: -EEXIST when the path is taken (a
 * symbolic link too, even a dangling one); other failures throw, and leave
 * nothing behind.
 * @internal
 */
export function createFifo(path: string, mode: number): number {
  const made = binding.mkfifo(path, mode);
  if (made === -EEXIST) return made;
  check(made, 'mkfifo', path);
  // mkfifo applied the umask: set the exact mode, never through a symbolic
  // link (the umask only removes bits, so the FIFO was never more open than asked).
  const chmod = binding.fifoChmod(path, mode);
  if (chmod < 0) {
    unlinkIfOurs(path);
    if (chmod === -EOPNOTSUPP) {
      throw new IpcError(
        chmod, 'fchmodat', path,
        'cannot set the exact mode without following a symbolic link (before Linux 6.6 that needs /proc)',
      );
    }
    check(chmod, 'fchmodat', path);
  }
  return 0;
}

/**
 * Removes a FIFO this call just created, after a later step failed.
 * @internal
 */
export function unlinkIfOurs(path: string): void {
  if (!isFifo(path)) return;
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Hands a descriptor to a net.Socket, which owns (and closes) it from then on.
 * When that throws, the descriptor is still the caller's.
 * @internal
 */
export function adoptIntoSocket(fd: number, readable: boolean, writable: boolean): Socket {
  const socket = new Socket({ fd, readable, writable });
  binding.releaseFd(fd);
  return socket;
}

/**
 * Creates a FIFO (`mkfifo`) with exactly `mode` (default `0o600`) whatever the
 * umask. A taken path is `EEXIST`, a symbolic link (even a dangling one)
 * included: it is never followed.
 */
export function mkfifo(path: string, mode = 0o600): void {
  validatePath(path);
  validateMode(mode, 'mode');
  if (createFifo(path, mode) !== -EEXIST) return;
  // A FIFO left there is the usual case, and `posix-ipc rm` removes one; anything else is not ours to suggest removing.
  throw isFifo(path) ? existsError('mkfifo', path) : new IpcError(-EEXIST, 'mkfifo', path);
}

function isFifo(path: string): boolean {
  try {
    return lstatSync(path).isFIFO();
  } catch {
    return false;
  }
}

/**
 * One open end of a FIFO: a reader or a writer. The descriptor is
 * non-blocking and close-on-exec from creation; `stream()` turns it into a
 * Node stream, or pass `fifo.fd` to a child process.
 *
 * @example
 * ```ts
 * mkfifo('/tmp/jobs.fifo');
 * // Process A:
 * const reader = (await Fifo.openReader('/tmp/jobs.fifo')).stream();
 * reader.on('data', (chunk) => console.log(chunk.toString())).on('end', () => console.log('writer gone'));
 * // Process B: waits (without blocking) until a reader exists.
 * const writer = (await Fifo.openWriter('/tmp/jobs.fifo', { timeoutMs: 5000 })).stream();
 * writer.end('hello\n');
 * ```
 */
export class Fifo extends OwnedDescriptor {
  readonly #path: string;
  readonly #direction: FifoDirection;

  private constructor(key: Internal, fd: number, path: string, direction: FifoDirection) {
    super(key, fd);
    this.#path = path;
    this.#direction = direction;
  }

  /** PIPE_BUF (4096 on Linux): a write of at most this many bytes is never interleaved with other writers'. */
  static readonly PIPE_BUF: number = binding.PIPE_BUF;

  /** The same function as {@link mkfifo}. */
  static mkfifo(path: string, mode = 0o600): void {
    mkfifo(path, mode);
  }

  /**
   * Removes a FIFO's path. Open ends keep working; the FIFO is gone when the
   * last one closes. A path that is not a FIFO is refused (`EINVAL`).
   */
  static unlink(path: string): void {
    validatePath(path);
    let mode: number;
    try {
      mode = lstatSync(path).mode;
      if ((mode & S_IFMT) === S_IFIFO) unlinkSync(path);
    } catch (err) {
      const { errno, syscall } = err as NodeJS.ErrnoException;
      throw new IpcError(errno ?? -EINVAL, syscall ?? 'unlink', path);
    }
    if ((mode & S_IFMT) !== S_IFIFO) {
      throw new IpcError(
        -EINVAL, 'unlink', path, `not a FIFO but ${FILE_TYPES.get(mode & S_IFMT) ?? 'another kind of file'}`,
      );
    }
  }

  /**
   * Opens the FIFO for reading. This never waits: a non-blocking open for
   * reading succeeds without a writer. The stream then waits for the first
   * writer (the kernel reports no end of file until one has come), and ends
   * when the last writer closes.
   */
  static async openReader(path: string): Promise<Fifo> {
    validatePath(path);
    return new Fifo(INTERNAL, openNow(path, O_RDONLY), path, 'read');
  }

  /**
   * Opens the FIFO for writing, waiting for a reader when there is none yet
   * (a non-blocking open fails with ENXIO until then, so it is retried on a
   * timer, every 50 ms at most; no thread is blocked). A reader still blocked
   * in its own open (e.g. `cat fifo`) counts, and is woken by this open.
   */
  static async openWriter(path: string, options?: FifoOpenWriterOptions): Promise<Fifo> {
    validatePath(path);
    return new Fifo(INTERNAL, await openWhenRead(path, O_WRONLY, waitOptions(options)), path, 'write');
  }

  /** The path it was opened by. */
  get path(): string {
    return this.#path;
  }

  /** `'read'` for a reader, `'write'` for a writer. */
  get direction(): FifoDirection {
    return this.#direction;
  }

  /**
   * The FIFO's capacity in bytes (`F_GETPIPE_SZ`; 65536 by default on Linux).
   * It belongs to the FIFO while any end is open, and starts again from the
   * default once every end has closed.
   */
  get pipeSize(): number {
    return pipeSize(this.openFd, this.#path);
  }

  /**
   * Sets the FIFO's capacity (`F_SETPIPE_SZ`, for every end open now) to at
   * least `bytes`, as {@link PipeEnd.setPipeSize} does for a pipe, with the
   * same limits (/proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE).
   */
  setPipeSize(bytes: number): void {
    setPipeSize(this.openFd, bytes, 'bytes', this.#path);
  }

  /**
   * Hands the descriptor to a `net.Socket`: a Readable for a reader (`'end'`
   * when the last writer closes), a Writable for a writer (backpressure
   * included; when the last reader is gone, a write fails with an `'error'`
   * event of code `EPIPE`, never a signal). The socket owns the descriptor
   * from then on; this handle is closed (`ERR_IPC_CLOSED` on a second call).
   * `options.onread` (a reader) reads into one buffer of yours, as for
   * {@link PipeEnd.stream}.
   */
  stream(options?: StreamOptions): Socket {
    return this.toSocket({ readable: this.#direction === 'read', writable: this.#direction === 'write' }, options);
  }

  /**
   * `Fifo { path: '/tmp/jobs.fifo', fd: 21, direction: 'read', closed: false }` for `console.log` and `util.inspect`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle(
      'Fifo', { path: this.#path, fd: this.fd, direction: this.#direction, closed: this.closed }, depth, options,
    );
  }
}

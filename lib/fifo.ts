/**
 * Named pipes (`mkfifo`): a path in the filesystem through which unrelated
 * processes stream bytes, and the classic request/reply server built on them
 * (a well-known request FIFO, one reply FIFO per client).
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { constants as fsConstants, lstatSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as nodePath from 'node:path';
import type { InspectOptionsStylized } from 'node:util';
import { binding } from './binding';
import {
  AbortError, check, closedError, invalidArgType, invalidArgValue, IpcError, stateError, type CodedError,
} from './errors';
import {
  identityOfFd, OwnedDescriptor, unlinkIfSame, type FileIdentity, type StreamOptions,
} from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, LoopRef, socketPart, type Referable } from './internal/loop-ref';
import { pipeSize, setPipeSize } from './internal/pipe-size';
import { AGAIN, Poller } from './internal/poller';
import { forget, reclaimOnCollect } from './internal/reclaim';
import { retryUntil } from './internal/retry';
import { validateMode, validateOptions, validatePath, validateSignal, validateTimeout } from './internal/validate';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';

const {
  O_RDONLY, O_WRONLY, O_RDWR, S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK,
} = fsConstants;
const { EAGAIN, EEXIST, EINVAL, EMSGSIZE, ENXIO, EOPNOTSUPP, EPIPE, ETIMEDOUT } = osConstants.errno;

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
export interface FifoOpenWriterOptions {
  /** Gives up with an `AbortError`. */
  signal?: AbortSignal;
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: wait as long as it takes. */
  timeoutMs?: number;
}

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

/** Opens at once, or rejects with ENXIO (no reader) like any other failure. */
function openNow(path: string, access: number): number {
  const fd = tryOpen(path, access);
  if (fd === -ENXIO) throw new IpcError(fd, 'open', path, 'no process has the FIFO open for reading');
  return fd;
}

/**
 * Opens for writing (or `access`) as soon as a reader exists: retries the
 * non-blocking open with backoff, never blocking a thread. Errors other than
 * ENXIO (and ENOENT with `whileMissing`: the FIFO is not made yet) end the wait.
 */
function openWhenRead(
  path: string, access: number, signal: AbortSignal | undefined, timeoutMs: number | undefined, whileMissing = false,
): Promise<number> {
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
  return retryUntil(attempt, MAX_RETRY_MS, { signal, timeoutMs },
    () => new IpcError(-ETIMEDOUT, 'open', path, `timed out after ${timeoutMs} ms waiting for a reader`));
}

/**
 * Creates a FIFO with exactly `mode`: -EEXIST when the path is taken (a
 * symbolic link too, even a dangling one); other failures throw, and leave
 * nothing behind.
 */
function createFifo(path: string, mode: number): number {
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

/** Removes a FIFO this call just created, after a later step failed. */
function unlinkIfOurs(path: string): void {
  try {
    if (lstatSync(path).isFIFO()) unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * Hands a descriptor to a net.Socket, which owns (and closes) it from then on.
 * When that throws, the descriptor is still the caller's.
 */
function adoptIntoSocket(fd: number, readable: boolean, writable: boolean): Socket {
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
  check(createFifo(path, mode), 'mkfifo', path);
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
    const { signal, timeoutMs } = validateOptions(options);
    validateSignal(signal);
    validateTimeout(timeoutMs);
    return new Fifo(INTERNAL, await openWhenRead(path, O_WRONLY, signal, timeoutMs), path, 'write');
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

/**
 * Splits a byte stream into lines at '\n', skipping blank ones. A line longer
 * than `max` bytes is dropped (reported once), up to its newline.
 */
class LineSplitter {
  #parts: Buffer[] = [];
  #length = 0;
  #skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, newline === -1 ? chunk.length : newline);
      if (!this.#skipping && this.#length + piece.length > this.max) {
        this.onTooLong(this.#length + piece.length);
        this.#skipping = true;
      }
      if (this.#skipping) {
        this.#parts = [];
        this.#length = 0;
      } else if (piece.length > 0) {
        this.#parts.push(piece);
        this.#length += piece.length;
      }
      if (newline === -1) return;
      start = newline + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      const line = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#length);
      this.#parts = [];
      this.#length = 0;
      if (line.length > 0) this.onLine(line); // blank lines are no requests
    }
  }
}

/** A request as it travels through the request FIFO, one JSON line. */
interface RequestLine {
  id: number;
  reply: string;
  data?: unknown;
}

/** A reply as it travels through a reply FIFO, one JSON line. */
interface ReplyLine {
  id: number;
  data?: unknown;
  error?: { name?: string; message?: string; code?: string };
}

function isRequestLine(value: unknown): value is RequestLine {
  if (value === null || typeof value !== 'object') return false;
  const { id, reply } = value as Partial<RequestLine>;
  return Number.isSafeInteger(id) && typeof reply === 'string' && nodePath.isAbsolute(reply) && !reply.includes('\0');
}

function errorReply(id: number, err: unknown): string {
  const { name, message, code } = err instanceof Error
    ? (err as Error & { code?: unknown })
    : { name: 'Error', message: String(err), code: undefined };
  return `${JSON.stringify({ id, error: { name, message, code: typeof code === 'string' ? code : undefined } })}\n`;
}

/** Options of {@link FifoServer.listen}. */
export interface FifoServerOptions {
  /**
   * Permission bits of the request FIFO, exact whatever the umask. Default
   * `0o600`: only this user's processes may send requests. `0o622` lets anyone write.
   */
  mode?: number;
}

/** Answers one request: the resolved value (JSON-serializable) is the reply; a throw becomes an error reply. */
export type FifoHandler<Request = unknown, Reply = unknown> = (request: Request) => Reply | Promise<Reply>;

/** A reply FIFO in use by the server: opened on the first reply, closed when no reply is pending. */
interface ReplyChannel {
  socket: Promise<Socket | null>;
  users: number;
  ending: boolean;
  done: Promise<void> | null;
}

/**
 * The server side of the classic FIFO request/reply pattern: a well-known
 * request FIFO that every client writes one-line JSON requests into, each
 * naming the client's own reply FIFO, where the server writes the answer.
 *
 * Emits `'clientError'` (err) for a request it cannot read or answer (not
 * JSON, too long, a reply FIFO nobody reads); the server keeps going.
 *
 * @example
 * ```ts
 * const server = FifoServer.listen('/tmp/calc.fifo', ({ a, b }) => a + b);
 * // any process:
 * const client = await FifoClient.connect('/tmp/calc.fifo');
 * console.log(await client.request({ a: 1, b: 2 })); // 3
 * client.close();
 * await server.close();
 * ```
 */
export class FifoServer extends EventEmitter implements AsyncDisposable {
  static {
    implementRef(this, (self) => (#loopRef in self ? (self as FifoServer).#loopRef : undefined));
  }

  readonly #loopRef = new LoopRef();
  readonly #path: string;
  readonly #identity: FileIdentity;
  readonly #handler: FifoHandler;
  readonly #channels = new Map<string, ReplyChannel>();
  #socket: Socket | null;
  #inflight = 0;
  #closing: Promise<void> | null = null;
  #finish: (() => void) | null = null;

  private constructor(key: Internal, path: string, fd: number, handler: FifoHandler) {
    assertInternal(key);
    super();
    this.#path = path;
    this.#handler = handler;
    this.#identity = identityOfFd(fd);
    // Opened O_RDWR: this process is a writer too, so the stream never ends
    // when clients come and go (the classic "dummy writer").
    this.#socket = adoptIntoSocket(fd, true, false);
    // Waiting for requests is what keeps the process alive (as a listening
    // net.Server does); replies being written still do after unref().
    this.#loopRef.attach(socketPart(this.#socket));
    const lines = new LineSplitter(binding.PIPE_BUF - 1, (line) => this.#onLine(line), (bytes) => {
      this.#clientError(new IpcError(
        -EMSGSIZE, 'read', path, `request line of ${bytes}+ bytes exceeds PIPE_BUF (${binding.PIPE_BUF}), dropped`,
      ));
    });
    this.#socket.on('data', (chunk: Buffer) => {
      if (this.#closing === null) lines.push(chunk);
    });
    this.#socket.on('error', (err) => {
      this.#clientError(err);
      void this.close();
    });
  }

  /**
   * Creates the request FIFO at `path` (`EEXIST` if the path is taken, e.g.
   * by a server that did not close: remove it with `Fifo.unlink`) and starts
   * answering requests with `handler`. Requests are handled concurrently.
   */
  static listen<Request = unknown, Reply = unknown>(
    path: string, handler: FifoHandler<Request, Reply>, options?: FifoServerOptions,
  ): FifoServer {
    validatePath(path);
    if (typeof handler !== 'function') throw invalidArgType('handler', 'of type function', handler);
    const { mode = 0o600 } = validateOptions(options);
    validateMode(mode);
    check(createFifo(path, mode), 'mkfifo', path);
    let fd = -1;
    try {
      fd = openNow(path, O_RDWR);
      return new FifoServer(INTERNAL, path, fd, handler as FifoHandler);
    } catch (err) {
      if (fd >= 0) binding.close(fd);
      unlinkIfOurs(path);
      throw err;
    }
  }

  /** The request FIFO's path. */
  get path(): string {
    return this.#path;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Stops taking requests and removes the request FIFO's path at once; the
   * requests being handled are still answered, then the FIFO is closed.
   * Clients with requests that were never read learn it then (`EPIPE`).
   * Idempotent; resolves when everything is closed.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = new Promise((resolve) => (this.#finish = resolve));
    unlinkIfSame(this.#path, this.#identity);
    this.#maybeFinish();
    return this.#closing;
  }

  /**
   * `close()`, for `await using`: resolves once the requests being handled
   * are answered and everything is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * `close()` without waiting for the requests being handled, for `using`
   * in synchronous code; prefer `await using` ({@link FifoServer[Symbol.asyncDispose]}).
   */
  [Symbol.dispose](): void {
    void this.close();
  }

  /**
   * `FifoServer { path: '/tmp/calc.fifo', handling: 0, ref: true, closed: false }` for `console.log` and
   * `util.inspect`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle(
      'FifoServer', { path: this.#path, handling: this.#inflight, ref: this.#loopRef.ref, closed: this.closed }, depth,
      options,
    );
  }

  #maybeFinish(): void {
    if (this.#closing === null || this.#inflight > 0 || this.#socket === null) return;
    const socket = this.#socket;
    this.#socket = null;
    socket.once('close', () => this.#finish!());
    socket.destroy();
  }

  #clientError(err: Error): void {
    this.emit('clientError', err);
  }

  #onLine(line: Buffer): void {
    let request: unknown;
    try {
      request = JSON.parse(line.toString('utf8'));
    } catch {
      request = undefined;
    }
    if (!isRequestLine(request)) {
      const shown = line.length > 64 ? `${line.subarray(0, 64).toString()}...` : line.toString();
      this.#clientError(new IpcError(
        -EINVAL, 'read', this.#path, `malformed request ${JSON.stringify(shown)}, dropped`,
      ));
      return;
    }
    const { id, reply } = request;
    this.#inflight++;
    new Promise((resolve) => resolve(this.#handler(request.data)))
      .then((data) => `${JSON.stringify({ id, data })}\n`, (err: unknown) => errorReply(id, err))
      .catch((err: unknown) => errorReply(
        id, new Error(`the reply is not JSON-serializable: ${(err as Error).message}`),
      ))
      .then((text) => this.#reply(reply, text))
      .catch((err: unknown) => this.#clientError(err as Error))
      .finally(() => {
        this.#inflight--;
        this.#maybeFinish();
      });
  }

  /** Writes one reply line; replies to one client go through one writer, in order. */
  async #reply(path: string, text: string): Promise<void> {
    let channel = this.#channels.get(path);
    if (channel === undefined || channel.ending) {
      const previous = channel?.done ?? Promise.resolve();
      channel = { socket: previous.then(() => this.#openReply(path)), users: 0, ending: false, done: null };
      this.#channels.set(path, channel);
    }
    channel.users++;
    try {
      const socket = await channel.socket;
      if (socket !== null && !socket.destroyed) await new Promise<unknown>((resolve) => socket.write(text, resolve));
    } finally {
      if (--channel.users === 0) this.#endChannel(path, channel);
    }
  }

  #endChannel(path: string, channel: ReplyChannel): void {
    channel.ending = true;
    channel.done = channel.socket.then((socket) => {
      if (socket === null || socket.closed) return;
      return new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
      });
    });
    void channel.done.then(() => {
      if (this.#channels.get(path) === channel) this.#channels.delete(path);
    });
  }

  /** The client's reply FIFO, or null (reported) when it cannot be written. */
  #openReply(path: string): Socket | null {
    let fd = -1;
    try {
      fd = openNow(path, O_WRONLY);
      const socket = adoptIntoSocket(fd, false, true);
      // EPIPE (the client closed its reply FIFO) is the client's problem.
      socket.on('error', (err) => this.#clientError(err));
      return socket;
    } catch (err) {
      if (fd >= 0) binding.close(fd);
      this.#clientError(err as Error);
      return null;
    }
  }
}

/** Options of {@link FifoClient.connect}. */
export interface FifoClientOptions extends FifoOpenWriterOptions {
  /** Where the client creates its reply FIFO. Default: `os.tmpdir()`. */
  replyDir?: string;
  /** Permission bits of the reply FIFO, exact whatever the umask. Default `0o600`. */
  mode?: number;
}

/** Options of {@link FifoClient.request}. */
export interface FifoRequestOptions {
  /** Gives up with an `AbortError` (a reply that comes later is ignored). */
  signal?: AbortSignal;
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

interface PendingRequest {
  /** Whether it is in the request FIFO (else it still waits for room, and its write reports a lost server). */
  sent: boolean;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

let replyCounter = 0;

/**
 * The client side of {@link FifoServer}: creates its own reply FIFO, named
 * after its pid and a counter, and sends requests through the server's
 * request FIFO. Many requests may be pending at once; replies are matched by id.
 */
export class FifoClient implements Disposable {
  static {
    implementRef(this, (self) => (#loopRef in self ? (self as FifoClient).#loopRef : undefined));
  }

  readonly #loopRef = new LoopRef();
  readonly #requestPath: string;
  readonly #replyPath: string;
  readonly #replyIdentity: FileIdentity;
  readonly #replyFd: number;
  readonly #reply: Socket;
  readonly #pending = new Map<number, PendingRequest>();
  #fd: number;
  #poller: Poller | null;
  #nextId = 1;
  #watch: AbortController | null = null;

  private constructor(key: Internal, requestPath: string, fd: number, replyPath: string, replyFd: number) {
    assertInternal(key);
    this.#requestPath = requestPath;
    this.#replyPath = replyPath;
    this.#fd = fd;
    this.#replyIdentity = identityOfFd(replyFd);
    this.#replyFd = replyFd;
    const poller = new Poller(fd, 'open', requestPath);
    try {
      // Opened O_RDWR, like the server's FIFO: this process is also a writer of
      // its reply FIFO, so the stream does not end each time the server closes.
      this.#reply = adoptIntoSocket(replyFd, true, false);
    } catch (err) {
      poller.close(() => closedError('FifoClient'));
      throw err;
    }
    this.#poller = poller;
    reclaimOnCollect(this, { fds: [fd], poller });
    this.#reply.unref();
    // Pending requests keep the process alive through the poller (a write
    // waiting for room, the watch for a server that goes) and the reply
    // stream (ref'd only while a request is pending).
    this.#loopRef.attach(poller);
    this.#loopRef.attach({
      setRef: (ref) => this.#pending.size > 0 && void (ref ? this.#reply.ref() : this.#reply.unref()),
    });
    const lines = new LineSplitter(Infinity, (line) => this.#onReply(line), () => undefined);
    this.#reply.on('data', (chunk: Buffer) => lines.push(chunk));
    // Reading our own FIFO does not fail; should it, the requests time out or are closed.
    this.#reply.on('error', () => undefined);
  }

  /**
   * Connects to the server at `requestPath`, waiting (like
   * {@link Fifo.openWriter}, and also while the request FIFO does not exist
   * yet) until a server listens there, then creates the reply FIFO
   * `<replyDir>/posix-ipc-<pid>-<n>.fifo`.
   */
  static async connect(requestPath: string, options?: FifoClientOptions): Promise<FifoClient> {
    validatePath(requestPath, 'requestPath');
    const { signal, timeoutMs, replyDir = tmpdir(), mode = 0o600 } = validateOptions(options);
    validateSignal(signal);
    validateTimeout(timeoutMs);
    validatePath(replyDir, 'options.replyDir');
    validateMode(mode);
    const fd = await openWhenRead(requestPath, O_WRONLY, signal, timeoutMs, true);
    let replyPath: string | null = null;
    let replyFd = -1;
    try {
      const dir = nodePath.resolve(replyDir);
      for (let tries = 0; replyPath === null; tries++) {
        const candidate = nodePath.join(dir, `posix-ipc-${process.pid}-${replyCounter++}.fifo`);
        // EEXIST: left behind by an earlier process with this pid; take the next.
        if (createFifo(candidate, mode) === 0) replyPath = candidate;
        else if (tries >= 100) check(-EEXIST, 'mkfifo', candidate);
      }
      replyFd = openNow(replyPath, O_RDWR);
      return new FifoClient(INTERNAL, requestPath, fd, replyPath, replyFd);
    } catch (err) {
      binding.close(fd);
      if (replyFd >= 0) binding.close(replyFd);
      if (replyPath !== null) unlinkIfOurs(replyPath);
      throw err;
    }
  }

  /** The server's request FIFO. */
  get requestPath(): string {
    return this.#requestPath;
  }

  /** This client's reply FIFO (removed by `close()`). */
  get replyPath(): string {
    return this.#replyPath;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#poller === null;
  }

  /**
   * Sends `data` (JSON-serializable) and resolves with the server's reply; a
   * handler that threw rejects with `code: 'ERR_IPC_REMOTE'` and the remote
   * error as `cause`. The request line, with its id and the reply path, must
   * fit in PIPE_BUF (4096 bytes) so that it never mixes with other clients'
   * (`EMSGSIZE` before any syscall). When the server goes away first it
   * rejects with `EPIPE`.
   */
  request<Reply = unknown>(data: unknown, options?: FifoRequestOptions): Promise<Reply> {
    let bytes: Buffer;
    let signal: AbortSignal | undefined;
    let timeoutMs: number | undefined;
    let id: number;
    try {
      if (this.#poller === null) throw closedError('FifoClient');
      ({ signal, timeoutMs } = validateOptions(options));
      validateSignal(signal);
      validateTimeout(timeoutMs);
      // The id is taken once the request is known to be good.
      id = this.#nextId;
      let text: string;
      try {
        text = JSON.stringify({ id, reply: this.#replyPath, data });
      } catch (err) {
        throw invalidArgValue('data', data, `must be JSON-serializable (${(err as Error).message})`);
      }
      bytes = Buffer.from(`${text}\n`);
      if (bytes.length > binding.PIPE_BUF) {
        throw new IpcError(-EMSGSIZE, 'write', this.#requestPath,
          `request of ${bytes.length} bytes exceeds PIPE_BUF (${binding.PIPE_BUF}), the most a FIFO writes atomically`);
      }
      this.#nextId++;
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(new AbortError({ cause: signal.reason }));
    const poller = this.#poller!;
    return new Promise<Reply>((resolve, reject) => {
      const writing = new AbortController();
      const settle = (finish: () => void) => {
        if (this.#pending.get(id) !== entry) return;
        this.#pending.delete(id);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        writing.abort();
        if (this.#pending.size === 0) this.#idle();
        finish();
      };
      const entry: PendingRequest = {
        sent: false,
        resolve: (value) => settle(() => resolve(value as Reply)),
        reject: (reason) => settle(() => reject(reason)),
      };
      const onAbort = () => entry.reject(new AbortError({ cause: signal!.reason }));
      // Unref'd: the pending request keeps the process alive while it is ref'd (see #busy).
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        entry.reject(entry.sent
          ? new IpcError(-ETIMEDOUT, 'read', this.#replyPath, `no reply within ${timeoutMs} ms`)
          : new IpcError(-ETIMEDOUT, 'write', this.#requestPath, `timed out after ${timeoutMs} ms waiting for room`));
      }, timeoutMs).unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.#pending.size === 0) this.#busy();
      this.#pending.set(id, entry);
      const attempt = () => {
        const r = binding.fifoWrite(this.#fd, bytes);
        if (r === -EAGAIN) return AGAIN;
        if (r === -EPIPE) {
          throw new IpcError(r, 'write', this.#requestPath, 'no server reads the request FIFO any more');
        }
        check(r, 'write', this.#requestPath);
        entry.sent = true;
        return r;
      };
      poller.wait(binding.UV_WRITABLE, attempt, { signal: writing.signal }, () => new Error('unused'))
        .catch((err: unknown) => {
          if (!writing.signal.aborted || this.#poller === null) entry.reject(err);
        });
    });
  }

  /**
   * Closes the descriptors and removes the reply FIFO; pending requests reject
   * with `ERR_IPC_CLOSED`. Idempotent.
   */
  close(): void {
    const poller = this.#poller;
    if (poller === null) return;
    this.#poller = null;
    for (const entry of [...this.#pending.values()]) entry.reject(closedError('FifoClient'));
    // The watcher goes before the descriptor: closing it unregisters the
    // descriptor's number from epoll.
    poller.close(() => closedError('FifoClient'));
    forget(this);
    binding.close(this.#fd);
    this.#fd = -1;
    this.#reply.destroy();
    unlinkIfSame(this.#replyPath, this.#replyIdentity);
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `FifoClient { requestPath: '/tmp/calc.fifo', replyPath: '/tmp/posix-ipc-7-0.fifo', fd: 21, pending: 0, ref: true,
   * closed: false }`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('FifoClient', {
      requestPath: this.#requestPath, replyPath: this.#replyPath, fd: this.#fd, pending: this.#pending.size,
      ref: this.#loopRef.ref, closed: this.closed,
    }, depth, options);
  }

  /** The first request is pending: keep the process alive (unless unref()'d), and notice a server that goes away. */
  #busy(): void {
    if (this.#loopRef.ref) this.#reply.ref();
    const watch = new AbortController();
    this.#watch = watch;
    // A write end polls POLLERR once no reader is left. That is the only
    // event a write end reports for POLLIN, so this wait is quiet until then.
    const gone = () => {
      const revents = binding.pollNow(this.#fd, binding.POLLOUT);
      return revents < 0 || (revents & binding.POLLERR) !== 0 ? true : AGAIN;
    };
    this.#poller!.wait(binding.UV_READABLE, gone, { signal: watch.signal }, () => new Error('unused')).then(
      () => this.#serverGone(),
      () => undefined,
    );
  }

  /** No request is pending: let the process exit. */
  #idle(): void {
    this.#reply.unref();
    this.#watch?.abort();
    this.#watch = null;
  }

  /**
   * The server closed the request FIFO. Replies it wrote before are in the
   * reply FIFO: let the stream deliver them first, then fail the rest.
   */
  #serverGone(): void {
    if (this.#poller === null) return;
    const unread = binding.pollNow(this.#replyFd, binding.POLLIN);
    if (unread > 0 && (unread & binding.POLLIN) !== 0) {
      setImmediate(() => this.#serverGone());
      return;
    }
    for (const entry of [...this.#pending.values()]) {
      if (entry.sent) {
        entry.reject(
          new IpcError(-EPIPE, 'poll', this.#requestPath, 'the server closed the request FIFO before replying'),
        );
      }
    }
  }

  #onReply(line: Buffer): void {
    let reply: ReplyLine;
    try {
      reply = JSON.parse(line.toString('utf8')) as ReplyLine;
    } catch {
      return;
    }
    const entry = reply !== null && typeof reply === 'object' ? this.#pending.get(reply.id) : undefined;
    if (entry === undefined) return; // given up on (timeout, abort), or not ours
    if (reply.error === undefined) {
      entry.resolve(reply.data);
      return;
    }
    const remote = reply.error ?? {};
    const err: CodedError = stateError('ERR_IPC_REMOTE', String(remote.message ?? 'the server failed'));
    err.cause = remote;
    entry.reject(err);
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface FifoServer extends Referable {}
export interface FifoClient extends Referable {}

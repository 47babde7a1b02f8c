/**
 * The classic request/reply protocol over FIFOs: a {@link FifoServer} reads
 * one-line JSON requests from a well-known request FIFO and writes each reply
 * to the reply FIFO its {@link FifoClient} made for itself.
 *
 * The lines: `{"id":1,"reply":"/tmp/posix-ipc-7-0.fifo","token":"<32 hex>","data":...}`
 * in, `{"id":1,"token":"<the same>","data":...}` (or `"error":{name,message,code}`
 * instead of `data`) out. The token is random per request and echoed by the
 * server: a reply without it (a peer that named our reply FIFO in a request of
 * its own) answers nothing of ours, whatever its id.
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import * as nodePath from 'node:path';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, closedError, invalidArgType, invalidArgValue, IpcError, stateError, type CodedError } from './errors';
import {
  adoptIntoSocket, createFifo, openNow, openWhenRead, unlinkIfOurs, type FifoOpenWriterOptions,
} from './fifo';
import { abortError, armGiveUp } from './internal/cancel';
import { identityOfFd, OwnedDescriptor, unlinkIfSame, type FileIdentity } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, LoopRef, socketPart, type Referable } from './internal/loop-ref';
import { AGAIN } from './internal/poller';
import { validateMode, validateOptions, validatePath, validateSize } from './internal/validate';
import { waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';

const { O_WRONLY, O_RDWR } = fsConstants;
const { EAGAIN, EEXIST, EINVAL, EMSGSIZE, ENOBUFS, EPIPE, ETIMEDOUT } = osConstants.errno;

/**
 * Bytes of replies a server lets wait for one client: past this, a client whose FIFO took nothing for
 * REPLY_STALL_MS is given up on; past MAX_REPLY_UNREAD, any client is (a reading client pipelining large replies
 * goes past the first bound for a moment, never for long).
 */
const MAX_REPLY_BACKLOG = 1 << 20;
const MAX_REPLY_UNREAD = 64 << 20;
const REPLY_STALL_MS = 1000;
/** The longest reply line a client takes by default (`maxReplyBytes`). */
const DEFAULT_MAX_REPLY_BYTES = 16 << 20;
/** How much of a line too long to take is kept to say whose it was. */
const HEAD_BYTES = 128;

/**
 * Splits a byte stream into lines at '\n', skipping blank ones. A line longer
 * than `max` bytes is dropped (reported once, with its first bytes), up to its newline.
 */
class LineSplitter {
  #parts: Buffer[] = [];
  #length = 0;
  #skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: (bytes: number, head: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, newline === -1 ? chunk.length : newline);
      if (!this.#skipping && this.#length + piece.length > this.max) {
        this.onTooLong(this.#length + piece.length, this.#head(piece));
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

  /** The first HEAD_BYTES of the line so far and `piece`. */
  #head(piece: Buffer): Buffer {
    const parts: Buffer[] = [];
    let length = 0;
    for (const part of this.#parts) {
      if (length >= HEAD_BYTES) break;
      parts.push(part);
      length += part.length;
    }
    if (length < HEAD_BYTES) parts.push(piece);
    return Buffer.concat(parts).subarray(0, HEAD_BYTES);
  }
}

/** A request as it travels through the request FIFO, one JSON line. */
interface RequestLine {
  id: number;
  reply: string;
  /** Random per request; the reply carries it back (optional for clients such as shell scripts). */
  token?: string;
  data?: unknown;
}

/** A reply as it travels through a reply FIFO, one JSON line. */
interface ReplyLine {
  id: number;
  token?: unknown;
  data?: unknown;
  error?: { name?: string; message?: string; code?: string };
}

function isRequestLine(value: unknown): value is RequestLine {
  if (value === null || typeof value !== 'object') return false;
  const { id, reply, token } = value as Partial<RequestLine>;
  // A reply path is taken only in its plain form: absolute, no '.', '..' or '//' to play with.
  return Number.isSafeInteger(id) && typeof reply === 'string' && nodePath.isAbsolute(reply) &&
    !reply.includes('\0') && nodePath.normalize(reply) === reply && (token === undefined || typeof token === 'string');
}

function errorReply(id: number, token: string | undefined, err: unknown): string {
  const { name, message, code } = err instanceof Error
    ? (err as Error & { code?: unknown })
    : { name: 'Error', message: String(err), code: undefined };
  const error = { name, message, code: typeof code === 'string' ? code : undefined };
  return `${JSON.stringify({ id, token, error })}\n`;
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
  /** When a write last reached the FIFO (performance.now()): the client reads. */
  progress: number;
  /** Armed while more than MAX_REPLY_BACKLOG bytes wait: checks that the client still reads. */
  stall: NodeJS.Timeout | null;
}

/**
 * The server side of the classic FIFO request/reply pattern: a well-known
 * request FIFO that every client writes one-line JSON requests into, each
 * naming the client's own reply FIFO, where the server writes the answer.
 *
 * Emits `'clientError'` (err) for a request it cannot read or answer (not
 * JSON, too long, a reply FIFO nobody reads, `ENOBUFS` for a client that
 * lets more than 1 MiB of replies wait and reads nothing for a second, or
 * lets 64 MiB wait: its reply FIFO is closed and those replies are dropped);
 * the server keeps going.
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
    const { id, reply, token } = request;
    this.#inflight++;
    new Promise((resolve) => resolve(this.#handler(request.data)))
      .then((data) => `${JSON.stringify({ id, token, data })}\n`, (err: unknown) => errorReply(id, token, err))
      .catch((err: unknown) => errorReply(
        id, token, new Error(`the reply is not JSON-serializable: ${(err as Error).message}`),
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
      channel = {
        socket: previous.then(() => this.#openReply(path)), users: 0, ending: false, done: null,
        progress: performance.now(), stall: null,
      };
      this.#channels.set(path, channel);
    }
    channel.users++;
    try {
      const socket = await channel.socket;
      if (socket !== null && !socket.destroyed) {
        const written = new Promise<unknown>((resolve) => socket.write(text, (err) => {
          if (!err) channel.progress = performance.now();
          resolve(err);
        }));
        // Destroying the socket calls back every write still waiting (with an error), so `written` settles.
        if (socket.writableLength > MAX_REPLY_UNREAD) this.#giveUpOn(path, socket);
        else if (socket.writableLength > MAX_REPLY_BACKLOG) this.#watchStall(path, channel, socket);
        await written;
      }
    } finally {
      if (--channel.users === 0) this.#endChannel(path, channel);
    }
  }

  /** Over MAX_REPLY_BACKLOG: once REPLY_STALL_MS pass with nothing taken by the client, it is given up on. */
  #watchStall(path: string, channel: ReplyChannel, socket: Socket): void {
    if (channel.stall !== null) return;
    const armed = performance.now();
    channel.stall = setTimeout(() => {
      channel.stall = null;
      if (socket.destroyed || socket.writableLength <= MAX_REPLY_BACKLOG) return;
      if (channel.progress <= armed) this.#giveUpOn(path, socket);
      else this.#watchStall(path, channel, socket);
    }, REPLY_STALL_MS);
    channel.stall.unref();
  }

  /** A client that does not read its replies: close its reply FIFO rather than keep its replies in memory. */
  #giveUpOn(path: string, socket: Socket): void {
    socket.destroy();
    this.#clientError(new IpcError(-ENOBUFS, 'write', path,
      `the client does not read its replies (over ${MAX_REPLY_BACKLOG} bytes waiting, none taken for ` +
      `${REPLY_STALL_MS} ms, or over ${MAX_REPLY_UNREAD}): reply FIFO closed, its replies dropped`));
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
  /**
   * The longest reply line taken, in bytes (default 16 MiB). A longer one is
   * dropped up to its newline, so a server cannot make the client hold an
   * endless line: the request it answers rejects with `EMSGSIZE`, and a line
   * that answers no pending request is skipped.
   */
  maxReplyBytes?: number;
}

/** Options of {@link FifoClient.request}. */
export interface FifoRequestOptions extends WaitOptions {}

interface PendingRequest {
  /** The random token its reply must carry. */
  token: string;
  /** Whether it is in the request FIFO (else it still waits for room, and its write reports a lost server). */
  sent: boolean;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/** A client's reply FIFO: its path and identity, and the stream that reads it (and owns its descriptor `fd`). */
interface ReplyFifo {
  path: string;
  identity: FileIdentity;
  fd: number;
  socket: Socket;
}

let replyCounter = 0;

/**
 * The client side of {@link FifoServer}: creates its own reply FIFO, named
 * after its pid and a counter, and sends requests through the server's
 * request FIFO (its `fd`, a write end). Many requests may be pending at once;
 * replies are matched by id.
 */
export class FifoClient extends OwnedDescriptor {
  static {
    implementRef(this, (self) => (#pending in self ? (self as FifoClient).loopRef : undefined));
  }

  readonly #requestPath: string;
  readonly #reply: ReplyFifo;
  readonly #pending = new Map<number, PendingRequest>();
  #nextId = 1;
  #watch: AbortController | null = null;

  private constructor(key: Internal, requestPath: string, fd: number, reply: ReplyFifo, maxReplyBytes: number) {
    super(key, fd, { syscall: 'open', label: requestPath });
    this.#requestPath = requestPath;
    this.#reply = reply;
    const { socket } = reply;
    socket.unref();
    // Pending requests keep the process alive through the poller (a write
    // waiting for room, the watch for a server that goes) and the reply
    // stream (ref'd only while a request is pending).
    this.loopRef.attach({
      setRef: (ref) => this.#pending.size > 0 && void (ref ? socket.ref() : socket.unref()),
    });
    const lines = new LineSplitter(
      maxReplyBytes, (line) => this.#onReply(line), (bytes, head) => this.#onTooLong(bytes, head, maxReplyBytes),
    );
    socket.on('data', (chunk: Buffer) => lines.push(chunk));
    // Reading our own FIFO does not fail; should it, the requests time out or are closed.
    socket.on('error', () => undefined);
  }

  /**
   * Connects to the server at `requestPath`, waiting (like
   * {@link Fifo.openWriter}, and also while the request FIFO does not exist
   * yet) until a server listens there, then creates the reply FIFO
   * `<replyDir>/posix-ipc-<pid>-<n>.fifo`.
   */
  static async connect(requestPath: string, options?: FifoClientOptions): Promise<FifoClient> {
    validatePath(requestPath, 'requestPath');
    const opts = validateOptions(options);
    const wait = waitOptions(opts);
    const { replyDir = tmpdir(), mode = 0o600, maxReplyBytes = DEFAULT_MAX_REPLY_BYTES } = opts;
    validatePath(replyDir, 'options.replyDir');
    validateMode(mode);
    validateSize(maxReplyBytes, 'options.maxReplyBytes');
    const fd = await openWhenRead(requestPath, O_WRONLY, wait, true);
    let replyPath: string | null = null;
    let replyFd = -1;
    let socket: Socket | null = null;
    try {
      const dir = nodePath.resolve(replyDir);
      for (let tries = 0; replyPath === null; tries++) {
        const candidate = nodePath.join(dir, `posix-ipc-${process.pid}-${replyCounter++}.fifo`);
        // EEXIST: left behind by an earlier process with this pid; take the next.
        if (createFifo(candidate, mode) === 0) replyPath = candidate;
        else if (tries >= 100) check(-EEXIST, 'mkfifo', candidate);
      }
      replyFd = openNow(replyPath, O_RDWR);
      const identity = identityOfFd(replyFd);
      // Opened O_RDWR, like the server's FIFO: this process is also a writer of
      // its reply FIFO, so the stream does not end each time the server closes.
      socket = adoptIntoSocket(replyFd, true, false);
      const reply = { path: replyPath, identity, fd: replyFd, socket };
      return new FifoClient(INTERNAL, requestPath, fd, reply, maxReplyBytes);
    } catch (err) {
      // The handle was not made: it owns neither descriptor.
      binding.close(fd);
      if (socket !== null) socket.destroy();
      else if (replyFd >= 0) binding.close(replyFd);
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
    return this.#reply.path;
  }

  /**
   * Sends `data` (JSON-serializable) and resolves with the server's reply; a
   * handler that threw rejects with `code: 'ERR_IPC_REMOTE'` and the remote
   * error as `cause`. The request line, with its id and the reply path, must
   * fit in PIPE_BUF (4096 bytes) so that it never mixes with other clients'
   * (`EMSGSIZE` before any syscall). When the server goes away first it
   * rejects with `EPIPE`. A reply that comes after a timeout or an abort is
   * ignored, and so is one without this request's random token.
   */
  request<Reply = unknown>(data: unknown, options?: FifoRequestOptions): Promise<Reply> {
    let bytes: Buffer;
    let wait: WaitOptions;
    let id: number;
    const token = randomBytes(16).toString('hex');
    try {
      this.assertOpen();
      wait = waitOptions(options);
      // The id is taken once the request is known to be good.
      id = this.#nextId;
      bytes = this.#requestLine(id, token, data);
      this.#nextId++;
    } catch (err) {
      return Promise.reject(err);
    }
    if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
    const poller = this.poller;
    return new Promise<Reply>((resolve, reject) => {
      // Ends the write's wait for room once the request has ended another way.
      const writing = new AbortController();
      const settle = (finish: () => void) => {
        if (this.#pending.get(id) !== entry) return;
        this.#pending.delete(id);
        disarm();
        writing.abort();
        if (this.#pending.size === 0) this.#idle();
        finish();
      };
      const entry: PendingRequest = {
        token,
        sent: false,
        resolve: (value) => settle(() => resolve(value as Reply)),
        reject: (reason) => settle(() => reject(reason)),
      };
      // The timer is unref'd: the pending request keeps the process alive while it is ref'd (see #busy).
      const disarm = armGiveUp(wait, () => this.#timedOut(entry.sent, wait.timeoutMs!), entry.reject);
      if (this.#pending.size === 0) this.#busy();
      this.#pending.set(id, entry);
      const attempt = () => {
        const r = binding.fifoWrite(this.fd, bytes);
        if (r === -EAGAIN) return AGAIN;
        if (r === -EPIPE) {
          throw new IpcError(r, 'write', this.#requestPath, 'no server reads the request FIFO any more');
        }
        check(r, 'write', this.#requestPath);
        entry.sent = true;
        return r;
      };
      // A write that fails after the request has ended finds it settled: nothing happens.
      poller.wait(binding.UV_WRITABLE, attempt, { signal: writing.signal }, () => new Error('unused'))
        .catch((err: unknown) => entry.reject(err));
    });
  }

  /**
   * Closes the descriptors and removes the reply FIFO; pending requests reject
   * with `ERR_IPC_CLOSED`. Idempotent.
   */
  override close(): void {
    super.close();
  }

  /**
   * Pending requests reject with `ERR_IPC_CLOSED`; the reply stream closes and
   * the reply FIFO's path goes (if it still names our FIFO).
   */
  protected override onClose(): void {
    for (const entry of [...this.#pending.values()]) entry.reject(closedError('FifoClient'));
    this.#reply.socket.destroy();
    unlinkIfSame(this.#reply.path, this.#reply.identity);
  }

  /**
   * `FifoClient { requestPath: '/tmp/calc.fifo', replyPath: '/tmp/posix-ipc-7-0.fifo', fd: 21, pending: 0,
   * ref: true, closed: false }`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('FifoClient', {
      requestPath: this.#requestPath, replyPath: this.#reply.path, fd: this.fd, pending: this.#pending.size,
      ref: this.loopRef.ref, closed: this.closed,
    }, depth, options);
  }

  /** The request as one JSON line, checked: JSON-serializable, and no longer than PIPE_BUF. */
  #requestLine(id: number, token: string, data: unknown): Buffer {
    let text: string;
    try {
      text = JSON.stringify({ id, reply: this.#reply.path, token, data });
    } catch (err) {
      throw invalidArgValue('data', data, `must be JSON-serializable (${(err as Error).message})`);
    }
    const bytes = Buffer.from(`${text}\n`);
    if (bytes.length > binding.PIPE_BUF) {
      throw new IpcError(-EMSGSIZE, 'write', this.#requestPath,
        `request of ${bytes.length} bytes exceeds PIPE_BUF (${binding.PIPE_BUF}), the most a FIFO writes atomically`);
    }
    return bytes;
  }

  /** A request's ETIMEDOUT: still waiting for room in the request FIFO, or for the reply. */
  #timedOut(sent: boolean, timeoutMs: number): IpcError {
    return sent
      ? new IpcError(-ETIMEDOUT, 'read', this.#reply.path, `no reply within ${timeoutMs} ms`)
      : new IpcError(-ETIMEDOUT, 'write', this.#requestPath, `timed out after ${timeoutMs} ms waiting for room`);
  }

  /** The first request is pending: keep the process alive (unless unref()'d), and notice a server that goes away. */
  #busy(): void {
    if (this.loopRef.ref) this.#reply.socket.ref();
    const watch = new AbortController();
    this.#watch = watch;
    // A write end polls POLLERR once no reader is left. That is the only
    // event a write end reports for POLLIN, so this wait is quiet until then.
    const gone = () => {
      const revents = binding.pollNow(this.fd, binding.POLLOUT);
      return revents < 0 || (revents & binding.POLLERR) !== 0 ? true : AGAIN;
    };
    this.poller.wait(binding.UV_READABLE, gone, { signal: watch.signal }, () => new Error('unused')).then(
      () => this.#serverGone(),
      () => undefined,
    );
  }

  /** No request is pending: let the process exit. */
  #idle(): void {
    this.#reply.socket.unref();
    this.#watch?.abort();
    this.#watch = null;
  }

  /**
   * The server closed the request FIFO. Replies it wrote before are in the
   * reply FIFO: let the stream deliver them first, then fail the rest.
   */
  #serverGone(): void {
    if (this.closed) return;
    const unread = binding.pollNow(this.#reply.fd, binding.POLLIN);
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

  /**
   * A reply line over maxReplyBytes, being dropped: the request it answers (as
   * its first bytes say, in the order the server writes them) fails.
   */
  #onTooLong(bytes: number, head: Buffer, max: number): void {
    const match = /^\{"id":(\d{1,16}),"token":"([0-9a-f]{32})"/.exec(head.toString('latin1'));
    const entry = match === null ? undefined : this.#pending.get(Number(match[1]));
    if (entry === undefined || entry.token !== match![2]) return;
    entry.reject(new IpcError(
      -EMSGSIZE, 'read', this.#reply.path, `reply line of ${bytes}+ bytes exceeds maxReplyBytes (${max}), dropped`,
    ));
  }

  #onReply(line: Buffer): void {
    let reply: ReplyLine;
    try {
      reply = JSON.parse(line.toString('utf8')) as ReplyLine;
    } catch {
      return;
    }
    const entry = reply !== null && typeof reply === 'object' ? this.#pending.get(reply.id) : undefined;
    // Given up on (timeout, abort), or not ours: a reply without the request's token answers nothing.
    if (entry === undefined || reply.token !== entry.token) return;
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

/**
 * Unix-domain sockets (`unix(7)`) beyond what `net` offers: datagram and
 * sequenced-packet sockets that keep message boundaries, names in Linux's
 * abstract namespace, descriptor passing (`SCM_RIGHTS`) and peer credentials
 * (`SO_PEERCRED`), between any processes. This file is the socket itself and
 * its factories; its addresses, sends, receives, the listening server and
 * descriptor passing over a `net.Socket` each live in a file of their own.
 * @packageDocumentation
 */
import type { InspectOptionsStylized } from './internal/inspect';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { binding } from './binding';
import { check, invalidArgValue, IpcError, stateError, type CodedError } from './errors';
import { INTERNAL, type Internal } from './internal/construct';
import { OwnedDescriptor, validateAdoptable } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { AGAIN } from './internal/poller';
import { retryUntil } from './internal/retry';
import { abortError } from './internal/cancel';
import { sendFds } from './internal/send-fds';
import { SendQueue, sendJob, sendManyJob, type SendJob } from './internal/send-queue';
import {
  addressAndOptions, addressOf, bindNew, labelOfFd, parseAddress, removeFile, TYPES, validateType, type Address,
  type BoundFile,
} from './internal/unix-address';
import { Receiver, validateTarget } from './internal/unix-receive';
import { byteLengthOf, validateInteger, validateMode, validateOptions } from './internal/validate';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';
import { listen, type UnixListenOptions, type UnixSocketServer } from './unix-socket-server';

const { EAGAIN, ENOTCONN, ENOTSOCK } = osConstants.errno;
const { AF_UNIX } = binding;

/** The kind of a socket: a byte stream, or messages with their boundaries kept. */
export type UnixSocketType = 'stream' | 'seqpacket' | 'dgram';

/** Where a socket lives: a file path, or a name in Linux's abstract namespace (no file). */
export type UnixAddress = { path: string; abstract?: undefined } | { abstract: string; path?: undefined };

/** A received message (on a stream socket: a chunk of the stream). */
export interface UnixMessage {
  /** The bytes, exactly as sent on datagram and seqpacket sockets. */
  data: Buffer;
  /**
   * Descriptors that came with it: close-on-exec, and the caller's to close
   * (or to hand to e.g. `SharedMemory.fromFd`, `UnixSocket.fromFd`).
   */
  fds: number[];
  /** The sender's address, on a datagram socket whose sender was bound. */
  from?: UnixAddress;
}

/** A peer's credentials (`SO_PEERCRED`), as they were when it connected. */
export interface PeerCredentials {
  /** Its process id (0 when it is in a pid namespace this process cannot see). */
  pid: number;
  uid: number;
  gid: number;
}

/** Options of the waiting operations. */
export interface UnixSocketWaitOptions extends WaitOptions {}

/** Options of {@link UnixSocket.send} and {@link UnixSocket.trySend}. */
export interface UnixSendOptions extends UnixSocketWaitOptions {
  /**
   * The destination, for a datagram socket that is not connected: `{ path }`,
   * `{ abstract }`, or a string as `net.connect()` takes it (a path, or
   * `'\0name'` for an abstract name).
   */
  to?: UnixAddress | string;
  /**
   * Descriptors to pass (`SCM_RIGHTS`), at most 253. The receiver gets its own
   * copies; these stay open here, and must stay open until the send resolves.
   */
  fds?: readonly number[];
}

/** Options of the blocking variants ({@link UnixSocket.receiveSync}, {@link UnixSocketServer.acceptSync}). */
export interface UnixSocketSyncOptions extends SyncWaitOptions {}

/** Options of {@link UnixSocket.sendSync}. */
export interface UnixSendSyncOptions extends UnixSocketSyncOptions {
  /** The destination, for a datagram socket that is not connected (as {@link UnixSendOptions.to}). */
  to?: UnixAddress | string;
  /** Descriptors to pass (`SCM_RIGHTS`), at most 253. The receiver gets its own copies; these stay open here. */
  fds?: readonly number[];
}

/**
 * One message of {@link UnixSocket.sendMany}: its bytes, or its bytes and the
 * descriptors to pass with it (`SCM_RIGHTS`, at most 253).
 */
export type UnixOutgoingMessage =
  | string
  | ArrayBufferView
  | { data: string | ArrayBufferView; fds?: readonly number[] };

/** Options of {@link UnixSocket.receiveMany} and {@link UnixSocket.tryReceiveMany}. */
export interface UnixReceiveManyOptions extends UnixSocketWaitOptions {
  /**
   * The largest message expected, in bytes (default 65536): the room each
   * message of the batch gets. A longer one is cut (`ERR_IPC_TRUNCATED`).
   */
  messageSize?: number;
}

/** Options of {@link UnixSocket.receiveManySync}. */
export interface UnixReceiveManySyncOptions extends UnixSocketSyncOptions {
  /** As for {@link UnixReceiveManyOptions.messageSize}. */
  messageSize?: number;
}

/** Options of {@link UnixSocket.datagram}: an address to bind, or none. */
export interface UnixDatagramOptions {
  /** Bind to this file path (at most 107 bytes). */
  path?: string;
  /** Bind to this name in the abstract namespace (at most 107 bytes, no file). */
  abstract?: string;
  /** With `path`: the socket file's permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
}

/** Options of {@link UnixSocket.connect}. */
export interface UnixConnectOptions extends UnixSocketWaitOptions {
  path?: string;
  abstract?: string;
  /** Default `'stream'`. */
  type?: UnixSocketType;
}

/** Options of {@link socketPair}. */
export interface SocketPairOptions {
  /** Default `'stream'`. */
  type?: UnixSocketType;
}

/**
 * Makes a UnixSocket of a descriptor the binding just made (an accepted
 * connection, a socketpair end, a second descriptor for a net.Socket); the
 * descriptor is closed if the socket cannot be made.
 */
let adopt: (fd: number, type: UnixSocketType, label: string | null) => UnixSocket;

/**
 * A Unix-domain socket: a datagram (`'dgram'`) or sequenced-packet
 * (`'seqpacket'`) socket that sends and receives whole messages, or a stream
 * socket (`'stream'`) that can pass descriptors and then become a
 * `net.Socket`. Any of them can carry descriptors (`fds`).
 *
 * Waiting operations never block the event loop and park no thread: the
 * descriptor is non-blocking and watched with uv_poll only while something
 * waits.
 *
 * @example
 * ```ts
 * using server = UnixSocket.listen({ path: '/tmp/jobs.sock', type: 'seqpacket' });
 * // in another process:
 * using client = await UnixSocket.connect({ path: '/tmp/jobs.sock', type: 'seqpacket' });
 * using shm = SharedMemory.anonymous(4096);
 * await client.send('job 42', { fds: [shm.fd] });
 * // back here:
 * using conn = await server.accept();
 * const { data, fds } = (await conn.receive())!;
 * using mapped = SharedMemory.fromFd(fds[0]);
 * ```
 */
export class UnixSocket extends OwnedDescriptor implements AsyncIterable<UnixMessage> {
  readonly #type: UnixSocketType;
  readonly #label: string | null;
  /** The socket file this object bound and removes on close. */
  #file: BoundFile | null;
  readonly #sends: SendQueue;
  readonly #receiver: Receiver;

  static {
    adopt = (fd, type, label) => {
      try {
        return new UnixSocket(INTERNAL, fd, type, label, null);
      } catch (err) {
        binding.close(fd);
        throw err;
      }
    };
    implementRef(this, (self) => (#type in self ? (self as UnixSocket).loopRef : undefined));
  }

  private constructor(key: Internal, fd: number, type: UnixSocketType, label: string | null, file: BoundFile | null) {
    super(key, fd, { syscall: 'socket', label });
    this.#type = type;
    this.#label = label;
    this.#file = file;
    // What the send queue and the receiver use of this socket.
    const parts = {
      fd: () => this.openFd, poller: () => this.poller, loopRef: this.loopRef, type, label,
      assertOpen: () => this.assertOpen(),
    };
    this.#sends = new SendQueue(parts);
    this.#receiver = new Receiver(parts);
  }

  /**
   * A datagram socket (`SOCK_DGRAM`): bound to `path` or `abstract` to receive
   * from anyone who knows the address, or unbound to only send (`to`). Each
   * `send` is one message, received whole or not at all. The address may
   * come first as a string, as for {@link UnixSocket.listen}.
   */
  static datagram(address: string, options?: Omit<UnixDatagramOptions, 'path' | 'abstract'>): UnixSocket;
  static datagram(options?: UnixDatagramOptions): UnixSocket;
  static datagram(
    target?: string | UnixDatagramOptions, options?: Omit<UnixDatagramOptions, 'path' | 'abstract'>,
  ): UnixSocket {
    const opts = addressAndOptions<UnixDatagramOptions>(target, options);
    const address = parseAddress(opts, 'options', false);
    const { mode = 0o600 } = opts;
    validateMode(mode);
    const label = address?.label ?? null;
    return bindNew('dgram', address, mode, (fd, file) => new UnixSocket(INTERNAL, fd, 'dgram', label, file));
  }

  /**
   * A listening socket for `'stream'` (the default) or `'seqpacket'`
   * connections at `path` or `abstract`. A path's socket file is created with
   * `mode` (default `0o600`) and removed by `close()`; a stale file from a
   * process that is gone makes this fail with `EADDRINUSE`.
   *
   * The address may come first as a string, as `server.listen(path)` takes
   * it: `listen('/tmp/jobs.sock', { type: 'seqpacket' })`; `'\0name'` is an
   * abstract name.
   */
  static listen(address: string, options?: Omit<UnixListenOptions, 'path' | 'abstract'>): UnixSocketServer;
  static listen(options: UnixListenOptions): UnixSocketServer;
  static listen(
    target: string | UnixListenOptions, options?: Omit<UnixListenOptions, 'path' | 'abstract'>,
  ): UnixSocketServer {
    return listen(target, options, adopt);
  }

  /**
   * Connects to a listening socket (`'stream'`, the default, or
   * `'seqpacket'`), or sets a datagram socket's peer (`'dgram'`: `send` needs
   * no `to`, and only that peer's messages are received). When the listener's
   * backlog is full this waits for room; the kernel has no readiness event for
   * that, so this one wait retries on a timer (1 ms, doubling up to 100 ms).
   *
   * The address may come first as a string, as `net.connect(path)` takes it:
   * `connect('/tmp/jobs.sock')`, `connect('/tmp/jobs.sock', { type: 'seqpacket' })`;
   * `'\0name'` is an abstract name.
   */
  static connect(address: string, options?: Omit<UnixConnectOptions, 'path' | 'abstract'>): Promise<UnixSocket>;
  static connect(options: UnixConnectOptions): Promise<UnixSocket>;
  static connect(
    target: string | UnixConnectOptions, options?: Omit<UnixConnectOptions, 'path' | 'abstract'>,
  ): Promise<UnixSocket> {
    let address: Address;
    let type: UnixSocketType;
    let wait: WaitOptions;
    try {
      const opts = addressAndOptions<UnixConnectOptions>(target, options);
      address = parseAddress(opts, 'options', true)!;
      type = validateType<UnixSocketType>(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket', 'dgram']);
      wait = waitOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return UnixSocket.#connect(address, type, wait);
  }

  static async #connect(address: Address, type: UnixSocketType, wait: WaitOptions): Promise<UnixSocket> {
    if (wait.signal?.aborted) throw abortError(wait.signal);
    const fd = check(binding.socketCreate(TYPES[type]), 'socket', address.label);
    try {
      // While the listener's backlog is full there is nothing to poll for.
      await retryUntil(() => {
        const r = binding.socketConnect(fd, address.bytes);
        return r === -EAGAIN ? AGAIN : check(r, 'connect', address.label);
      }, 100, wait, () => timedOut('connect', address.label, wait.timeoutMs!));
      return new UnixSocket(INTERNAL, fd, type, address.label, null);
    } catch (err) {
      binding.close(fd);
      throw err;
    }
  }

  /**
   * Its type, for a child to check (lib/internal/share.ts); undefined for
   * anything that is not a UnixSocket.
   * @internal
   */
  static shareState(value: unknown): { type: UnixSocketType } | undefined {
    return typeof value === 'object' && value !== null && #type in value ? { type: value.#type } : undefined;
  }

  /**
   * Takes ownership of a Unix-domain socket descriptor this process received
   * (from a message's `fds`, or inherited, e.g. `fromFd(3)`). It becomes
   * close-on-exec and `close()` closes it. It is not switched to non-blocking
   * (its open file description may be shared with other processes): every
   * call passes MSG_DONTWAIT instead. Listening sockets are refused.
   */
  static fromFd(fd: number): UnixSocket {
    validateAdoptable(fd);
    const info = new Int32Array(3);
    const r = binding.socketInfo(fd, info);
    if (r === -ENOTSOCK) throw invalidArgValue('fd', fd, 'is not a socket');
    check(r, 'getsockopt');
    const [domain, kind, listening] = info;
    if (domain !== AF_UNIX) throw invalidArgValue('fd', fd, 'is not a Unix-domain socket');
    const type = (Object.keys(TYPES) as UnixSocketType[]).find((t) => TYPES[t] === kind);
    if (type === undefined) throw invalidArgValue('fd', fd, `has an unsupported socket type (${kind})`);
    if (listening) throw invalidArgValue('fd', fd, 'is a listening socket');
    const label = labelOfFd(fd);
    check(binding.adoptFd(fd), 'fcntl', label);
    try {
      return new UnixSocket(INTERNAL, fd, type, label, null);
    } catch (err) {
      binding.releaseFd(fd);
      throw err;
    }
  }

  /**
   * Passes descriptors over a plain `net.Socket` connected through a Unix
   * stream socket (e.g. from `net.createServer().listen(path)`), with `data`
   * (default: one NUL byte; a stream carries descriptors with at least one
   * byte). Writes queued on the socket go first, and the message is never
   * interleaved with any write: it waits until Node and libuv hold no bytes
   * for the socket, then corks the socket until the message is out (later
   * writes wait behind it). Writes made while the queue drains may go before
   * it, so await it before writing what must follow. Calls on one socket go
   * out in call order. Waits for room without blocking.
   *
   * Receiving descriptors on a `net.Socket` is not offered: libuv reads the
   * socket on its own with read(2), and the kernel closes any descriptors a
   * plain read meets. Receive them on a {@link UnixSocket} (e.g. connected
   * with `UnixSocket.connect`), then call {@link UnixSocket.stream}.
   */
  static sendFds(
    socket: Socket, fds: readonly number[], data?: string | ArrayBufferView, options?: UnixSocketWaitOptions,
  ): Promise<void> {
    return sendFds(socket, fds, data, options, (fd, label) => adopt(fd, 'stream', label));
  }

  /** `'stream'`, `'seqpacket'` or `'dgram'`. */
  get type(): UnixSocketType {
    return this.#type;
  }

  /** Whether a receive saw the end of the stream (connection-oriented sockets: the peer closed or shut down). */
  get ended(): boolean {
    return this.#receiver.ended;
  }

  /**
   * The address this socket is bound to (`getsockname`), or null when unnamed.
   * A seqpacket socket that has received turns SO_PASSCRED on for good (see
   * {@link UnixSocket.receive}); if it then sends while unnamed, the kernel
   * binds it to an abstract address of five hex digits (unix(7), autobind),
   * which this shows and its peer's `remoteAddress` too.
   */
  get address(): UnixAddress | null {
    return addressOf(this.openFd, false) ?? null;
  }

  /** The peer's address (`getpeername`), or null when it is unnamed or there is none. */
  get remoteAddress(): UnixAddress | null {
    return addressOf(this.openFd, true) ?? null;
  }

  /**
   * The peer's `{ pid, uid, gid }` (`SO_PEERCRED`), as they were when it
   * connected: on stream and seqpacket connections and on `socketPair()`
   * sockets of any type. `ENOTCONN` otherwise (including datagram sockets
   * connected with `connect`, for which the kernel records none).
   */
  get peerCredentials(): PeerCredentials {
    const out = new Int32Array(3);
    check(binding.socketPeerCredentials(this.openFd, out), 'getsockopt', this.#label);
    if (out[0] === 0 && out[1] === -1) {
      throw new IpcError(-ENOTCONN, 'getsockopt', this.#label,
        'socket has no peer credentials (SO_PEERCRED): it is not connected, ' +
        'or is a datagram socket not made by socketPair()');
    }
    return { pid: out[0], uid: out[1] >>> 0, gid: out[2] >>> 0 };
  }

  /**
   * The send buffer's size (`SO_SNDBUF`). A datagram or seqpacket message can
   * be at most this minus 32 bytes (`EMSGSIZE` beyond).
   */
  get sendBufferSize(): number {
    return check(binding.socketSendBufferSize(this.openFd, 0), 'getsockopt', this.#label);
  }

  /**
   * Sets `SO_SNDBUF`, e.g. for larger datagrams. The kernel doubles the value
   * (for its bookkeeping) and caps it at net.core.wmem_max; `sendBufferSize`
   * says what it became.
   */
  setSendBufferSize(bytes: number): void {
    const fd = this.openFd;
    validateInteger(bytes, 'bytes', 1, 2 ** 30);
    check(binding.socketSendBufferSize(fd, bytes), 'setsockopt', this.#label);
  }

  /**
   * Sends one message (datagram, seqpacket) or all of `data` (stream), with
   * `fds` if given, waiting for room without blocking the event loop: sends
   * leave in the order they were made. A datagram socket that is not
   * connected needs `to`. The data is copied when the send has to wait, so it
   * may be reused at once.
   *
   * On a stream socket, descriptors need at least one byte of data to travel
   * with, and a send given up (signal, timeout) after part of it went out
   * leaves the stream cut in the middle of it.
   */
  send(data: string | ArrayBufferView, options?: UnixSendOptions): Promise<void> {
    let job: SendJob;
    try {
      this.assertOpen();
      job = sendJob(this.#type, data, options, true);
    } catch (err) {
      return Promise.reject(err);
    }
    if (job.bytes.byteLength === 0 && job.fds === null && this.#type === 'stream') return Promise.resolve();
    return this.#sends.queue(job);
  }

  /**
   * Sends one message if there is room now: `false` when the socket (or a
   * datagram's receiver) is full. Datagram and seqpacket sockets only (a
   * stream could take part of the data).
   */
  trySend(data: string | ArrayBufferView, options?: Omit<UnixSendOptions, 'signal' | 'timeoutMs'>): boolean {
    this.assertOpen();
    const job = sendJob(this.#type, data, options, false);
    if (this.#type === 'stream') {
      throw stateError(
        'ERR_IPC_SOCKET_TYPE',
        'trySend() is for datagram and seqpacket sockets (a stream may take part of the data): use send()',
      );
    }
    return this.#sends.attempt(job) === 'done';
  }

  /**
   * Sends as {@link UnixSocket.send} does (one whole message on datagram and
   * seqpacket sockets, all of `data` on a stream, `fds` if given), blocking
   * this thread until there is room: for dedicated processes and scripts.
   * Throws `ETIMEDOUT` (`syscall: 'sendmsg'`) after `timeoutMs`, counted once
   * from the call: signals and spurious wake-ups do not extend it. On a
   * stream socket, a send that times out after part of it went leaves the
   * stream cut in the middle of it.
   *
   * Throws `ERR_IPC_BUSY` while a `send()` is pending on this socket: sends
   * leave in the order they were made, and this one would overtake it.
   */
  sendSync(data: string | ArrayBufferView, options?: UnixSendSyncOptions): void {
    const opts = validateOptions(options);
    this.assertOpen();
    const job = sendJob(this.#type, data, { to: opts.to, fds: opts.fds }, false);
    const timeoutMs = syncTimeout(opts);
    this.#sends.assertIdle('sendSync');
    if (job.bytes.byteLength === 0 && job.fds === null && this.#type === 'stream') return;
    this.#sends.sendSync(job, timeoutMs);
  }

  /**
   * Sends several messages with one sendmmsg(2) call per 1024 of them, in
   * order, waiting for room without blocking the event loop: for datagram
   * and seqpacket sockets (each entry is one message), never streams. An
   * entry is the data (`string`, `Buffer`, any view) or `{ data, fds }` to
   * pass descriptors with that message. All go to `options.to` (or the
   * peer). Resolves when all have gone; the messages still to go are copied
   * when it has to wait, so the buffers may be reused at once. It queues
   * with `send()` calls, in call order.
   *
   * On failure, the messages before the failing one have gone: the error's
   * `sent` says how many.
   */
  sendMany(messages: readonly UnixOutgoingMessage[], options?: Omit<UnixSendOptions, 'fds'>): Promise<void> {
    let job: SendJob;
    try {
      this.assertOpen();
      job = sendManyJob(this.#type, messages, options, true, 'sendMany');
    } catch (err) {
      return Promise.reject(err);
    }
    if (job.batch!.datas.length === 0) return Promise.resolve();
    return this.#sends.queue(job);
  }

  /**
   * Sends as many of `messages` as there is room for now, in order (see
   * {@link UnixSocket.sendMany}), and returns how many went: 0 when the
   * socket (or a datagram's receiver) is full.
   */
  trySendMany(
    messages: readonly UnixOutgoingMessage[], options?: Omit<UnixSendOptions, 'fds' | 'signal' | 'timeoutMs'>,
  ): number {
    this.assertOpen();
    const job = sendManyJob(this.#type, messages, options, false, 'trySendMany');
    if (job.batch!.datas.length > 0) this.#sends.attempt(job);
    return job.batch!.sent;
  }

  /**
   * Sends as {@link UnixSocket.sendMany} does, blocking this thread until all
   * have gone: for dedicated processes and scripts. Throws `ETIMEDOUT`
   * (`syscall: 'sendmmsg'`, with `sent`) after `timeoutMs`, counted once from
   * the call. Throws `ERR_IPC_BUSY` while a `send()` is pending.
   */
  sendManySync(messages: readonly UnixOutgoingMessage[], options?: Omit<UnixSendSyncOptions, 'fds'>): void {
    const opts = validateOptions(options);
    this.assertOpen();
    const job = sendManyJob(this.#type, messages, { to: opts.to }, false, 'sendManySync');
    const timeoutMs = syncTimeout(opts);
    this.#sends.assertIdle('sendManySync');
    this.#sends.sendManySync(job, timeoutMs);
  }

  /**
   * Receives one message (stream: the next chunk, with the descriptors sent
   * with it), waiting without blocking the event loop. Resolves `null` at the
   * end of the stream (stream and seqpacket sockets whose peer closed).
   *
   * On datagram and seqpacket sockets a message of up to 4 KiB is copied into
   * a 64 KiB pool shared by this thread's sockets, as `Buffer.allocUnsafe()`
   * ones are into Node's: its Buffer stays valid and is never written again,
   * and keeps the whole pool alive while it is kept. Longer messages and
   * stream chunks get a Buffer of their own. The same holds for
   * {@link UnixSocket.tryReceive}, {@link UnixSocket.receiveSync} and `for await`.
   *
   * A message whose descriptors the kernel could not all install (MSG_CTRUNC,
   * e.g. at the RLIMIT_NOFILE limit) or whose bytes were cut short (MSG_TRUNC)
   * rejects with `ERR_IPC_TRUNCATED`; descriptors that did arrive with it are
   * closed, and its bytes are on the error's `data`.
   *
   * On a seqpacket socket an empty message and the end of the stream both
   * read as 0 bytes; the kernel tells them apart only by the credentials it
   * attaches to every message for a socket with SO_PASSCRED. So the first
   * receive of each handle on a seqpacket socket turns SO_PASSCRED on, for
   * good (turned off again, a receiver sharing the socket could read the end
   * while its peer is open): a socket that sends unnamed afterwards is
   * autobound to an abstract {@link UnixSocket.address}.
   */
  receive(options?: UnixSocketWaitOptions): Promise<UnixMessage | null> {
    return this.#receiver.whenReadable(options, 'recvmsg', () => () => this.#receiver.take());
  }

  /**
   * Receives one message as {@link UnixSocket.receive} does (whole messages,
   * descriptors close-on-exec, `ERR_IPC_TRUNCATED`, `null` at the end of the
   * stream), blocking this thread until one is there: for dedicated processes
   * and scripts (a Worker that blocks holds up only itself). Throws
   * `ETIMEDOUT` (`syscall: 'recvmsg'`) after `timeoutMs`, counted once from
   * the call: signals and spurious wake-ups do not extend it.
   *
   * Throws `ERR_IPC_BUSY` while a `receive()` (or a `messages()` loop) is
   * pending on this socket: it would take the message that one waits for.
   */
  receiveSync(options?: UnixSocketSyncOptions): UnixMessage | null {
    const message = this.#receiver.take(this.#receiver.syncTimeout(options, 'receiveSync'));
    return message === AGAIN ? null : message;
  }

  /**
   * Receives a message if one is there now; `null` when none is (or at the
   * end of the stream: see {@link UnixSocket.ended}).
   */
  tryReceive(): UnixMessage | null {
    const message = this.#receiver.take();
    return message === AGAIN ? null : message;
  }

  /**
   * Receives the next message (stream: the next bytes, up to its length)
   * straight into `buffer`, waiting without blocking the event loop, and
   * resolves with its length: nothing is allocated. Resolves `null` at the
   * end of the stream. It takes no descriptors and tells no sender: use
   * `receive()` for those.
   *
   * Rejects with `ERR_IPC_TRUNCATED` when a message did not fit (MSG_TRUNC:
   * the rest of it is lost; `err.data` is the part in `buffer`), or came with
   * descriptors (MSG_CTRUNC: they were closed; `err.data` is the message).
   */
  receiveInto(buffer: ArrayBufferView, options?: UnixSocketWaitOptions): Promise<number | null> {
    return this.#receiver.whenReadable(options, 'recvmsg', () => {
      const target = validateTarget(buffer);
      // Checked again at each attempt when it reads empty: `buffer` may have been detached while the receive waited.
      return () => this.#receiver.takeInto(byteLengthOf(target) === 0 ? validateTarget(buffer) : target, null);
    });
  }

  /**
   * {@link UnixSocket.receiveInto} if a message is there now: its length, or `null` (none now, or the end of the
   * stream).
   */
  tryReceiveInto(buffer: ArrayBufferView): number | null {
    this.assertOpen();
    const r = this.#receiver.takeInto(validateTarget(buffer), null);
    return r === AGAIN ? null : r;
  }

  /**
   * {@link UnixSocket.receiveInto}, blocking this thread as
   * {@link UnixSocket.receiveSync} does (`timeoutMs`, `ERR_IPC_BUSY`).
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: UnixSocketSyncOptions): number | null {
    // The options first: a getter there may detach `buffer`, which is checked after.
    const timeoutMs = this.#receiver.syncTimeout(options, 'receiveIntoSync');
    const r = this.#receiver.takeInto(validateTarget(buffer), timeoutMs);
    return r === AGAIN ? null : r;
  }

  /**
   * Receives up to `max` (at most 1024) messages with one recvmmsg(2) call,
   * waiting without blocking the event loop until there is at least one:
   * datagram and seqpacket sockets. Each is a {@link UnixMessage} with its
   * own `fds` and (datagram) `from`; their `data` are views of one Buffer
   * per batch. Resolves `null` at the end of the stream (seqpacket; the
   * messages before it come first, and `ended` becomes true).
   *
   * Each message gets `options.messageSize` bytes of room (default 65536). A
   * longer one, or one whose descriptors the kernel could not install,
   * rejects with `ERR_IPC_TRUNCATED` once the batch is in: `err.data` holds
   * the first such message's bytes (its descriptors closed), `err.messages`
   * the batch's whole messages, in order (their descriptors are yours).
   */
  receiveMany(max: number, options?: UnixReceiveManyOptions): Promise<UnixMessage[] | null> {
    return this.#receiver.whenReadable(options, 'recvmmsg', () => {
      const batch = this.#receiver.batchOf(max, validateOptions(options), 'receiveMany');
      return () => this.#receiver.takeMany(batch, null);
    });
  }

  /**
   * {@link UnixSocket.receiveMany} of what is there now: `[]` when nothing is (or at the end of the stream: see
   * `ended`).
   */
  tryReceiveMany(max: number, options?: Pick<UnixReceiveManyOptions, 'messageSize'>): UnixMessage[] {
    const receiver = this.#receiver;
    const r = receiver.takeMany(receiver.batchOf(max, validateOptions(options), 'tryReceiveMany'), null);
    return r === AGAIN || r === null ? [] : r;
  }

  /**
   * {@link UnixSocket.receiveMany}, blocking this thread until at least one
   * message is there, as {@link UnixSocket.receiveSync} does (`timeoutMs`,
   * `ERR_IPC_BUSY`); `null` at the end of the stream.
   */
  receiveManySync(max: number, options?: UnixReceiveManySyncOptions): UnixMessage[] | null {
    const opts = validateOptions(options);
    const batch = this.#receiver.batchOf(max, opts, 'receiveManySync');
    const r = this.#receiver.takeMany(batch, this.#receiver.syncTimeout(opts, 'receiveManySync'));
    return r === AGAIN ? null : r;
  }

  /**
   * The messages as they arrive, until the end of the stream or `close()`
   * (the iteration ends), or until `signal` aborts (it throws an `AbortError`).
   */
  async *messages(options?: { signal?: AbortSignal }): AsyncGenerator<UnixMessage, void, undefined> {
    for (;;) {
      let message: UnixMessage | null;
      try {
        message = await this.receive(options);
      } catch (err) {
        if ((err as CodedError).code === 'ERR_IPC_CLOSED') return;
        throw err;
      }
      if (message === null) return;
      yield message;
    }
  }

  /** `for await (const { data, fds } of socket)`: see {@link UnixSocket.messages}. */
  [Symbol.asyncIterator](): AsyncGenerator<UnixMessage, void, undefined> {
    return this.messages();
  }

  /**
   * Hands a connected stream socket to a `net.Socket` (Node's stream
   * semantics and backpressure); this handle is closed, and the `net.Socket`
   * owns the descriptor from then on. Descriptors that arrive after this are
   * lost (libuv reads with read(2), and the kernel closes them), so exchange
   * them first.
   */
  stream(): Socket {
    this.assertOpen();
    if (this.#type !== 'stream') {
      throw stateError('ERR_IPC_SOCKET_TYPE', `stream() needs a stream socket; this one is ${this.#type}`);
    }
    if (this.#sends.pending > 0) {
      throw stateError('ERR_IPC_BUSY', 'stream() with a send still pending would cut it: await it first');
    }
    return this.toSocket({ readable: true, writable: true });
  }

  /**
   * Closes the socket; pending sends and receives reject with
   * `ERR_IPC_CLOSED`. A socket file this object bound is removed. Idempotent.
   */
  override close(): void {
    super.close();
  }

  protected override onClose(): void {
    this.#sends.close();
    removeFile(this.#file);
    this.#file = null;
  }

  /**
   * `UnixSocket { type: 'seqpacket', address: '/tmp/jobs.sock', fd: 21, ended: false, ref: true, closed: false }`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('UnixSocket', {
      type: this.#type, address: this.#label, fd: this.fd, ended: this.#receiver.ended, ref: this.loopRef.ref,
      closed: this.closed,
    }, depth, options);
  }

}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface UnixSocket extends Referable {}

/**
 * Two connected sockets (`socketpair(2)`, close-on-exec): a two-way pipe of
 * `'stream'` (the default), `'seqpacket'` or `'dgram'` type. Either end can be
 * passed to a child process (`spawn(cmd, args, { fds: { 3: b } })`, then
 * `UnixSocket.fromFd(3)` there) or over another socket.
 */
export function socketPair(options?: SocketPairOptions): [UnixSocket, UnixSocket] {
  const opts = validateOptions(options);
  const type = validateType<UnixSocketType>(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket', 'dgram']);
  const out = new Int32Array(2);
  check(binding.socketPair(TYPES[type], out), 'socketpair');
  let first: UnixSocket;
  try {
    first = adopt(out[0], type, null);
  } catch (err) {
    binding.close(out[1]);
    throw err;
  }
  try {
    return [first, adopt(out[1], type, null)];
  } catch (err) {
    first.close();
    throw err;
  }
}

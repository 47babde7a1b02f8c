/**
 * Unix-domain sockets (`unix(7)`) beyond what `net` offers: datagram and
 * sequenced-packet sockets that keep message boundaries, names in Linux's
 * abstract namespace, descriptor passing (`SCM_RIGHTS`) and peer credentials
 * (`SO_PEERCRED`), between any processes.
 * @packageDocumentation
 */
import { once } from 'node:events';
import { types, type InspectOptionsStylized } from 'node:util';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { binding } from './binding';
import {
  AbortError, check, closedError, invalidArgType, invalidArgValue, IpcError, stateError, type CodedError,
} from './errors';
import {
  identityOfPath, OwnedDescriptor, unlinkIfSame, validateAdoptable, type FileIdentity,
} from './internal/descriptor';
import { procNumber, softLimit } from './internal/limits';
import { retryUntil } from './internal/retry';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { AGAIN, Poller } from './internal/poller';
import { Cancel } from './internal/cancel';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import { POOLED_MAX, ReceivePool } from './internal/buffer-pool';
import {
  readArray, toBytes, viewBytes, validateFd, validateInteger, validateMode, validateOptions,
} from './internal/validate';
import { INTERNAL, type Internal } from './internal/construct';

const { EADDRINUSE, EAGAIN, EMSGSIZE, ENOTCONN, ENOTSOCK, ETIMEDOUT } = osConstants.errno;
/** Not in Node's errno table; its Linux value (asm-generic/errno.h). */
const ETOOMANYREFS = 109;
const {
  AF_UNIX, SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SCM_MAX_FD, MSG_TRUNC, MSG_CTRUNC, SOCKET_BATCH_MAX, UV_READABLE,
  UV_WRITABLE,
} = binding;

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
export interface UnixSocketWaitOptions {
  /** Gives up with an `AbortError`. */
  signal?: AbortSignal;
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

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
export interface UnixSocketSyncOptions {
  /** Gives up with `ETIMEDOUT` after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

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

/** Options of {@link UnixSocket.listen}. */
export interface UnixListenOptions {
  path?: string;
  abstract?: string;
  /** Default `'stream'`. */
  type?: 'stream' | 'seqpacket';
  /** Connections the kernel queues before `accept`. Default 511 (capped at net.core.somaxconn). */
  backlog?: number;
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

const TYPES: Record<UnixSocketType, number> = { stream: SOCK_STREAM, seqpacket: SOCK_SEQPACKET, dgram: SOCK_DGRAM };

/** sun_path holds 108 bytes: a path and its NUL, or a NUL and an abstract name. */
const MAX_ADDRESS_BYTES = 107;

/** An address as the binding wants it, and as errors name it. */
interface Address {
  /** The bytes of sun_path: the path, or a NUL and the abstract name. */
  bytes: Buffer;
  /** `'/tmp/s'`, or `'@name'` for an abstract name (as ss(8) shows it). */
  label: string;
  /** The path when it names a file. */
  file: string | null;
}

function validateType(value: unknown, name: string, allowed: readonly UnixSocketType[]): UnixSocketType {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(
      name, value, `must be ${allowed.map((t) => `'${t}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`,
    );
  }
  return value as UnixSocketType;
}

/**
 * `net`'s string form of an address, as `net.connect(path)` and
 * `server.listen(path)` take it: a path, or `'\0name'` for a name in the
 * abstract namespace (a leading NUL, as in sun_path).
 */
function fromString(address: string): { path?: string; abstract?: string } {
  return address.startsWith('\0') ? { abstract: address.slice(1) } : { path: address };
}

/**
 * The options of a call that takes its address first, as a string
 * (`connect('/tmp/s')`, options after it) or inside the options object
 * (`connect({ path: '/tmp/s' })`, nothing after it); read once.
 */
function addressAndOptions<T extends { path?: string; abstract?: string }>(
  target: unknown, options: unknown,
): Partial<T> {
  if (typeof target !== 'string') {
    if (options !== undefined) {
      throw invalidArgValue('options', options, 'is only taken after an address given as a string');
    }
    return validateOptions(target as T | undefined);
  }
  const opts = validateOptions(options as T | undefined);
  if (opts.path !== undefined || opts.abstract !== undefined) {
    throw invalidArgValue('options', options, 'must not set path or abstract when the address is given as a string');
  }
  return { ...opts, ...fromString(target) } as Partial<T>;
}

/** `{ path }` or `{ abstract }` to an Address; null when neither is set and none is required. */
function parseAddress(
  options: { path?: unknown; abstract?: unknown }, name: string, required: boolean,
): Address | null {
  const { path, abstract } = options;
  if (path !== undefined && abstract !== undefined) {
    throw invalidArgValue(name, options, 'must set only one of path and abstract');
  }
  if (path === undefined && abstract === undefined) {
    if (required) throw invalidArgValue(name, options, 'must set path or abstract');
    return null;
  }
  const isPath = path !== undefined;
  const value = isPath ? path : abstract;
  const field = `${name}.${isPath ? 'path' : 'abstract'}`;
  if (typeof value !== 'string') throw invalidArgType(field, 'of type string', value);
  const bytes = Buffer.from(value);
  const why =
    bytes.length === 0 ? 'must not be empty' :
    bytes.length > MAX_ADDRESS_BYTES ? `must be at most ${MAX_ADDRESS_BYTES} bytes (sun_path holds 108, ${isPath ? 'with the terminating NUL' : 'with the leading NUL'})` :
    isPath && bytes.includes(0) ? 'must not contain NUL characters' :
    null;
  if (why !== null) throw invalidArgValue(field, value, why);
  return isPath
    ? { bytes, label: value, file: value }
    : { bytes: Buffer.concat([Buffer.alloc(1), bytes]), label: `@${value}`, file: null };
}

/** A `to` option: `{ path }`, `{ abstract }`, or a string (see fromString). */
function parseDestination(value: unknown, name: string): Address {
  if (typeof value === 'string') return parseAddress(fromString(value), name, true)!;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type string or object', value);
  return parseAddress(validateOptions(value as { path?: unknown; abstract?: unknown }, name), name, true)!;
}

/** sun_path bytes from the kernel to a public address; undefined for an unnamed socket. */
function decodeAddress(bytes: Uint8Array, length: number): UnixAddress | undefined {
  if (length === 0) return undefined;
  if (bytes[0] === 0) return { abstract: Buffer.from(bytes.buffer, bytes.byteOffset + 1, length - 1).toString() };
  const end = bytes.subarray(0, length).indexOf(0);
  return { path: Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? length : end).toString() };
}

function labelOf(address: UnixAddress | undefined | null): string | null {
  if (!address) return null;
  return address.path ?? `@${address.abstract}`;
}


function validateFds(value: unknown, name: string): Int32Array | null {
  if (value === undefined) return null;
  const fds = readArray(value, name);
  if (fds.length > SCM_MAX_FD) {
    throw invalidArgValue(
      name, `${fds.length} descriptors`,
      `must hold at most ${SCM_MAX_FD} descriptors (SCM_MAX_FD, the kernel's limit per message)`, true,
    );
  }
  fds.forEach((fd, i) => validateFd(fd, `${name}[${i}]`));
  return fds.length === 0 ? null : Int32Array.from(fds as number[]);
}

/**
 * sendMany's messages as the binding takes them, every one validated before
 * any syscall: a batch with one message refused sends nothing. Each entry's
 * bytes are a view the engine describes (toBytes), never the caller's object.
 */
function validateMessages(value: unknown, name: string): SendBatch {
  const messages = readArray(value, name);
  const datas: Uint8Array[] = [];
  let fds: (Int32Array | null)[] | null = null;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (typeof message === 'string' || types.isArrayBufferView(message) || types.isProxy(message)) {
      datas.push(toBytes(message, `${name}[${i}]`));
    } else if (message !== null && typeof message === 'object') {
      const { data, fds: own } = validateOptions(message as { data?: unknown; fds?: unknown }, `${name}[${i}]`);
      datas.push(toBytes(data, `${name}[${i}].data`));
      const descriptors = validateFds(own, `${name}[${i}].fds`);
      if (descriptors !== null) {
        fds ??= new Array<Int32Array | null>(messages.length).fill(null);
        fds[i] = descriptors;
      }
    } else {
      throw invalidArgType(
        `${name}[${i}]`, 'of type string or object, or an instance of Buffer, TypedArray or DataView', message,
      );
    }
  }
  return { datas, fds, sent: 0 };
}

/** `receiveMany`'s batch size and per-message room, validated before any syscall. */
function validateBatch(max: unknown, options: { messageSize?: unknown }): { max: number; messageSize: number } {
  validateInteger(max, 'max', 1, SOCKET_BATCH_MAX);
  const { messageSize = 65536 } = options;
  validateInteger(messageSize, 'options.messageSize', 1, 2 ** 31 - 1);
  if (max * messageSize > MAX_BATCH_BYTES) {
    throw invalidArgValue(
      'options.messageSize', messageSize,
      `times max (${max}) must be at most ${MAX_BATCH_BYTES} bytes (the room one batch takes)`, true,
    );
  }
  return { max, messageSize };
}

/** The view a receiveInto call fills: any ArrayBufferView, at least one byte. */
function validateTarget(value: unknown): Uint8Array {
  const bytes = viewBytes(value, 'buffer');
  if (bytes.byteLength === 0) throw invalidArgValue('buffer', value, 'must have room for at least one byte', true);
  // A Buffer over the bytes the engine says the view has (what an error's `data` shows).
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * `ERR_IPC_TRUNCATED` for a message cut short (MSG_TRUNC) or whose
 * descriptors were dropped (MSG_CTRUNC): `why` says which, `data` what came.
 */
function truncated(why: string, label: string | null, syscall: string, data: Uint8Array): Error {
  return Object.assign(
    stateError('ERR_IPC_TRUNCATED', `${why}${label === null ? '' : `, ${syscall} '${label}'`}`), { data },
  );
}

/** Why descriptors were dropped (MSG_CTRUNC) when there was room for them all. */
function descriptorsDropped(installed: number): string {
  return `descriptors sent with a message were dropped (MSG_CTRUNC): the kernel could not install them all, most likely because this process reached RLIMIT_NOFILE (${softLimit('Max open files')}); the ${installed} it did install were closed`;
}

/**
 * This process's umask from /proc/self/status (reading it with umask(2) would change it for a moment); -1 if unknown.
 */
function currentUmask(): number {
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? parseInt(match[1], 8) : -1;
  } catch {
    return -1;
  }
}

/**
 * Binds `fd`. A socket file gets `mode` exactly: the kernel creates it with
 * the mode set on the socket beforehand, less the umask (so never more open
 * than asked), and only when the umask took some of the asked bits is the
 * file chmod'ed to the rest. Bound, or nothing left behind: a file whose
 * chmod failed is removed again.
 */
/** A socket file we bound, and which file it was, so close() removes only that one. */
type BoundFile = { readonly path: string; readonly identity: FileIdentity | null };

/**
 * Binds fd to `address` (a path's file with exactly `mode`); returns the
 * socket file made, or null for an abstract name (no file).
 */
function bindTo(fd: number, address: Address, mode: number): BoundFile | null {
  const r = binding.socketBind(fd, address.bytes, address.file === null ? -1 : mode);
  if (r === -EADDRINUSE && address.file !== null) {
    throw new IpcError(
      r, 'bind', address.label, 'address already in use (a file exists there: if no process uses it, remove it first)',
    );
  }
  check(r, 'bind', address.label);
  if (address.file === null) return null;
  // Recorded at once: fstat of a socket describes the socket, not its file.
  const bound = { path: address.file, identity: identityOfPath(address.file, (st) => st.isSocket()) };
  const umask = currentUmask();
  if (umask !== -1 && (mode & umask) === 0) return bound;
  const chmod = binding.socketChmodPath(address.bytes, mode);
  if (chmod < 0) removeFile(bound);
  check(chmod, 'chmod', address.label);
  return bound;
}

/** Removes a socket file we bound, if its path still names it (see unlinkIfSame). */
function removeFile(file: BoundFile | null): void {
  if (file !== null) unlinkIfSame(file.path, file.identity);
}

/** What one sendmsg attempt of a queued send came to. */
type SendState = 'done' | 'full' | 'peer-full';

/** The messages of a sendMany, and how many of them went. */
interface SendBatch {
  datas: Uint8Array[];
  /** Each message's descriptors; null when none has any. */
  fds: (Int32Array | null)[] | null;
  sent: number;
}

/** A send, and while it waits, its turn (sends leave in the order they were made). */
interface SendJob {
  /** One message (send); empty for a batch. */
  bytes: Uint8Array;
  /** null once sent (a stream send that went out in parts). */
  fds: Int32Array | null;
  /** sendMany's messages; null for one message. */
  batch: SendBatch | null;
  to: Address | null;
  wait: WaitOptions;
  /** Whether what is still to go is this job's own copy. */
  copied: boolean;
  state: SendState;
  /** Made once the send has to wait. */
  cancel: Cancel | null;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

// Scratch space for receiving: JavaScript is single-threaded per environment,
// and each Worker loads its own copy of this module.
const receiveMeta = new Int32Array(5);
const receiveFds = new Int32Array(SCM_MAX_FD);
const receiveAddress = new Uint8Array(108);
/**
 * Where a message lands first, as large as any a sender can make; made on
 * first use (its pages are touched only as far as messages reach).
 */
let messageScratch: Buffer | null = null;
/**
 * Where the copying receives of message sockets put messages of up to
 * POOLED_MAX bytes (the addon copies them there from the scratch), shared by
 * every socket of this thread, as Node's Buffer pool is.
 */
const receivePool = new ReceivePool();
/** Scratch of receiveMany, grown to the largest batch asked for. */
const batchScratch = { max: 0, meta: new Int32Array(0), fds: new Int32Array(0), addresses: new Uint8Array(0) };
/** The most bytes one receiveMany batch may take (max × messageSize). */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** What socketReceive and the others report per message, in order, in their meta. */
const META_FIELDS = 5;

function batchScratchFor(max: number): typeof batchScratch {
  if (batchScratch.max < max) {
    batchScratch.max = max;
    batchScratch.meta = new Int32Array(1 + max * META_FIELDS);
    batchScratch.fds = new Int32Array(max * SCM_MAX_FD);
    batchScratch.addresses = new Uint8Array(max * 108);
  }
  return batchScratch;
}
const addressScratch = new Uint8Array(108);

const EMPTY = Buffer.alloc(0);
const NUL_BYTE = Buffer.alloc(1);

/** The first `length` bytes of `scratch`, as a Buffer of their own. */
function copyOut(scratch: Buffer, length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  scratch.copy(data, 0, 0, length);
  return data;
}

/** A send not yet tried. */
function newJob(
  bytes: Uint8Array, fds: Int32Array | null, batch: SendBatch | null, to: Address | null, wait: WaitOptions,
): SendJob {
  return {
    bytes, fds, batch, to, wait, copied: false, state: 'full', cancel: null, settled: false,
    resolve: () => {}, reject: () => {},
  };
}

/** A send that waits keeps its own copy of what is still to go: the caller may reuse its buffers at once. */
function keepCopy(job: SendJob): void {
  if (job.copied) return;
  job.copied = true;
  const { batch } = job;
  if (batch === null) {
    job.bytes = Uint8Array.prototype.slice.call(job.bytes);
    return;
  }
  for (let i = batch.sent; i < batch.datas.length; i++) {
    batch.datas[i] = Uint8Array.prototype.slice.call(batch.datas[i]);
  }
}

/**
 * What a send that met EAGAIN waits for: room in the socket ('full'), or, for
 * an unconnected datagram socket that has room itself, room in its receiver's
 * queue (net.unix.max_dgram_qlen; 'peer-full'): poll(2) on this socket cannot
 * wait for that receiver (it would report writable forever).
 */
function full(fd: number, job: SendJob): SendState {
  if (job.to !== null) {
    const revents = binding.pollNow(fd, binding.POLLOUT);
    if (revents > 0 && (revents & binding.POLLOUT) !== 0) return 'peer-full';
  }
  return 'full';
}

/** Makes a UnixSocket (its constructor is private to the module's own factories). */
let makeSocket: (fd: number, type: UnixSocketType, label: string | null, file: BoundFile | null) => UnixSocket;

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
  readonly #sends: SendJob[] = [];
  #pumping = false;
  /** Pollers of the helper sockets that wait for a full receiver (see #waitForReceiver). */
  readonly #helpers = new Set<Poller>();
  #ended = false;
  /** receive() calls not yet settled (receiveSync would jump their queue). */
  #receiving = 0;


  static {
    makeSocket = (fd, type, label, file) => new UnixSocket(INTERNAL, fd, type, label, file);
    implementRef(this, (self) => (#type in self ? (self as UnixSocket).loopRef : undefined));
  }

  private constructor(key: Internal, fd: number, type: UnixSocketType, label: string | null, file: BoundFile | null) {
    super(key, fd, { syscall: 'socket', label });
    this.#type = type;
    this.#label = label;
    this.#file = file;
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
    const fd = check(binding.socketCreate(SOCK_DGRAM), 'socket', address?.label);
    let file: BoundFile | null = null;
    try {
      if (address !== null) file = bindTo(fd, address, mode);
      return new UnixSocket(INTERNAL, fd, 'dgram', address?.label ?? null, file);
    } catch (err) {
      binding.close(fd);
      removeFile(file);
      throw err;
    }
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
    const opts = addressAndOptions<UnixListenOptions>(target, options);
    const address = parseAddress(opts, 'options', true)!;
    const { mode = 0o600, backlog = 511 } = opts;
    const type = validateType(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket']) as 'stream' | 'seqpacket';
    validateMode(mode);
    validateInteger(backlog, 'options.backlog', 0, 2 ** 31 - 1);
    const fd = check(binding.socketCreate(TYPES[type]), 'socket', address.label);
    let file: BoundFile | null = null;
    try {
      file = bindTo(fd, address, mode);
      check(binding.socketListen(fd, backlog), 'listen', address.label);
      return makeServer(fd, type, address, file);
    } catch (err) {
      binding.close(fd);
      removeFile(file);
      throw err;
    }
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
      type = validateType(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket', 'dgram']);
      wait = waitOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return UnixSocket.#connect(address, type, wait);
  }

  static async #connect(address: Address, type: UnixSocketType, wait: WaitOptions): Promise<UnixSocket> {
    if (wait.signal?.aborted) throw new AbortError({ cause: wait.signal.reason });
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
    const label = labelOf(addressOf(fd, true)) ?? labelOf(addressOf(fd, false));
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
    let descriptors: Int32Array;
    let bytes: Uint8Array;
    let wait: WaitOptions;
    try {
      if (!(socket instanceof Socket)) throw invalidArgType('socket', 'an instance of net.Socket', socket);
      const validated = validateFds(fds, 'fds');
      if (validated === null) throw invalidArgValue('fds', fds, 'must hold at least one descriptor');
      descriptors = validated;
      bytes = data === undefined ? NUL_BYTE : Uint8Array.prototype.slice.call(toBytes(data));
      if (bytes.byteLength === 0) {
        throw invalidArgValue('data', data, 'must not be empty (a stream carries descriptors with at least one byte)');
      }
      wait = waitOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    // One at a time per socket, in call order.
    const previous = fdSends.get(socket) ?? Promise.resolve();
    const cancel = new Cancel(wait, () => timedOut('sendmsg', null, wait.timeoutMs!));
    const result = cancel.race(previous)
      .then(() => UnixSocket.#sendOverNet(socket, descriptors, bytes, cancel))
      .catch((err) => Promise.reject(cancel.error(err)))
      .finally(() => cancel.dispose());
    fdSends.set(socket, result.then(() => undefined, () => undefined));
    return result;
  }

  static async #sendOverNet(socket: Socket, fds: Int32Array, bytes: Uint8Array, cancel: Cancel): Promise<void> {
    type Handle = { fd?: number; writeQueueSize?: number } | null | undefined;
    // Wait until neither Node nor libuv holds bytes for this socket: a
    // sendmsg in the middle of a partly written buffer would corrupt the stream.
    for (;;) {
      const handle = (socket as unknown as { _handle: Handle })._handle;
      if (socket.destroyed || !handle) throw closedError('net.Socket');
      if (socket.connecting) {
        await once(socket, 'connect', { signal: cancel.signal });
        continue;
      }
      if (socket.writableLength > 0 || (handle.writeQueueSize ?? 0) > 0) {
        const written = new Promise<void>((resolve, reject) =>
          socket.write(EMPTY, (err) => (err ? reject(err) : resolve())),
        );
        await cancel.race(written);
        continue;
      }
      const fd = handle.fd;
      if (typeof fd !== 'number' || fd < 0) {
        throw invalidArgValue('socket', socket, 'has no descriptor (not a Unix-domain stream socket?)');
      }
      const info = new Int32Array(3);
      check(binding.socketInfo(fd, info), 'getsockopt');
      if (info[0] !== AF_UNIX || info[1] !== SOCK_STREAM) {
        throw invalidArgValue('socket', socket, 'is not a Unix-domain stream socket');
      }
      break;
    }
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    // A second descriptor for the socket: uv_poll may watch it while the
    // net.Socket's own libuv handle watches the first.
    const label = labelOf(addressOf(fd, true)) ?? labelOf(addressOf(fd, false));
    const dup = check(binding.dupFd(fd), 'fcntl', label);
    let sidecar: UnixSocket;
    try {
      sidecar = new UnixSocket(INTERNAL, dup, 'stream', label, null);
    } catch (err) {
      binding.close(dup);
      throw err;
    }
    socket.cork();
    try {
      await sidecar.send(bytes, { fds: Array.from(fds), signal: cancel.signal });
    } finally {
      sidecar.close();
      socket.uncork();
    }
  }

  /** `'stream'`, `'seqpacket'` or `'dgram'`. */
  get type(): UnixSocketType {
    return this.#type;
  }

  /** Whether a receive saw the end of the stream (connection-oriented sockets: the peer closed or shut down). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The address this socket is bound to (`getsockname`), or null when unnamed. */
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
        'socket has no peer credentials (SO_PEERCRED): it is not connected, or is a datagram socket not made by socketPair()');
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
      job = this.#sendJob(data, options, true);
    } catch (err) {
      return Promise.reject(err);
    }
    if (job.bytes.byteLength === 0 && job.fds === null && this.#type === 'stream') return Promise.resolve();
    return this.#queue(job);
  }

  /**
   * Sends one message if there is room now: `false` when the socket (or a
   * datagram's receiver) is full. Datagram and seqpacket sockets only (a
   * stream could take part of the data).
   */
  trySend(data: string | ArrayBufferView, options?: Omit<UnixSendOptions, 'signal' | 'timeoutMs'>): boolean {
    const job = this.#sendJob(data, options, false);
    if (this.#type === 'stream') {
      throw stateError(
        'ERR_IPC_SOCKET_TYPE',
        'trySend() is for datagram and seqpacket sockets (a stream may take part of the data): use send()',
      );
    }
    return this.#attempt(job) === 'done';
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
    const job = this.#sendJob(data, { to: opts.to, fds: opts.fds }, false);
    const timeoutMs = syncTimeout(opts);
    this.#notSending('sendSync');
    if (job.bytes.byteLength === 0 && job.fds === null && this.#type === 'stream') return;
    const r = binding.socketSendSync(this.openFd, job.bytes, job.fds, job.to?.bytes ?? null, timeoutMs);
    if (r < 0) throw this.#sendError(r, job, timeoutMs);
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
      job = this.#sendManyJob(messages, options, true, 'sendMany');
    } catch (err) {
      return Promise.reject(err);
    }
    if (job.batch!.datas.length === 0) return Promise.resolve();
    return this.#queue(job);
  }

  /**
   * Sends as many of `messages` as there is room for now, in order (see
   * {@link UnixSocket.sendMany}), and returns how many went: 0 when the
   * socket (or a datagram's receiver) is full.
   */
  trySendMany(
    messages: readonly UnixOutgoingMessage[], options?: Omit<UnixSendOptions, 'fds' | 'signal' | 'timeoutMs'>,
  ): number {
    const job = this.#sendManyJob(messages, options, false, 'trySendMany');
    if (job.batch!.datas.length > 0) this.#attempt(job);
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
    const job = this.#sendManyJob(messages, { to: opts.to }, false, 'sendManySync');
    const timeoutMs = syncTimeout(opts);
    this.#notSending('sendManySync');
    const batch = job.batch!;
    const fd = this.openFd;
    // The binding waits at most for one chunk of SOCKET_BATCH_MAX messages.
    const deadline = timeoutMs < 0 ? -1 : performance.now() + timeoutMs;
    while (batch.sent < batch.datas.length) {
      const left = deadline < 0 ? -1 : Math.max(0, Math.ceil(deadline - performance.now()));
      const r = binding.socketSendMany(fd, batch.datas, batch.fds, job.to?.bytes ?? null, batch.sent, left);
      if (r < 0) throw this.#sendError(r, job, timeoutMs);
      batch.sent += r;
    }
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
   */
  receive(options?: UnixSocketWaitOptions): Promise<UnixMessage | null> {
    return this.#whenReadable(options, 'recvmsg', () => () => this.#take());
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
    const message = this.#take(this.#receiveTimeout(options, 'receiveSync'));
    return message === AGAIN ? null : message;
  }

  /**
   * Receives a message if one is there now; `null` when none is (or at the
   * end of the stream: see {@link UnixSocket.ended}).
   */
  tryReceive(): UnixMessage | null {
    const message = this.#take();
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
    return this.#whenReadable(options, 'recvmsg', () => {
      const target = validateTarget(buffer);
      return () => this.#takeInto(target, null);
    });
  }

  /**
   * {@link UnixSocket.receiveInto} if a message is there now: its length, or `null` (none now, or the end of the
   * stream).
   */
  tryReceiveInto(buffer: ArrayBufferView): number | null {
    void this.openFd;
    const r = this.#takeInto(validateTarget(buffer), null);
    return r === AGAIN ? null : r;
  }

  /**
   * {@link UnixSocket.receiveInto}, blocking this thread as
   * {@link UnixSocket.receiveSync} does (`timeoutMs`, `ERR_IPC_BUSY`).
   */
  receiveIntoSync(buffer: ArrayBufferView, options?: UnixSocketSyncOptions): number | null {
    const target = validateTarget(buffer);
    const r = this.#takeInto(target, this.#receiveTimeout(options, 'receiveIntoSync'));
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
    return this.#whenReadable(options, 'recvmmsg', () => {
      const batch = this.#batchOf(max, validateOptions(options), 'receiveMany');
      return () => this.#takeMany(batch, null);
    });
  }

  /**
   * {@link UnixSocket.receiveMany} of what is there now: `[]` when nothing is (or at the end of the stream: see
   * `ended`).
   */
  tryReceiveMany(max: number, options?: Pick<UnixReceiveManyOptions, 'messageSize'>): UnixMessage[] {
    const r = this.#takeMany(this.#batchOf(max, validateOptions(options), 'tryReceiveMany'), null);
    return r === AGAIN || r === null ? [] : r;
  }

  /**
   * {@link UnixSocket.receiveMany}, blocking this thread until at least one
   * message is there, as {@link UnixSocket.receiveSync} does (`timeoutMs`,
   * `ERR_IPC_BUSY`); `null` at the end of the stream.
   */
  receiveManySync(max: number, options?: UnixReceiveManySyncOptions): UnixMessage[] | null {
    const opts = validateOptions(options);
    const batch = this.#batchOf(max, opts, 'receiveManySync');
    const r = this.#takeMany(batch, this.#receiveTimeout(opts, 'receiveManySync'));
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
    void this.openFd;
    if (this.#type !== 'stream') {
      throw stateError('ERR_IPC_SOCKET_TYPE', `stream() needs a stream socket; this one is ${this.#type}`);
    }
    if (this.#sends.length > 0) {
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
    const closed = () => closedError('UnixSocket');
    for (const helper of this.#helpers) helper.close(closed);
    this.#helpers.clear();
    for (const job of this.#sends.splice(0)) this.#settle(job, closed());
    removeFile(this.#file);
    this.#file = null;
  }

  /** `UnixSocket { type: 'seqpacket', address: '/tmp/jobs.sock', fd: 21, ended: false, ref: true, closed: false }`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('UnixSocket', {
      type: this.#type, address: this.#label, fd: this.fd, ended: this.#ended, ref: this.loopRef.ref,
      closed: this.closed,
    }, depth, options);
  }

  /** Validates a send's arguments (before any syscall) into a job. */
  #sendJob(data: unknown, options: UnixSendOptions | undefined, waits: boolean): SendJob {
    void this.openFd;
    const bytes = toBytes(data);
    const opts = validateOptions(options);
    const fds = validateFds(opts.fds, 'options.fds');
    const to = this.#destination(opts.to);
    if (this.#type === 'stream' && fds !== null && bytes.byteLength === 0) {
      throw invalidArgValue(
        'data', data, 'must not be empty when a stream socket sends descriptors (they travel with at least one byte)',
      );
    }
    return newJob(bytes, fds, null, to, waits ? waitOptions(opts) : {});
  }

  /** Validates sendMany's arguments (before any syscall) into a job. */
  #sendManyJob(
    messages: unknown, options: Omit<UnixSendOptions, 'fds'> | undefined, waits: boolean, method: string,
  ): SendJob {
    void this.openFd;
    if (this.#type === 'stream') {
      throw stateError(
        'ERR_IPC_SOCKET_TYPE',
        `${method}() is for datagram and seqpacket sockets (a stream has no message boundaries): use send()`,
      );
    }
    const batch = validateMessages(messages, 'messages');
    const opts = validateOptions(options) as UnixSendOptions;
    if (opts.fds !== undefined) {
      throw invalidArgValue(
        'options.fds', opts.fds, 'is not taken: pass each message\'s descriptors with it, as { data, fds }',
      );
    }
    return newJob(EMPTY, null, batch, this.#destination(opts.to), waits ? waitOptions(opts) : {});
  }

  /** A `to` option as an address (datagram sockets only); null when unset. */
  #destination(to: unknown): Address | null {
    if (to === undefined) return null;
    if (this.#type !== 'dgram') throw invalidArgValue('options.to', to, 'is only for datagram sockets');
    return parseDestination(to, 'options.to');
  }

  /** Throws `ERR_IPC_BUSY` for a blocking send while a `send()` waits: it would overtake it. */
  #notSending(method: string): void {
    if (this.#sends.length > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `${method}() with ${this.#sends.length} send() pending on this socket would overtake them: await them first`,
      );
    }
  }

  /** Sends `job` now if nothing waits before it and there is room, else queues it (with its own copy of the data). */
  #queue(job: SendJob): Promise<void> {
    const { wait } = job;
    if (this.#sends.length === 0 && !wait.signal?.aborted) {
      try {
        job.state = this.#attempt(job);
      } catch (err) {
        return Promise.reject(err);
      }
      if (job.state === 'done') return Promise.resolve();
    }
    keepCopy(job);
    const label = job.to?.label ?? this.#label;
    const cancel = new Cancel(wait, () => timedOut(
      job.batch === null ? 'sendmsg' : 'sendmmsg', label, wait.timeoutMs!,
    ));
    job.cancel = cancel;
    return new Promise<void>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
      if (cancel.reason !== null) {
        job.settled = true;
        reject(cancel.reason);
        return;
      }
      cancel.signal.addEventListener('abort', () => this.#settle(job, cancel.reason), { once: true });
      this.#sends.push(job);
      if (!this.#pumping) void this.#pump();
    });
  }

  /** One sendmsg (or sendmmsg calls while they make progress) for `job`. */
  #attempt(job: SendJob): SendState {
    const fd = this.openFd;
    const { batch } = job;
    if (batch !== null) {
      for (;;) {
        const r = binding.socketSendMany(fd, batch.datas, batch.fds, job.to?.bytes ?? null, batch.sent, null);
        if (r === -EAGAIN) return full(fd, job);
        if (r < 0) throw this.#sendError(r, job);
        batch.sent += r;
        if (batch.sent === batch.datas.length) return 'done';
      }
    }
    const r = binding.socketSend(fd, job.bytes, job.fds, job.to?.bytes ?? null);
    if (r === -EAGAIN) return full(fd, job);
    if (r < 0) throw this.#sendError(r, job);
    if (r < job.bytes.byteLength) {
      // Only a stream takes part of the data. The descriptors went with it.
      job.bytes = job.copied ? job.bytes.subarray(r) : Uint8Array.prototype.slice.call(job.bytes, r);
      job.copied = true;
      job.fds = null;
      return 'full';
    }
    return 'done';
  }

  /** Runs the queued sends, in order, one at a time. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    while (this.#sends.length > 0) {
      const job = this.#sends[0];
      try {
        while (job.state !== 'done') {
          if (job.state === 'full') {
            job.state = await this.poller.wait(UV_WRITABLE, () => {
              const state = this.#attempt(job);
              return state === 'full' ? AGAIN : state;
            }, { signal: job.cancel!.signal }, () => new Error('unreachable'));
          } else {
            job.state = await this.#waitForReceiver(job);
          }
        }
        this.#settle(job, null);
      } catch (err) {
        this.#settle(job, job.cancel!.error(err));
      }
    }
    // In the same synchronous step as the last check of the queue: a send
    // made from a continuation of the last settled one must start a new pump.
    this.#pumping = false;
  }

  /**
   * Waits until the receiver of an unconnected datagram send has room, then
   * sends. A helper datagram socket connected to the receiver is polled: for
   * a connected datagram socket the kernel does report writability by the
   * peer's queue (unix_dgram_poll), and wakes it when the peer reads.
   */
  async #waitForReceiver(job: SendJob): Promise<SendState> {
    const to = job.to!;
    const helper = check(binding.socketCreate(SOCK_DGRAM), 'socket', to.label);
    let poller: Poller | null = null;
    try {
      const connected = binding.socketConnect(helper, to.bytes);
      if (connected < 0) {
        // Most likely the receiver went away: the send itself will say so.
        const state = this.#attempt(job);
        if (state === 'peer-full') {
          throw new IpcError(
            -EAGAIN, 'sendmsg', to.label,
            `the receiver's queue is full, and waiting for it failed (connect: ${new IpcError(connected, 'connect').code})`,
          );
        }
        return state;
      }
      poller = new Poller(helper, 'socket', to.label);
      this.#helpers.add(poller);
      this.loopRef.attach(poller);
      return await poller.wait(UV_WRITABLE, () => {
        const state = this.#attempt(job);
        return state === 'peer-full' ? AGAIN : state;
      }, { signal: job.cancel!.signal }, () => new Error('unreachable'));
    } finally {
      if (poller !== null) {
        this.#helpers.delete(poller);
        this.loopRef.detach(poller);
        poller.close(() => closedError('UnixSocket'));
      }
      binding.close(helper);
    }
  }

  /** Settles a queued send once (err null: it went) and takes it off the queue. */
  #settle(job: SendJob, err: unknown): void {
    const at = this.#sends.indexOf(job);
    if (at !== -1) this.#sends.splice(at, 1);
    if (job.settled) return;
    job.settled = true;
    job.cancel?.dispose();
    if (err === null) job.resolve();
    else job.reject(err);
  }

  /**
   * The error of a failed send: `timeoutMs` names a sync call's limit
   * (ETIMEDOUT); a batch's error says how many messages went (`sent`).
   */
  #sendError(errno: number, job: SendJob, timeoutMs = -1): IpcError {
    const { batch } = job;
    const syscall = batch === null ? 'sendmsg' : 'sendmmsg';
    const label = job.to?.label ?? this.#label;
    let err: IpcError;
    if (errno === -ETIMEDOUT) {
      err = timedOut(syscall, label, timeoutMs);
    } else if (errno === -EAGAIN && job.to !== null) {
      err = new IpcError(
        errno, syscall, label, "the receiver's queue is full, and waiting for it failed (it could not be connected to)",
      );
    } else if (errno === -EMSGSIZE) {
      const sndbuf = binding.socketSendBufferSize(this.openFd, 0);
      const size = batch === null ? job.bytes.byteLength : batch.datas[batch.sent].byteLength;
      err = new IpcError(errno, syscall, label,
        `message of ${size} bytes exceeds what the send buffer allows (SO_SNDBUF ${sndbuf} bytes less 32; ` +
        `the default is net.core.wmem_default ${procNumber('/proc/sys/net/core/wmem_default') ?? 'unknown'}; ` +
        `setSendBufferSize() raises it up to net.core.wmem_max ${procNumber('/proc/sys/net/core/wmem_max') ?? 'unknown'})`);
    } else if (errno === -ETOOMANYREFS) {
      err = new IpcError(errno, syscall, label,
        `too many descriptors in flight: this user's descriptors queued in Unix sockets and not yet received exceed RLIMIT_NOFILE (${softLimit('Max open files')})`);
    } else {
      err = new IpcError(errno, syscall, label);
    }
    return batch === null ? err : Object.assign(err, { sent: batch.sent });
  }

  /**
   * A receive that waits on the event loop: `prepare` validates (its error
   * rejects) and returns the attempt, which `syscall`'s timeout names.
   */
  #whenReadable<T>(
    options: UnixSocketWaitOptions | undefined, syscall: string, prepare: () => () => T | typeof AGAIN,
  ): Promise<T> {
    let wait: WaitOptions;
    let attempt: () => T | typeof AGAIN;
    try {
      void this.openFd;
      wait = waitOptions(options);
      attempt = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#receiving++;
    return this.poller.wait(UV_READABLE, attempt, wait, () => timedOut(syscall, this.#label, wait.timeoutMs!))
      .finally(() => this.#receiving--);
  }

  /** The timeout of a blocking receive (-1: none); `ERR_IPC_BUSY` while a receive() waits (it would jump the queue). */
  #receiveTimeout(options: UnixSocketSyncOptions | undefined, method: string): number {
    void this.openFd;
    const timeoutMs = syncTimeout(validateOptions(options));
    if (this.#receiving > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `${method}() with ${this.#receiving} receive() pending on this socket would jump their queue: await them (or abort them) first`,
      );
    }
    return timeoutMs;
  }

  /** receiveMany's batch, validated; message sockets only. */
  #batchOf(max: unknown, options: { messageSize?: unknown }, method: string): { max: number; messageSize: number } {
    void this.openFd;
    if (this.#type === 'stream') {
      throw stateError(
        'ERR_IPC_SOCKET_TYPE',
        `${method}() is for datagram and seqpacket sockets (a stream has no message boundaries): use receive()`,
      );
    }
    return validateBatch(max, options);
  }

  /** The result of a receive that failed (timeoutMs: a blocking call's limit); AGAIN for EAGAIN. */
  #receiveFailed(r: number, syscall: string, timeoutMs: number | null): typeof AGAIN {
    if (r === -EAGAIN) return AGAIN;
    if (r === -ETIMEDOUT && timeoutMs !== null) throw timedOut(syscall, this.#label, timeoutMs);
    check(r, syscall, this.#label);
    return AGAIN;
  }

  /**
   * One recvmsg: a message, null at the end of the stream, or AGAIN. With
   * `syncTimeoutMs` (-1: none) it blocks this thread until there is
   * something to take, and never returns AGAIN.
   */
  #take(syncTimeoutMs?: number): UnixMessage | null | typeof AGAIN {
    const fd = this.openFd;
    const scratch = messageScratch ??= Buffer.allocUnsafeSlow(binding.MAX_MESSAGE_SIZE);
    const type = TYPES[this.#type];
    // Stream chunks come in a Buffer of their own; messages may land in the pool.
    const pool = this.#type === 'stream' ? null : receivePool.room(POOLED_MAX);
    let r: Buffer | number;
    if (pool === null) {
      r = syncTimeoutMs === undefined
        ? binding.socketReceive(fd, type, receiveMeta, receiveFds, receiveAddress, scratch)
        : binding.socketReceiveSync(fd, type, receiveMeta, receiveFds, receiveAddress, scratch, syncTimeoutMs);
    } else {
      const offset = receivePool.offset;
      r = syncTimeoutMs === undefined
        ? binding.socketReceive(fd, type, receiveMeta, receiveFds, receiveAddress, scratch, pool, offset)
        : binding.socketReceiveSync(
          fd, type, receiveMeta, receiveFds, receiveAddress, scratch, syncTimeoutMs, pool, offset,
        );
    }
    if (typeof r === 'number' && r < 0) return this.#receiveFailed(r, 'recvmsg', syncTimeoutMs ?? null);
    const [length, flags, count, addressLength, end] = receiveMeta;
    const fds = count === 0 ? [] : Array.from(receiveFds.subarray(0, count));
    if (end) {
      this.#ended = true;
      return null;
    }
    // A message of up to POOLED_MAX bytes is in the pool (the addon copied it
    // there); a longer one is copied out of the scratch into a Buffer of its own.
    let data: Buffer;
    if (typeof r !== 'number') data = r.subarray(0, length);
    else if (r <= POOLED_MAX && r > 0) data = receivePool.take(r);
    else data = copyOut(scratch, Math.min(length, scratch.length));
    if ((flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0) {
      for (const received of fds) binding.close(received);
      const why = (flags & MSG_CTRUNC) !== 0
        ? descriptorsDropped(count)
        : `message of ${length} bytes was truncated to ${data.length} (MSG_TRUNC): its sender forced SO_SNDBUF past net.core.wmem_max after this process started; its ${count} descriptors were closed`;
      throw truncated(why, this.#label, 'recvmsg', data);
    }
    const message: UnixMessage = { data, fds };
    if (addressLength > 0 && this.#type === 'dgram') {
      const from = decodeAddress(receiveAddress, addressLength);
      if (from !== undefined) message.from = from;
    }
    return message;
  }

  /** One recvmsg into `target`: its length, null at the end of the stream, or AGAIN; timeoutMs as for the binding. */
  #takeInto(target: Uint8Array, timeoutMs: number | null): number | null | typeof AGAIN {
    const r = binding.socketReceiveInto(this.openFd, TYPES[this.#type], target, receiveMeta, timeoutMs);
    if (r < 0) return this.#receiveFailed(r, 'recvmsg', timeoutMs);
    const flags = receiveMeta[1];
    if (receiveMeta[4]) {
      this.#ended = true;
      return null;
    }
    if ((flags & MSG_TRUNC) !== 0) {
      throw truncated(
        `message of ${r} bytes did not fit the ${target.byteLength}-byte buffer (MSG_TRUNC): the rest of it is lost`,
        this.#label, 'recvmsg', target,
      );
    }
    if ((flags & MSG_CTRUNC) !== 0) {
      throw truncated(
        'descriptors came with the message, and receiveInto takes none (MSG_CTRUNC): they were closed; receive() takes them',
        this.#label, 'recvmsg', target.subarray(0, r),
      );
    }
    return r;
  }

  /**
   * One recvmmsg: the messages, null at the end of the stream (before any
   * message of the batch), or AGAIN; timeoutMs as for the binding.
   */
  #takeMany(
    { max, messageSize }: { max: number; messageSize: number }, timeoutMs: number | null,
  ): UnixMessage[] | null | typeof AGAIN {
    const scratch = batchScratchFor(max);
    const r = binding.socketReceiveMany(
      this.openFd, TYPES[this.#type], max, messageSize, scratch.meta, scratch.fds, scratch.addresses, timeoutMs,
    );
    if (typeof r === 'number') return this.#receiveFailed(r, 'recvmmsg', timeoutMs);
    const { meta } = scratch;
    const messages: UnixMessage[] = [];
    let at = 0;
    let fdsAt = 0;
    let cut: Error | null = null;
    for (let i = 0, n = meta[0]; i < n; i++) {
      const base = 1 + i * META_FIELDS;
      const length = meta[base];
      const flags = meta[base + 1];
      const count = meta[base + 2];
      if (meta[base + 4]) {
        this.#ended = true;
        break;
      }
      const data = r.subarray(at, at + Math.min(length, messageSize));
      at += data.length;
      const fds = count === 0 ? [] : Array.from(scratch.fds.subarray(fdsAt, fdsAt + count));
      fdsAt += count;
      if ((flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0) {
        for (const received of fds) binding.close(received);
        cut ??= truncated((flags & MSG_CTRUNC) !== 0
          ? descriptorsDropped(count)
          : `message of ${length} bytes was cut to messageSize ${messageSize} (MSG_TRUNC); its ${count} descriptors were closed`,
        this.#label, 'recvmmsg', data);
        continue;
      }
      const message: UnixMessage = { data, fds };
      const addressLength = meta[base + 3];
      if (addressLength > 0 && this.#type === 'dgram') {
        const from = decodeAddress(scratch.addresses.subarray(i * 108), addressLength);
        if (from !== undefined) message.from = from;
      }
      messages.push(message);
    }
    if (cut !== null) throw Object.assign(cut, { messages });
    return messages.length === 0 && this.#ended ? null : messages;
  }
}

/** The `net.Socket`s with a sendFds in progress, and its promise. */
const fdSends = new WeakMap<Socket, Promise<void>>();

/** getsockname/getpeername as a public address; undefined when unnamed or not connected. */
function addressOf(fd: number, peer: boolean): UnixAddress | undefined {
  const n = binding.socketAddress(fd, peer, addressScratch);
  if (n === -ENOTCONN) return undefined;
  check(n, peer ? 'getpeername' : 'getsockname');
  return decodeAddress(addressScratch, n);
}

let makeServer: (
  fd: number, type: 'stream' | 'seqpacket', address: Address, file: BoundFile | null,
) => UnixSocketServer;

/**
 * A listening stream or seqpacket socket ({@link UnixSocket.listen}). Each
 * `accept()` resolves with a connected {@link UnixSocket}.
 */
export class UnixSocketServer extends OwnedDescriptor implements AsyncIterable<UnixSocket> {
  readonly #type: 'stream' | 'seqpacket';
  readonly #address: Address;
  #file: BoundFile | null;
  /** accept() calls not yet settled (acceptSync would jump their queue). */
  #accepting = 0;


  static {
    makeServer = (fd, type, address, file) => new UnixSocketServer(INTERNAL, fd, type, address, file);
    implementRef(this, (self) => (#address in self ? (self as UnixSocketServer).loopRef : undefined));
  }

  private constructor(
    key: Internal, fd: number, type: 'stream' | 'seqpacket', address: Address, file: BoundFile | null,
  ) {
    super(key, fd, { syscall: 'socket', label: address.label });
    this.#type = type;
    this.#address = address;
    this.#file = file;
  }

  /** `'stream'` or `'seqpacket'`: the type of the connections it accepts. */
  get type(): 'stream' | 'seqpacket' {
    return this.#type;
  }

  /** Where it listens. */
  get address(): UnixAddress {
    return this.#address.file !== null ? { path: this.#address.file } : { abstract: this.#address.label.slice(1) };
  }

  /** Accepts the next connection, waiting without blocking the event loop. */
  accept(options?: UnixSocketWaitOptions): Promise<UnixSocket> {
    let wait: WaitOptions;
    try {
      void this.openFd;
      wait = waitOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#accepting++;
    return this.poller.wait(UV_READABLE, () => this.#take() ?? AGAIN, wait, () => timedOut(
      'accept4', this.#address.label, wait.timeoutMs!,
    ))
      .finally(() => this.#accepting--);
  }

  /**
   * Accepts the next connection, blocking this thread until one comes: for
   * dedicated processes and scripts. Throws `ETIMEDOUT` (`syscall:
   * 'accept4'`) after `timeoutMs`, counted once from the call. Throws
   * `ERR_IPC_BUSY` while an `accept()` (or a `connections()` loop) is pending.
   */
  acceptSync(options?: UnixSocketSyncOptions): UnixSocket {
    void this.openFd;
    const timeoutMs = syncTimeout(validateOptions(options));
    if (this.#accepting > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `acceptSync() with ${this.#accepting} accept() pending on this server would jump their queue: await them (or abort them) first`,
      );
    }
    return this.#take(timeoutMs)!;
  }

  /** Accepts a connection if one is waiting now; `null` otherwise. */
  tryAccept(): UnixSocket | null {
    return this.#take();
  }

  /**
   * The connections as they come, until `close()` (the iteration ends) or
   * `signal` aborts (it throws an `AbortError`).
   */
  async *connections(options?: { signal?: AbortSignal }): AsyncGenerator<UnixSocket, void, undefined> {
    for (;;) {
      let socket: UnixSocket;
      try {
        socket = await this.accept(options);
      } catch (err) {
        if ((err as CodedError).code === 'ERR_IPC_CLOSED') return;
        throw err;
      }
      yield socket;
    }
  }

  /** `for await (const conn of server)`: see {@link UnixSocketServer.connections}. */
  [Symbol.asyncIterator](): AsyncGenerator<UnixSocket, void, undefined> {
    return this.connections();
  }

  /**
   * Stops listening; pending `accept` calls reject with `ERR_IPC_CLOSED`, and
   * the socket file is removed (as `net.Server` does). Accepted sockets stay
   * open. Idempotent.
   */
  override close(): void {
    super.close();
  }

  protected override onClose(): void {
    removeFile(this.#file);
    this.#file = null;
  }

  /** `UnixSocketServer { type: 'stream', address: '/tmp/jobs.sock', fd: 21, ref: true, closed: false }`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle(
      'UnixSocketServer',
      { type: this.#type, address: this.#address.label, fd: this.fd, ref: this.loopRef.ref, closed: this.closed },
      depth, options,
    );
  }

  /** One accept4: a connection, or null when none waits; with `syncTimeoutMs` (-1: none), blocks for one. */
  #take(syncTimeoutMs?: number): UnixSocket | null {
    const fd = this.openFd;
    const conn = syncTimeoutMs === undefined ? binding.socketAccept(fd) : binding.socketAcceptSync(fd, syncTimeoutMs);
    if (conn === -EAGAIN) return null;
    if (conn === -ETIMEDOUT) throw timedOut('accept4', this.#address.label, syncTimeoutMs!);
    check(conn, 'accept4', this.#address.label);
    try {
      return makeSocket(conn, this.#type, this.#address.label, null);
    } catch (err) {
      binding.close(conn);
      throw err;
    }
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface UnixSocket extends Referable {}
export interface UnixSocketServer extends Referable {}

/**
 * Two connected sockets (`socketpair(2)`, close-on-exec): a two-way pipe of
 * `'stream'` (the default), `'seqpacket'` or `'dgram'` type. Either end can be
 * passed to a child process (`spawn(cmd, args, { fds: { 3: b } })`, then
 * `UnixSocket.fromFd(3)` there) or over another socket.
 */
export function socketPair(options?: SocketPairOptions): [UnixSocket, UnixSocket] {
  const opts = validateOptions(options);
  const type = validateType(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket', 'dgram']);
  const out = new Int32Array(2);
  check(binding.socketPair(TYPES[type], out), 'socketpair');
  let first: UnixSocket | null = null;
  try {
    first = makeSocket(out[0], type, null, null);
    return [first, makeSocket(out[1], type, null, null)];
  } catch (err) {
    if (first !== null) first.close();
    else binding.close(out[0]);
    binding.close(out[1]);
    throw err;
  }
}

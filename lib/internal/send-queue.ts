/**
 * Sending on a Unix-domain socket: a send's arguments checked into a job
 * before any syscall, and the socket's queue of sends that wait for room
 * (they leave in the order they were made, each with its own copy of what is
 * still to go), including the wait for a full datagram receiver.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';
import { binding } from '../binding';
import { check, closedError, invalidArgType, invalidArgValue, IpcError, stateError } from '../errors';
import type { WaitOptions } from '../options';
import type { UnixOutgoingMessage, UnixSendOptions, UnixSocketType } from '../unix-socket';
import { Cancel } from './cancel';
import { procNumber, softLimit } from './limits';
import type { LoopRef } from './loop-ref';
import { AGAIN, Poller } from './poller';
import { parseDestination, type Address } from './unix-address';
import { readArray, toBytes, validateFd, validateOptions } from './validate';
import { timedOut, waitOptions } from './wait';

const { EAGAIN, EMSGSIZE, ETIMEDOUT } = osConstants.errno;
/** Not in Node's errno table; its Linux value (asm-generic/errno.h). */
const ETOOMANYREFS = 109;
const { SCM_MAX_FD, SOCK_DGRAM, UV_WRITABLE } = binding;

const EMPTY = Buffer.alloc(0);

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
export interface SendJob {
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

/** The descriptors to pass (`SCM_RIGHTS`), checked; null when none. */
export function validateFds(value: unknown, name: string): Int32Array | null {
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

/** A `to` option as an address (datagram sockets only); null when unset. */
function destination(type: UnixSocketType, to: unknown): Address | null {
  if (to === undefined) return null;
  if (type !== 'dgram') throw invalidArgValue('options.to', to, 'is only for datagram sockets');
  return parseDestination(to, 'options.to');
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

/** A send's arguments on a socket of `type`, validated (before any syscall) into a job. */
export function sendJob(
  type: UnixSocketType, data: unknown, options: UnixSendOptions | undefined, waits: boolean,
): SendJob {
  // Everything that may run caller code (getters, array elements, an address)
  // first: it may detach `data`, which is checked after it.
  const opts = validateOptions(options);
  const fds = validateFds(opts.fds, 'options.fds');
  const to = destination(type, opts.to);
  const bytes = toBytes(data);
  if (type === 'stream' && fds !== null && bytes.byteLength === 0) {
    throw invalidArgValue(
      'data', data, 'must not be empty when a stream socket sends descriptors (they travel with at least one byte)',
    );
  }
  return newJob(bytes, fds, null, to, waits ? waitOptions(opts) : {});
}

/** sendMany's arguments on a socket of `type`, validated (before any syscall) into a job. */
export function sendManyJob(
  type: UnixSocketType, messages: readonly UnixOutgoingMessage[], options: Omit<UnixSendOptions, 'fds'> | undefined,
  waits: boolean, method: string,
): SendJob {
  if (type === 'stream') {
    throw stateError(
      'ERR_IPC_SOCKET_TYPE',
      `${method}() is for datagram and seqpacket sockets (a stream has no message boundaries): use send()`,
    );
  }
  // The options first: a getter there may detach a message's data, which is checked after.
  const opts = validateOptions(options) as UnixSendOptions;
  if (opts.fds !== undefined) {
    throw invalidArgValue(
      'options.fds', opts.fds, 'is not taken: pass each message\'s descriptors with it, as { data, fds }',
    );
  }
  const to = destination(type, opts.to);
  const wait = waits ? waitOptions(opts) : {};
  return newJob(EMPTY, null, validateMessages(messages, 'messages'), to, wait);
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

/** What the queue uses of its socket. */
export interface SendingSocket {
  /** The open descriptor (`ERR_IPC_CLOSED` once closed). */
  fd(): number;
  /** Its watcher (`ERR_IPC_CLOSED` once closed). */
  poller(): Poller;
  readonly loopRef: LoopRef;
  /** Its address, for errors. */
  readonly label: string | null;
}

/** One socket's sends: tried at once while nothing waits, else queued until there is room. */
export class SendQueue {
  readonly #socket: SendingSocket;
  readonly #jobs: SendJob[] = [];
  #pumping = false;
  /** Pollers of the helper sockets that wait for a full receiver (see #waitForReceiver). */
  readonly #helpers = new Set<Poller>();

  constructor(socket: SendingSocket) {
    this.#socket = socket;
  }

  /** How many sends wait. */
  get pending(): number {
    return this.#jobs.length;
  }

  /** Throws `ERR_IPC_BUSY` for a blocking send while a `send()` waits: it would overtake it. */
  assertIdle(method: string): void {
    if (this.#jobs.length > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `${method}() with ${this.#jobs.length} send() pending on this socket would overtake them: await them first`,
      );
    }
  }

  /** Sends `job` now if nothing waits before it and there is room, else queues it (with its own copy of the data). */
  queue(job: SendJob): Promise<void> {
    const { wait } = job;
    if (this.#jobs.length === 0 && !wait.signal?.aborted) {
      try {
        job.state = this.attempt(job);
      } catch (err) {
        return Promise.reject(err);
      }
      if (job.state === 'done') return Promise.resolve();
    }
    keepCopy(job);
    const label = job.to?.label ?? this.#socket.label;
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
      this.#jobs.push(job);
      if (!this.#pumping) void this.#pump();
    });
  }

  /** One sendmsg (or sendmmsg calls while they make progress) for `job`. */
  attempt(job: SendJob): SendState {
    const fd = this.#socket.fd();
    const { batch } = job;
    if (batch !== null) {
      for (;;) {
        const r = binding.socketSendMany(fd, batch.datas, batch.fds, job.to?.bytes ?? null, batch.sent, null);
        if (r === -EAGAIN) return full(fd, job);
        if (r < 0) throw this.#error(r, job);
        batch.sent += r;
        if (batch.sent === batch.datas.length) return 'done';
      }
    }
    const r = binding.socketSend(fd, job.bytes, job.fds, job.to?.bytes ?? null);
    if (r === -EAGAIN) return full(fd, job);
    if (r < 0) throw this.#error(r, job);
    if (r < job.bytes.byteLength) {
      // Only a stream takes part of the data. The descriptors went with it.
      job.bytes = job.copied ? job.bytes.subarray(r) : Uint8Array.prototype.slice.call(job.bytes, r);
      job.copied = true;
      job.fds = null;
      return 'full';
    }
    return 'done';
  }

  /** Sends one message's job, blocking this thread up to `timeoutMs` (-1: none). */
  sendSync(job: SendJob, timeoutMs: number): void {
    const r = binding.socketSendSync(this.#socket.fd(), job.bytes, job.fds, job.to?.bytes ?? null, timeoutMs);
    if (r < 0) throw this.#error(r, job, timeoutMs);
  }

  /** Sends a batch's job, blocking this thread up to `timeoutMs` (-1: none), counted once from the call. */
  sendManySync(job: SendJob, timeoutMs: number): void {
    const batch = job.batch!;
    const fd = this.#socket.fd();
    // The binding waits at most for one chunk of SOCKET_BATCH_MAX messages.
    const deadline = timeoutMs < 0 ? -1 : performance.now() + timeoutMs;
    while (batch.sent < batch.datas.length) {
      const left = deadline < 0 ? -1 : Math.max(0, Math.ceil(deadline - performance.now()));
      const r = binding.socketSendMany(fd, batch.datas, batch.fds, job.to?.bytes ?? null, batch.sent, left);
      if (r < 0) throw this.#error(r, job, timeoutMs);
      batch.sent += r;
    }
  }

  /** The socket closes: waiting sends reject with `ERR_IPC_CLOSED`. */
  close(): void {
    const closed = () => closedError('UnixSocket');
    for (const helper of this.#helpers) helper.close(closed);
    this.#helpers.clear();
    for (const job of this.#jobs.splice(0)) this.#settle(job, closed());
  }

  /** Runs the queued sends, in order, one at a time. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    while (this.#jobs.length > 0) {
      const job = this.#jobs[0];
      try {
        while (job.state !== 'done') {
          if (job.state === 'full') {
            job.state = await this.#socket.poller().wait(UV_WRITABLE, () => {
              const state = this.attempt(job);
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
    const { loopRef } = this.#socket;
    const helper = check(binding.socketCreate(SOCK_DGRAM), 'socket', to.label);
    let poller: Poller | null = null;
    try {
      const connected = binding.socketConnect(helper, to.bytes);
      if (connected < 0) {
        // Most likely the receiver went away: the send itself will say so.
        const state = this.attempt(job);
        if (state === 'peer-full') {
          throw new IpcError(
            -EAGAIN, 'sendmsg', to.label,
            "the receiver's queue is full, and waiting for it failed " +
            `(connect: ${new IpcError(connected, 'connect').code})`,
          );
        }
        return state;
      }
      poller = new Poller(helper, 'socket', to.label);
      this.#helpers.add(poller);
      loopRef.attach(poller);
      return await poller.wait(UV_WRITABLE, () => {
        const state = this.attempt(job);
        return state === 'peer-full' ? AGAIN : state;
      }, { signal: job.cancel!.signal }, () => new Error('unreachable'));
    } finally {
      if (poller !== null) {
        this.#helpers.delete(poller);
        loopRef.detach(poller);
        poller.close(() => closedError('UnixSocket'));
      }
      binding.close(helper);
    }
  }

  /** Settles a queued send once (err null: it went) and takes it off the queue. */
  #settle(job: SendJob, err: unknown): void {
    const at = this.#jobs.indexOf(job);
    if (at !== -1) this.#jobs.splice(at, 1);
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
  #error(errno: number, job: SendJob, timeoutMs = -1): IpcError {
    const { batch } = job;
    const syscall = batch === null ? 'sendmsg' : 'sendmmsg';
    const label = job.to?.label ?? this.#socket.label;
    let err: IpcError;
    if (errno === -ETIMEDOUT) {
      err = timedOut(syscall, label, timeoutMs);
    } else if (errno === -EAGAIN && job.to !== null) {
      err = new IpcError(
        errno, syscall, label, "the receiver's queue is full, and waiting for it failed (it could not be connected to)",
      );
    } else if (errno === -EMSGSIZE) {
      const sndbuf = binding.socketSendBufferSize(this.#socket.fd(), 0);
      const size = batch === null ? job.bytes.byteLength : batch.datas[batch.sent].byteLength;
      const wmem = (name: string) => procNumber(`/proc/sys/net/core/${name}`) ?? 'unknown';
      err = new IpcError(errno, syscall, label,
        `message of ${size} bytes exceeds what the send buffer allows (SO_SNDBUF ${sndbuf} bytes less 32; ` +
        `the default is net.core.wmem_default ${wmem('wmem_default')}; ` +
        `setSendBufferSize() raises it up to net.core.wmem_max ${wmem('wmem_max')})`);
    } else if (errno === -ETOOMANYREFS) {
      err = new IpcError(errno, syscall, label,
        'too many descriptors in flight: this user\'s descriptors queued in Unix sockets and not yet received ' +
        `exceed RLIMIT_NOFILE (${softLimit('Max open files')})`);
    } else {
      err = new IpcError(errno, syscall, label);
    }
    return batch === null ? err : Object.assign(err, { sent: batch.sent });
  }
}

/**
 * Receiving on a Unix-domain socket: recvmsg(2) and recvmmsg(2) into this
 * thread's scratch space and receive pool, turned into messages (descriptors,
 * sender), truncation (MSG_TRUNC, MSG_CTRUNC) reported with what came, and the
 * one queue that waiting and blocking receives of a socket share.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { binding } from '../binding';
import { check, invalidArgValue, stateError } from '../errors';
import type { WaitOptions } from '../options';
import type { UnixMessage, UnixSocketSyncOptions, UnixSocketType, UnixSocketWaitOptions } from '../unix-socket';
import { POOLED_MAX, ReceivePool } from './buffer-pool';
import { softLimit } from './limits';
import { AGAIN, type Poller } from './poller';
import { decodeAddress, TYPES } from './unix-address';
import { validateInteger, validateOptions, viewBytes } from './validate';
import { syncTimeout, timedOut, waitOptions } from './wait';

const { EAGAIN, ETIMEDOUT } = osConstants.errno;
const { SCM_MAX_FD, MSG_TRUNC, MSG_CTRUNC, SOCKET_BATCH_MAX, UV_READABLE } = binding;

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

/** The first `length` bytes of `scratch`, as a Buffer of their own. */
function copyOut(scratch: Buffer, length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  scratch.copy(data, 0, 0, length);
  return data;
}

/** A receiveMany batch: how many messages at most, and the room each gets. */
type Batch = { max: number; messageSize: number };

/** `receiveMany`'s batch size and per-message room, validated before any syscall. */
function validateBatch(max: unknown, options: { messageSize?: unknown }): Batch {
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
export function validateTarget(value: unknown): Uint8Array {
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
  return 'descriptors sent with a message were dropped (MSG_CTRUNC): the kernel could not install them all, ' +
    `most likely because this process reached RLIMIT_NOFILE (${softLimit('Max open files')}); ` +
    `the ${installed} it did install were closed`;
}

/** What the receiver uses of its socket. */
export interface ReceivingSocket {
  /** The open descriptor (`ERR_IPC_CLOSED` once closed). */
  fd(): number;
  /** Its watcher (`ERR_IPC_CLOSED` once closed). */
  poller(): Poller;
  readonly type: UnixSocketType;
  /** Its address, for errors. */
  readonly label: string | null;
  /** Throws `ERR_IPC_CLOSED` once closed. */
  assertOpen(): void;
}

/** One socket's receives, waiting (on its watcher) or blocking, and whether the stream ended. */
export class Receiver {
  readonly #socket: ReceivingSocket;
  /** Whether a receive saw the end of the stream. */
  ended = false;
  /**
   * Whether this handle has turned SO_PASSCRED on (seqpacket only): once, for
   * good, before its first receive, so that the kernel marks every message
   * with credentials and the end of the stream with none.
   */
  #marking = false;
  /** Waiting receives not yet settled (a blocking one would jump their queue). */
  #receiving = 0;

  constructor(socket: ReceivingSocket) {
    this.#socket = socket;
  }

  /**
   * A receive that waits on the event loop: `prepare` validates (its error
   * rejects) and returns the attempt, which `syscall`'s timeout names.
   */
  whenReadable<T>(
    options: UnixSocketWaitOptions | undefined, syscall: string, prepare: () => () => T | typeof AGAIN,
  ): Promise<T> {
    let wait: WaitOptions;
    let attempt: () => T | typeof AGAIN;
    try {
      this.#socket.assertOpen();
      wait = waitOptions(options);
      attempt = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#receiving++;
    const { label } = this.#socket;
    return this.#socket.poller().wait(UV_READABLE, attempt, wait, () => timedOut(syscall, label, wait.timeoutMs!))
      .finally(() => this.#receiving--);
  }

  /**
   * The timeout of a blocking receive (-1: none); `ERR_IPC_BUSY` while a
   * receive() waits (it would jump the queue).
   */
  syncTimeout(options: UnixSocketSyncOptions | undefined, method: string): number {
    this.#socket.assertOpen();
    const timeoutMs = syncTimeout(validateOptions(options));
    if (this.#receiving > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `${method}() with ${this.#receiving} receive() pending on this socket would jump their queue: ` +
        'await them (or abort them) first',
      );
    }
    return timeoutMs;
  }

  /** receiveMany's batch, validated; message sockets only. */
  batchOf(max: unknown, options: { messageSize?: unknown }, method: string): Batch {
    this.#socket.assertOpen();
    if (this.#socket.type === 'stream') {
      throw stateError(
        'ERR_IPC_SOCKET_TYPE',
        `${method}() is for datagram and seqpacket sockets (a stream has no message boundaries): use receive()`,
      );
    }
    return validateBatch(max, options);
  }

  /** The result of a receive that failed (timeoutMs: a blocking call's limit); AGAIN for EAGAIN. */
  #failed(r: number, syscall: string, timeoutMs: number | null): typeof AGAIN {
    if (r === -EAGAIN) return AGAIN;
    if (r === -ETIMEDOUT && timeoutMs !== null) throw timedOut(syscall, this.#socket.label, timeoutMs);
    check(r, syscall, this.#socket.label);
    return AGAIN;
  }

  /**
   * The descriptor to receive on; on a seqpacket socket, SO_PASSCRED is on
   * (native/unix-socket.cc says why it is never turned off).
   */
  #receivingFd(): number {
    const fd = this.#socket.fd();
    if (!this.#marking && this.#socket.type === 'seqpacket') {
      check(binding.socketPassCredentials(fd), 'setsockopt', this.#socket.label);
      this.#marking = true;
    }
    return fd;
  }

  /**
   * One recvmsg: a message, null at the end of the stream, or AGAIN. With
   * `syncTimeoutMs` (-1: none) it blocks this thread until there is
   * something to take, and never returns AGAIN.
   */
  take(syncTimeoutMs?: number): UnixMessage | null | typeof AGAIN {
    const fd = this.#receivingFd();
    const { type: kind, label } = this.#socket;
    const scratch = messageScratch ??= Buffer.allocUnsafeSlow(binding.MAX_MESSAGE_SIZE);
    const type = TYPES[kind];
    // Stream chunks come in a Buffer of their own; messages may land in the pool.
    const pool = kind === 'stream' ? null : receivePool.room(POOLED_MAX);
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
    if (typeof r === 'number' && r < 0) return this.#failed(r, 'recvmsg', syncTimeoutMs ?? null);
    const [length, flags, count, addressLength, end] = receiveMeta;
    const fds = count === 0 ? [] : Array.from(receiveFds.subarray(0, count));
    if (end) {
      this.ended = true;
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
        : `message of ${length} bytes was truncated to ${data.length} (MSG_TRUNC): its sender forced SO_SNDBUF ` +
          `past net.core.wmem_max after this process started; its ${count} descriptors were closed`;
      throw truncated(why, label, 'recvmsg', data);
    }
    const message: UnixMessage = { data, fds };
    if (addressLength > 0 && kind === 'dgram') {
      const from = decodeAddress(receiveAddress, addressLength);
      if (from !== undefined) message.from = from;
    }
    return message;
  }

  /** One recvmsg into `target`: its length, null at the end of the stream, or AGAIN; timeoutMs as for the binding. */
  takeInto(target: Uint8Array, timeoutMs: number | null): number | null | typeof AGAIN {
    const fd = this.#receivingFd();
    const { type, label } = this.#socket;
    const r = binding.socketReceiveInto(fd, TYPES[type], target, receiveMeta, timeoutMs);
    if (r < 0) return this.#failed(r, 'recvmsg', timeoutMs);
    const flags = receiveMeta[1];
    if (receiveMeta[4]) {
      this.ended = true;
      return null;
    }
    if ((flags & MSG_TRUNC) !== 0) {
      throw truncated(
        `message of ${r} bytes did not fit the ${target.byteLength}-byte buffer (MSG_TRUNC): the rest of it is lost`,
        label, 'recvmsg', target,
      );
    }
    if ((flags & MSG_CTRUNC) !== 0) {
      throw truncated(
        'descriptors came with the message, and receiveInto takes none (MSG_CTRUNC): they were closed; ' +
        'receive() takes them',
        label, 'recvmsg', target.subarray(0, r),
      );
    }
    return r;
  }

  /**
   * One recvmmsg: the messages, null at the end of the stream (before any
   * message of the batch), or AGAIN; timeoutMs as for the binding.
   */
  takeMany({ max, messageSize }: Batch, timeoutMs: number | null): UnixMessage[] | null | typeof AGAIN {
    const fd = this.#receivingFd();
    const { type, label } = this.#socket;
    const scratch = batchScratchFor(max);
    const r = binding.socketReceiveMany(
      fd, TYPES[type], max, messageSize, scratch.meta, scratch.fds, scratch.addresses, timeoutMs,
    );
    if (typeof r === 'number') return this.#failed(r, 'recvmmsg', timeoutMs);
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
        this.ended = true;
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
          : `message of ${length} bytes was cut to messageSize ${messageSize} (MSG_TRUNC); ` +
            `its ${count} descriptors were closed`,
        label, 'recvmmsg', data);
        continue;
      }
      const message: UnixMessage = { data, fds };
      const addressLength = meta[base + 3];
      if (addressLength > 0 && type === 'dgram') {
        const from = decodeAddress(scratch.addresses.subarray(i * 108), addressLength);
        if (from !== undefined) message.from = from;
      }
      messages.push(message);
    }
    if (cut !== null) throw Object.assign(cut, { messages });
    return messages.length === 0 && this.ended ? null : messages;
  }
}

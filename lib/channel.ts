/**
 * Channel: messages through a lock-free ring in shared memory, between
 * processes, without a syscall per message. One consumer; one producer, or
 * several (each gets a lane of its own). The format is in
 * docs/channel-format.md; C programs join with include/posix-ipc/ring.h.
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { types } from 'node:util';
import type { InspectOptionsStylized } from './internal/inspect';
import { newPool, pooledBuffer } from './internal/buffer-pool';
import { binding, type ChannelCalls, type ChannelHandle } from './binding';
import { corrupt, invalidArgValue, IpcError, stateError } from './errors';
import { abortError, armGiveUp } from './internal/cancel';
import { validateAdoptable } from './internal/descriptor';
import { Lifetime } from './internal/lifetime';
import { AGAIN, Poller } from './internal/poller';
import { forget, reclaimOnCollect, type Reclaim } from './internal/reclaim';
import { ThreadWaits, TIMED_OUT } from './internal/thread-wait';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import {
  byteLengthOf, fixedByteLength, toBytes, validateBoolean, validateInteger, validateMode, validateName, validateOptions,
  validateUint32Array, validateUint8Array,
} from './internal/validate';
import type { SyncWaitOptions, WaitOptions } from './options';
import { SharedMemory } from './shared-memory';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, LoopRef, type Referable } from './internal/loop-ref';

const { EAGAIN, EBUSY, EMSGSIZE, ENOBUFS, EPERM, ETIMEDOUT } = osConstants.errno;
/** The ring's own outcomes (include/posix-ipc/ring.h): a segment that breaks the protocol, a peer gone, the end. */
const { CHANNEL_CORRUPT, CHANNEL_PEER_DEAD, CHANNEL_ENDED } = binding;
// Calls made per message, taken off the binding once: the binding object has
// so many properties that V8 keeps it as a dictionary. (The other hot calls
// are bound to their channel: binding.channelCalls.)
const { channelReceiveView, channelReserve, channelCommit } = binding;

const MIN_CAPACITY = 64;
const MAX_CAPACITY = 2 ** 30;
const MAX_PRODUCERS = 1024;
const DEFAULT_CAPACITY = 2 ** 20;
const DEFAULT_SPIN_NS = 50_000;
/**
 * The longest `spinNs`: 1 s. Spinning only pays while it is shorter than
 * the futex wake-up it saves (microseconds); a second of a core is already
 * far past that, and keeps a mistaken value (3e9, meant as µs or ms) from
 * pinning a core for longer. The timeout bounds the spin as well.
 */
const MAX_SPIN_NS = binding.CHANNEL_MAX_SPIN_NS;
/** How often an event-loop consumer that waits checks that its producers live. */
const PROBE_MS = 50;

// Slots of the meta array native/channel.cc fills (its enum Meta, exported as binding.channelMeta).
// SEALED and END_WHEN_IDLE are written by this file: 1 when attaching must find the object sealed against
// shrinking, 1 when this handle's stream ends once its producers have closed. ENDED is 1 once this handle, as the
// consumer, saw its stream end. FAILED_CALL says which call of channelAttach failed (binding.channelAttachCalls[n]).
const {
  LOCK_FD, LANES, CAPACITY, MAX_MESSAGE, LANE, NEEDED, OFFSET, SEALED, END_WHEN_IDLE, ENDED, FAILED_CALL,
  SIZE: META_SIZE,
} = binding.channelMeta;

// The hot calls may leave their data or target out ("the same one again"):
// native/channel.cc then uses the pointer and byte length it read from the
// engine the time before (see BytesArg there), which is right only while the
// view is the same object, its buffer cannot move or change size but by being
// detached (fixedByteLength), and its byteLength is still the one remembered
// and not 0 (a detached view reads 0).

/** Options of {@link Channel.create}. */
export interface ChannelCreateOptions {
  /**
   * Bytes of ring per producer: a power of two from 64 to 2^30. Default 1 MiB.
   * A message takes its length rounded up to 8, plus 8 bytes; the largest is
   * `capacity / 2 - 8` bytes ({@link Channel.maxMessageSize}).
   */
  capacity?: number;
  /** How many producers can be attached at once (one lane each). Default 1. */
  producers?: number;
  /** Permission bits of a named channel, exact whatever the umask. Default `0o600`. */
  mode?: number;
  /**
   * Whether this handle's stream, as the consumer, ends once producers have
   * come and all gone (see {@link Channel.ended}). Default: `true` for an
   * anonymous channel (its producers are the processes it was handed to),
   * `false` for a named one (a server whose clients attach and leave goes on
   * waiting for the next).
   */
  endWhenIdle?: boolean;
}

/** Options of {@link Channel.open}. */
export interface ChannelOpenOptions {
  /** As {@link ChannelCreateOptions.endWhenIdle}; default `false`. */
  endWhenIdle?: boolean;
}

/** Options of {@link Channel.sendSync}. */
export interface ChannelSendSyncOptions extends SyncWaitOptions {}

/** Options of {@link Channel.receiveSync}. */
export interface ChannelReceiveSyncOptions extends SyncWaitOptions {
  /** Spin this long (nanoseconds) before sleeping. Default 50,000 (50 µs); 0 sleeps at once. */
  spinNs?: number;
}

/** Options of the waiting {@link Channel.send} and {@link Channel.receive}. */
export interface ChannelWaitOptions extends WaitOptions {}

/**
 * Room for one message, reserved in the ring ({@link Channel.reserve}).
 * Nothing is visible to the consumer until `commit()`; a slot never committed
 * (abandoned, replaced by the next send or reserve, or its process killed)
 * is never delivered.
 */
export interface ChannelSlot {
  /** A writable view straight into the ring, `length` bytes. Valid until commit, the next send or reserve, or close. */
  readonly data: Buffer;
  /** Publishes the first `length` bytes of `data` (default: all of them) as one message. */
  commit(length?: number): void;
}

function validateCapacity(capacity: unknown): asserts capacity is number {
  validateInteger(capacity, 'options.capacity', MIN_CAPACITY, MAX_CAPACITY);
  if ((capacity & (capacity - 1)) !== 0) {
    throw invalidArgValue('options.capacity', capacity, 'must be a power of two', true);
  }
}

/**
 * A channel: a segment of shared memory with one lock-free ring per producer
 * and one consumer. Each side attaches when it first sends or receives; a
 * handle may do both. Messages are delivered once, in order per producer.
 *
 * **End of stream.** A producer that is done calls `close()` (or `using`):
 * that is a goodbye, never an error. A consumer whose stream may end
 * (`endWhenIdle`: by default an anonymous channel's, not a named one's) sees
 * the end once every producer that attached has closed, none is attached
 * (at least one did attach: a consumer that starts first waits), and it has
 * read everything they sent: `for await` ends, `receive()`/`receiveInto()`
 * resolve `null`, `receiveSync()`/`receiveSyncInto()` return `null`, and
 * {@link Channel.ended} turns `true`, for good. A producer that *dies*
 * (killed, or exits without `close()`) is `ERR_IPC_PEER_DEAD` instead, once
 * per death, after everything it committed; the stream then goes on (a new
 * producer may take its lane) and ends only when its lane's next producer
 * closes.
 *
 * @example
 * ```ts
 * // server
 * using ch = Channel.create('/jobs', { producers: 4 });
 * for await (const msg of ch) handle(msg);
 * // each client
 * using ch = Channel.open('/jobs');
 * ch.sendSync(Buffer.from('hello'));
 * ```
 */
export class Channel implements Disposable, AsyncIterable<Buffer> {
  static {
    implementRef(this, (self) => (#loopRef in self ? (self as Channel).#loopRef : undefined));
  }

  readonly #memory: SharedMemory;
  /** The native handle; ending it ends the thread waits and the doorbell's watcher, in that order. */
  readonly #life: Lifetime<ChannelHandle>;
  #calls: ChannelCalls | null;
  readonly #meta = new Float64Array(META_SIZE);
  readonly #reclaim: Reclaim;
  readonly #waits = new ThreadWaits();
  /**
   * Whether pending sends and receives keep the process alive (ref()/unref()): the waits' threads and the doorbell's
   * watcher follow it.
   */
  readonly #loopRef = new LoopRef();
  readonly #label: string;
  /**
   * The pool copying receives copy into (native/channel.cc Deliver; lib/internal/buffer-pool.ts): messages of up
   * to 4 KiB, a Buffer of their own beyond.
   */
  #pool: ArrayBuffer | null = null;
  #producing = false;
  #consuming = false;
  #doorbell = -1;
  #poller: Poller | null = null;
  #probe: NodeJS.Timeout | null = null;
  #receiving = 0;
  #sending: Promise<void> = Promise.resolve();
  #sendsPending = 0;
  #slot: ChannelSlot | null = null;
  // The caller's Uint8Arrays last handed to the binding to send from and to
  // receive into, and their byteLength then (from the engine): native/channel.cc
  // remembers where their bytes are, and the argument is left out for "the
  // same one again" (see fixedByteLength). Null when it may not be left out.
  #sent: Uint8Array | null = null;
  #sentLength = 0;
  #received: Uint8Array | null = null;
  #receivedLength = 0;

  private constructor(key: Internal, memory: SharedMemory, sealed: boolean, endWhenIdle: boolean) {
    assertInternal(key);
    this.#meta[SEALED] = sealed ? 1 : 0;
    this.#meta[END_WHEN_IDLE] = endWhenIdle ? 1 : 0;
    const handle = binding.channelAttach(memory.fd, memory.size, this.#meta);
    if (typeof handle === 'number') {
      const label = memory.name ?? 'anonymous channel';
      if (handle === CHANNEL_CORRUPT) throw corrupt(label, 'it is not a channel (bad or truncated header)');
      if (handle === -EPERM && sealed) {
        throw corrupt(
          label,
          'its descriptor is not sealed against shrinking (F_SEAL_SHRINK), so whoever holds it could truncate ' +
            'it under this mapping; anonymous channels come from Channel.create(), named ones are opened with ' +
            'Channel.open(name)',
        );
      }
      throw new IpcError(handle, binding.channelAttachCalls[this.#meta[FAILED_CALL]] ?? 'channelAttach', memory.name);
    }
    this.#memory = memory;
    this.#life = new Lifetime(
      'Channel', handle, (reason) => this.#waits.cancelAll(reason), (reason) => this.#poller?.close(reason),
    );
    this.#loopRef.attach(this.#waits);
    this.#calls = binding.channelCalls(handle);
    this.#label = memory.name ?? `anonymous channel (fd ${memory.fd})`;
    this.#reclaim = reclaimOnCollect(this, { fds: [this.#meta[LOCK_FD]], poller: null });
  }

  /**
   * Creates a named channel (a POSIX shared-memory object, `shm_open`), or
   * with no name an anonymous one (`memfd_create`, size sealed) to hand to a
   * child through {@link Channel.fd} and {@link Channel.fromFd}. Fails with
   * `EEXIST` when the name is taken; nothing is left behind on failure.
   */
  static create(name: string, options?: ChannelCreateOptions): Channel;
  static create(options?: ChannelCreateOptions): Channel;
  static create(nameOrOptions?: string | ChannelCreateOptions, maybeOptions?: ChannelCreateOptions): Channel {
    const named = typeof nameOrOptions === 'string';
    const path = named ? validateName(nameOrOptions) : null;
    const options = named ? maybeOptions : nameOrOptions;
    const { capacity = DEFAULT_CAPACITY, producers = 1, mode = 0o600, endWhenIdle = !named } = validateOptions(options);
    validateCapacity(capacity);
    validateBoolean(endWhenIdle, 'options.endWhenIdle');
    validateInteger(producers, 'options.producers', 1, MAX_PRODUCERS);
    // An anonymous channel has no permission bits of its own, but a bad
    // mode is a bad argument whichever kind is made.
    validateMode(mode);
    const size = binding.CHANNEL_HEADER_SIZE + producers * (binding.CHANNEL_LANE_SIZE + capacity);
    if (size > bufferConstants.MAX_LENGTH) {
      throw invalidArgValue(
        'options', { capacity, producers },
        `make a segment of ${size} bytes, ` +
          `more than the ${bufferConstants.MAX_LENGTH} an ArrayBuffer can hold in this Node`,
        true,
      );
    }
    // Channel.fromFd reopens an anonymous channel's memfd (/proc/self/fd) for its lane lock's own open file
    // description, and that open is checked against the memfd's mode: another user handed the descriptor must pass.
    const memory = path === null
      ? SharedMemory.anonymousOfMode(size, true, 0o666)
      : SharedMemory.create(path, size, { mode });
    try {
      binding.channelFormat(memory.buffer, capacity, producers);
      return new Channel(INTERNAL, memory, false, endWhenIdle);
    } catch (err) {
      memory.close();
      if (path !== null) SharedMemory.unlink(path);
      throw err;
    }
  }

  /**
   * Opens a named channel. A segment that is not a channel, or whose header
   * makes no sense, fails with `ERR_IPC_CORRUPT`. `endWhenIdle` matters only
   * if this handle becomes the consumer (see {@link ChannelCreateOptions}).
   */
  static open(name: string, options?: ChannelOpenOptions): Channel {
    const path = validateName(name);
    const { endWhenIdle = false } = validateOptions(options);
    validateBoolean(endWhenIdle, 'options.endWhenIdle');
    return Channel.#attach(SharedMemory.open(path), false, endWhenIdle);
  }

  /**
   * Attaches to an anonymous channel through a descriptor this process
   * inherited, e.g. `Channel.fromFd(3)` in a child given `fds: { 3: ch }` by
   * {@link spawn}. The object must be sealed against shrinking
   * (`F_SEAL_SHRINK`, as {@link Channel.create} seals an anonymous channel):
   * whoever holds an unsealed one could truncate it, and this process would
   * die of SIGBUS at its next message. Anything else (an unsealed memfd, a
   * named channel's or a file's descriptor) is `ERR_IPC_CORRUPT`; open a
   * named channel by its name. The handle owns the descriptor from then on,
   * also when attaching fails (it is closed then: not sealed, cannot be
   * mapped, or not a channel). A bad number, or one an open handle owns, is
   * refused as it is and stays as it was.
   */
  static fromFd(fd: number): Channel {
    validateAdoptable(fd);
    let memory: SharedMemory;
    try {
      memory = SharedMemory.fromFd(fd, { readOnly: false });
    } catch (err) {
      binding.close(fd);
      throw err;
    }
    // Anonymous: its producers are the processes it was handed to.
    return Channel.#attach(memory, true, true);
  }

  /**
   * The memory a child needs to attach again (lib/internal/share.ts); undefined
   * for anything that is not a Channel.
   * @internal
   */
  static shareState(value: unknown): { memory: SharedMemory } | undefined {
    return typeof value === 'object' && value !== null && #memory in value ? { memory: value.#memory } : undefined;
  }

  /** Removes a named channel's name (`shm_unlink`); attached handles keep working. */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  static #attach(memory: SharedMemory, sealed: boolean, endWhenIdle: boolean): Channel {
    try {
      return new Channel(INTERNAL, memory, sealed, endWhenIdle);
    } catch (err) {
      memory.close();
      throw err;
    }
  }

  /** The shared memory's descriptor (close-on-exec), to pass to a child; -1 once closed. */
  get fd(): number {
    return this.#memory.fd;
  }

  /** The name with its leading '/', or `null` for an anonymous channel. */
  get name(): string | null {
    return this.#memory.name;
  }

  /** Bytes of ring per producer. */
  get capacity(): number {
    return this.#meta[CAPACITY];
  }

  /** How many producers can be attached at once. */
  get producers(): number {
    return this.#meta[LANES];
  }

  /** The largest message in bytes: `capacity / 2 - 8`. */
  get maxMessageSize(): number {
    return this.#meta[MAX_MESSAGE];
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /**
   * Whether this handle's stream has ended, for good: `tryReceive()` returns
   * `null` both when nothing is there now and when nothing will ever come;
   * this tells which. Looks (no syscall unless every producer is gone) when
   * a receive has not seen the end yet; `false` for a handle that never
   * received, or whose stream does not end (`endWhenIdle: false`).
   */
  get ended(): boolean {
    if (this.#meta[ENDED] === 1) return true;
    const handle = this.#life.current;
    if (handle === null || !this.#consuming) return false;
    binding.channelProbe(handle);
    return this.#meta[ENDED] === 1;
  }

  /**
   * Sends one message if there is room: `true`, or `false` when the ring is
   * full. No syscall, unless the consumer is asleep. The first send attaches
   * this handle as a producer: `ERR_IPC_BUSY` when every lane is taken.
   * `data`: a Buffer, TypedArray or DataView (copied), or a string (UTF-8).
   */
  trySend(data: Uint8Array | ArrayBufferView | string): boolean {
    const bytes = this.#unchanged(data) ? null : toBytes(data);
    const calls = this.#producer();
    if (this.#slot !== null) this.#slot = null;
    const r = bytes === null ? calls.send() : calls.send(this.#remember(data, bytes));
    if (r === undefined) return true;
    if (r === 0) return false;
    throw this.#error(r, 'send', data);
  }

  /**
   * Sends the first `count` (default: all) messages packed back to back in
   * `source` in one native call, as many as there is room for: how many were
   * sent (maybe 0). Message `i` is `lengths[i]` bytes long and starts where
   * message `i - 1` ended; each arrives as a message of its own, as from
   * {@link Channel.trySend}. The mirror of {@link Channel.receiveManyInto}.
   */
  trySendMany(source: Uint8Array, lengths: Uint32Array, count?: number): number {
    const size = byteLengthOf(validateUint8Array(source, 'source'));
    const slots = validateUint32Array(lengths, 'lengths');
    const n = count ?? slots;
    validateInteger(n, 'count', 0, slots);
    let total = 0;
    for (let i = 0; i < n; i++) total += lengths[i];
    if (total > size) {
      throw invalidArgValue(
        'lengths', lengths, `must add up to at most the ${size} bytes of source (they add up to ${total})`, true,
      );
    }
    const calls = this.#producer();
    if (this.#slot !== null) this.#slot = null;
    const r = calls.sendManyFrom(source, lengths, n);
    if (r < 0) throw this.#error(r, 'send', lengths[0]);
    return r;
  }

  /**
   * Sends one message, blocking this thread while the ring is full: for
   * dedicated processes and scripts. Throws `ETIMEDOUT` after `timeoutMs`,
   * and `ERR_IPC_PEER_DEAD` when the consumer is gone (closed, or died)
   * while it waits.
   */
  sendSync(data: Uint8Array | ArrayBufferView | string, options?: ChannelSendSyncOptions): void {
    // Options first: a getter there may detach or unmap `data`, which must be
    // checked (and its pointer reused) only after no more caller code runs.
    const timeout = options === undefined ? -1 : syncTimeout(validateOptions(options));
    const bytes = this.#unchanged(data) ? null : toBytes(data);
    const calls = this.#producer();
    if (this.#slot !== null) this.#slot = null;
    const r = bytes === null ? calls.sendSync(timeout) : calls.sendSync(timeout, this.#remember(data, bytes));
    if (r === undefined) return;
    if (r === -ETIMEDOUT) throw timedOut('futex', this.name, timeout);
    if (r < 0) throw this.#error(r, 'send', data);
  }

  /**
   * Sends one message, waiting for room without blocking the event loop (on a
   * thread of its own, never libuv's pool). Sends complete in call order.
   * Rejects `ETIMEDOUT`, `AbortError`, `ERR_IPC_PEER_DEAD` (the consumer is
   * gone), `ERR_IPC_CLOSED`.
   */
  send(data: Uint8Array | ArrayBufferView | string, options?: ChannelWaitOptions): Promise<void> {
    try {
      const wait = waitOptions(options);
      const bytes = toBytes(data);
      // Aborted already: nothing is sent, as Node's own calls do nothing with an aborted signal.
      if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
      if (this.#sendsPending === 0 && this.trySend(bytes)) return Promise.resolve();
      const { signal, timeoutMs } = wait;
      const deadline = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
      const onTimeout = () => timedOut('futex', this.name, timeoutMs!);
      // Sends complete in call order: each waits for the one before it
      // (within its own deadline and signal), then for room.
      const turn = this.#sending;
      this.#sendsPending++;
      const done = queued(turn, wait, onTimeout)
        .then(() => this.#sendWaiting(bytes, signal, deadline, onTimeout));
      this.#sending = Promise.allSettled([turn, done]).then(() => undefined);
      return done.finally(() => this.#sendsPending--);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #sendWaiting(
    bytes: Uint8Array, signal: AbortSignal | undefined, deadline: number | undefined, onTimeout: () => Error,
  ): Promise<void> {
    while (!this.trySend(bytes)) {
      const left = deadline === undefined ? undefined : Math.max(0, Math.ceil(deadline - performance.now()));
      const { handle } = this.#producer();
      let r: number;
      try {
        r = await this.#waits.run(
          (t, done) => binding.channelWaitSpace(handle, bytes.byteLength, t, done), { signal, timeoutMs: left },
          'futex', this.name,
        );
      } catch (err) {
        throw (err as IpcError).errno === CHANNEL_PEER_DEAD || (err as IpcError).errno === CHANNEL_CORRUPT
          ? this.#error((err as IpcError).errno, 'send', bytes)
          : err;
      }
      if (r === TIMED_OUT) throw onTimeout();
    }
  }

  /**
   * Reserves room for a message of `length` bytes and returns a writable view
   * straight into the ring, or `null` when the ring is full: write the message
   * in place, then `slot.commit()`. Zero-copy for large messages.
   */
  reserve(length: number): ChannelSlot | null {
    validateInteger(length, 'length', 0, this.maxMessageSize);
    const { handle } = this.#producer();
    const at = channelReserve(handle, length);
    if (at === -EAGAIN) return null;
    if (at < 0) throw this.#error(at, 'send', length);
    const slot: ChannelSlot = {
      data: Buffer.from(this.#memory.buffer, at, length),
      commit: (committed = length) => {
        validateInteger(committed, 'length', 0, length);
        const current = this.#producer().handle;
        if (this.#slot !== slot) {
          throw stateError('ERR_IPC_SLOT_STALE', 'This slot was committed, or replaced by a later send or reserve');
        }
        this.#slot = null;
        channelCommit(current, committed);
      },
    };
    this.#slot = slot;
    return slot;
  }

  /**
   * Takes the next message if there is one: a copy in a new Buffer, or `null`
   * (nothing now, or the stream ended: {@link Channel.ended}). No syscall.
   * The first receive attaches this handle as the consumer: `ERR_IPC_BUSY`
   * when another one is attached. Messages of up to 4 KiB are copied into a
   * pool, as `Buffer.allocUnsafe()` does.
   */
  tryReceive(): Buffer | null {
    const calls = this.#pooledConsumer();
    const r = this.#copied(calls, calls.receive(null));
    if (typeof r !== 'number') return r;
    if (r === -EAGAIN || r === CHANNEL_ENDED) return null;
    throw this.#error(r, 'receive');
  }

  /**
   * Copies the next message into `target` without allocating: its length, or
   * `null` when there is none. A message longer than `target` stays in the
   * ring and throws `EMSGSIZE` (saying how long it is).
   */
  tryReceiveInto(target: Uint8Array): number | null {
    const same = this.#same(target);
    if (!same) validateUint8Array(target, 'target');
    const calls = this.#consumer();
    const r = (same ? calls.receive() : calls.receive(this.#into(target))) as number;
    if (r >= 0) return r;
    if (r === -EAGAIN || r === CHANNEL_ENDED) return null;
    throw this.#error(r, 'receive', target);
  }

  /**
   * Zero-copy receive: the next message as a Buffer *over the shared memory
   * itself* (the ring, or the lane's mailbox), or `null`. The view is valid
   * only until the next receive of any kind on this handle (or close): then
   * its bytes are given back to the producer and will be overwritten. Copy
   * what you keep.
   */
  tryReceiveView(): Buffer | null {
    const r = channelReceiveView(this.#consumer().handle);
    if (r >= 0) return Buffer.from(this.#memory.buffer, this.#meta[OFFSET], r);
    if (r === -EAGAIN || r === CHANNEL_ENDED) return null;
    throw this.#error(r, 'receive');
  }

  /**
   * Takes up to `max` messages at once (copies, as {@link Channel.tryReceive}
   * makes them); maybe none (nothing now, or the stream ended). An error
   * after some messages were taken is left for the next call.
   */
  receiveMany(max: number): Buffer[] {
    validateInteger(max, 'max', 1, 2 ** 31 - 1);
    const calls = this.#pooledConsumer();
    const out: Buffer[] = [];
    while (out.length < max) {
      const r = this.#copied(calls, calls.receive(null));
      if (typeof r !== 'number') {
        out.push(r);
      } else if (r === -EAGAIN || r === CHANNEL_ENDED || out.length > 0) {
        break;
      } else {
        throw this.#error(r, 'receive');
      }
    }
    return out;
  }

  /**
   * Copies up to `lengths.length` messages back to back into `target` in one
   * native call, allocating nothing: how many (maybe 0). Message `i` is
   * `lengths[i]` bytes long and starts where message `i - 1` ended. A message
   * that does not fit in what is left of `target` stays for the next call;
   * one that does not fit an empty `target` throws `EMSGSIZE`.
   */
  receiveManyInto(target: Uint8Array, lengths: Uint32Array): number {
    validateUint8Array(target, 'target');
    validateUint32Array(lengths, 'lengths');
    const calls = this.#consumer();
    const r = calls.receiveManyInto(target, lengths);
    if (r < 0 && r !== CHANNEL_ENDED) throw this.#error(r, 'receive', target);
    return r < 0 ? 0 : r;
  }

  /**
   * Takes the next message, blocking this thread until one comes: it spins for
   * `spinNs`, then sleeps on a futex (the producer wakes it only because it
   * said it sleeps: no syscall per message otherwise). For dedicated
   * low-latency processes. Returns `null` at the end of the stream (see
   * {@link Channel}). Throws `ETIMEDOUT`, or `ERR_IPC_PEER_DEAD` when a
   * producer went away without `close()` (it exited or was killed) and
   * everything it committed was received.
   */
  receiveSync(options?: ChannelReceiveSyncOptions): Buffer | null {
    return this.#receiveSync(null, options) as Buffer | null;
  }

  /**
   * {@link Channel.receiveSync} into `target`, as {@link Channel.tryReceiveInto}: the length, or `null` at the end of
   * the stream.
   */
  receiveSyncInto(target: Uint8Array, options?: ChannelReceiveSyncOptions): number | null {
    return this.#receiveSync(target, options) as number | null;
  }

  #receiveSync(target: Uint8Array | null, options: ChannelReceiveSyncOptions | undefined): Buffer | number | null {
    let spinNs = DEFAULT_SPIN_NS;
    let timeout = -1;
    if (options !== undefined) {
      const opts = validateOptions(options);
      ({ spinNs = DEFAULT_SPIN_NS } = opts);
      validateInteger(spinNs, 'options.spinNs', 0, MAX_SPIN_NS);
      timeout = syncTimeout(opts);
    }
    // The target after the options: a getter there may have detached it.
    if (target !== null && !this.#same(target)) validateUint8Array(target, 'target');
    let r: Buffer | number;
    if (target === null) {
      const calls = this.#pooledConsumer();
      r = this.#copied(calls, calls.receiveSync(spinNs, timeout, null));
    } else {
      const calls = this.#consumer();
      r = this.#same(target)
        ? calls.receiveSync(spinNs, timeout)
        : calls.receiveSync(spinNs, timeout, this.#into(target));
    }
    if (typeof r !== 'number' || r >= 0) return r;
    if (r === CHANNEL_ENDED) return null;
    if (r === -ETIMEDOUT) throw timedOut('futex', this.name, timeout);
    throw this.#error(r, 'receive', target);
  }

  /**
   * Takes the next message (a copy), waiting on the event loop: the consumer
   * says it sleeps, and the first producer to publish rings a doorbell (an
   * abstract Unix datagram socket watched with uv_poll). Resolves `null` at
   * the end of the stream (see {@link Channel}). Rejects `ETIMEDOUT`,
   * `AbortError`, `ERR_IPC_CLOSED`, and `ERR_IPC_PEER_DEAD` when a producer
   * went away without `close()` (it exited or was killed) and everything it
   * committed was received (checked every 50 ms).
   */
  receive(options?: ChannelWaitOptions): Promise<Buffer | null> {
    return this.#receiveWaiting(null, options) as Promise<Buffer | null>;
  }

  /**
   * {@link Channel.receive} into `target`, as {@link Channel.tryReceiveInto}:
   * resolves with the length, allocating nothing, or `null` at the end of
   * the stream. A message longer than `target` stays in the ring and rejects
   * with `EMSGSIZE`.
   */
  receiveInto(target: Uint8Array, options?: ChannelWaitOptions): Promise<number | null> {
    return this.#receiveWaiting(target, options) as Promise<number | null>;
  }

  #receiveWaiting(target: Uint8Array | null, options: ChannelWaitOptions | undefined): Promise<Buffer | number | null> {
    try {
      const wait = waitOptions(options);
      // The target after the options: a getter there may have detached it.
      if (target !== null) validateUint8Array(target, 'target');
      const calls = target === null ? this.#pooledConsumer() : this.#consumer();
      if (this.#poller === null) {
        this.#poller = this.#reclaim.poller = new Poller(this.#doorbell, 'recv', this.name);
        this.#loopRef.attach(this.#poller);
      }
      this.#receiving++;
      // The probe stops itself at a tick with no receive pending, rather than
      // after each receive: a timer made and cleared per message costs more
      // than the message.
      this.#probe ??= setInterval(() => {
        if (this.#receiving === 0) {
          clearInterval(this.#probe!);
          this.#probe = null;
        } else {
          const handle = this.#life.current;
          if (handle !== null) binding.channelProbe(handle);
        }
      }, PROBE_MS).unref();
      const attempt = () => {
        // Again at each attempt: the target, or the pool (where an engine can transfer it away), may have been
        // detached while the receive waited.
        if (target !== null) validateUint8Array(target, 'target');
        const now = target === null ? this.#pooledConsumer() : calls;
        const r = target === null ? this.#copied(now, now.receiveArmed(null)) : now.receiveArmed(target);
        if (typeof r !== 'number' || r >= 0) return r;
        if (r === -EAGAIN) return AGAIN;
        if (r === CHANNEL_ENDED) return null;
        throw this.#error(r, 'receive', target);
      };
      const onTimeout = () => timedOut('recv', this.name, wait.timeoutMs!);
      return this.#poller.wait(binding.UV_READABLE, attempt, wait, onTimeout).finally(() => {
        this.#receiving--;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Receives messages as they come, on the event loop (see
   * {@link Channel.receive}). The iteration ends at the end of the stream
   * (every producer closed: see {@link Channel}) and when this handle is
   * closed; it throws `ERR_IPC_PEER_DEAD` when a producer went away without
   * `close()`.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      let msg: Buffer | null;
      try {
        msg = await this.receive();
      } catch (err) {
        if (this.#life.closed) return;
        throw err;
      }
      if (msg === null) return;
      yield msg;
    }
  }

  /**
   * Detaches (peers see a goodbye, not a death), rejects pending waits with
   * `ERR_IPC_CLOSED`, closes the descriptors and unmaps. Views from
   * `tryReceiveView`/`reserve` read `byteLength 0` afterwards. Idempotent.
   */
  close(): void {
    // Pending waits end first (their threads told to stop, the watcher released before its descriptor closes).
    const handle = this.#life.end();
    if (handle === null) return;
    this.#calls = null;
    this.#slot = null;
    binding.channelClose(handle);
    forget(this);
    if (this.#probe !== null) clearInterval(this.#probe);
    this.#probe = null;
    for (const fd of this.#reclaim.fds) binding.close(fd);
    this.#memory.close();
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `Channel { name, fd, capacity, producers, role, lane, ended, closed }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const role = this.#producing && this.#consuming ? 'producer and consumer'
      : this.#producing ? 'producer'
      : this.#consuming ? 'consumer'
      : 'none yet';
    return inspectHandle('Channel', {
      name: this.name,
      fd: this.fd,
      capacity: this.#meta[CAPACITY],
      producers: this.#meta[LANES],
      role,
      lane: this.lane,
      ended: this.#meta[ENDED] === 1,
      ref: this.#loopRef.ref,
      closed: this.closed,
    }, depth, options);
  }

  /** Removes this channel's name (see {@link Channel.unlink}); nothing for an anonymous one. */
  unlink(): void {
    this.#memory.unlink();
  }

  /**
   * `bytes` (what toBytes made of the caller's `data`) for the binding; the
   * caller's Uint8Array is remembered as the last one sent from when its
   * pointer may be (see fixedByteLength).
   */
  #remember(data: unknown, bytes: Uint8Array): Uint8Array {
    const length = types.isUint8Array(data) ? fixedByteLength(data) : 0;
    this.#sent = length === 0 ? null : (data as Uint8Array);
    this.#sentLength = length;
    return bytes;
  }

  /** Whether `data` is the Uint8Array sent from last, unchanged (the binding knows where its bytes are). */
  #unchanged(data: unknown): boolean {
    const sent = this.#sent;
    return data === sent && sent !== null && byteLengthOf(sent) === this.#sentLength;
  }

  /** Whether `target` is the Uint8Array received into last, unchanged (the binding knows where its bytes are). */
  #same(target: unknown): boolean {
    const received = this.#received;
    return target === received && received !== null && byteLengthOf(received) === this.#receivedLength;
  }

  /** `target` (validated) for the binding, remembered as the last Uint8Array received into when its pointer may be. */
  #into(target: Uint8Array): Uint8Array {
    const length = fixedByteLength(target);
    this.#received = length === 0 ? null : target;
    this.#receivedLength = length;
    return target;
  }

  /** This handle's calls, attached as a producer (claiming a lane the first time). */
  #producer(): ChannelCalls {
    const calls = this.#calls;
    if (calls !== null && this.#producing) return calls;
    const fd = binding.channelClaimLane(this.#life.open);
    if (fd < 0) {
      if (fd === -EBUSY) {
        throw stateError('ERR_IPC_BUSY', `All ${this.producers} producer lanes of ${this.#label} are taken`);
      }
      throw this.#error(fd, 'socket');
    }
    this.#reclaim.fds.push(fd);
    this.#producing = true;
    return calls!;
  }

  /**
   * This handle's calls, attached as the consumer, with a pool for copying
   * receives that is there and not detached (a received Buffer's `.buffer`
   * is the pool; it is marked untransferable, and checked here anyway: no
   * JavaScript runs between this and the native copy).
   */
  #pooledConsumer(): ChannelCalls {
    const calls = this.#consumer() as ChannelCalls;
    const pool = this.#pool;
    if (pool === null || pool.byteLength === 0) this.#newPool(calls);
    return calls;
  }

  #newPool(calls: ChannelCalls): void {
    const pool = newPool();
    calls.pool(pool);
    this.#pool = pool;
  }

  /**
   * A copying receive's result: a Buffer (longer than the pool takes, made
   * natively), a length copied into the pool (made a Buffer here), or -errno.
   * A pool with no room left (-ENOBUFS: the message stays) is replaced, and
   * the message taken again, without waiting.
   */
  #copied(calls: ChannelCalls, r: Buffer | number): Buffer | number {
    if (typeof r !== 'number') return r;
    if (r === -ENOBUFS) {
      this.#newPool(calls);
      r = calls.receive(null);
      if (typeof r !== 'number') return r;
    }
    return r >= 0 ? pooledBuffer(this.#pool!, this.#meta[OFFSET], r) : r;
  }

  /** This handle's calls, attached as the consumer (claiming the role the first time). */
  #consumer(): ChannelCalls {
    const calls = this.#calls;
    if (calls !== null && this.#consuming) return calls;
    const fd = binding.channelClaimConsumer(this.#life.open);
    if (fd < 0) {
      if (fd === -EBUSY) throw stateError('ERR_IPC_BUSY', `${this.#label} already has a consumer`);
      throw this.#error(fd, 'bind');
    }
    this.#reclaim.fds.push(fd);
    this.#doorbell = fd;
    this.#consuming = true;
    return calls!;
  }

  /** The error for a negative result of a ring operation. */
  #error(r: number, syscall: string, data?: unknown): Error {
    if (r === CHANNEL_CORRUPT) return corrupt(this.#label, 'a peer wrote nonsense indices or lengths into it');
    if (r === CHANNEL_PEER_DEAD) {
      return stateError('ERR_IPC_PEER_DEAD', syscall === 'send'
        ? `The consumer of ${this.#label} is gone (it closed or died)`
        : `A producer of ${this.#label} went away without close() (it exited or was killed); everything it ` +
          'committed was received (a producer that calls close() before it exits is no error)');
    }
    if (r === -EMSGSIZE && syscall === 'send') {
      const length = typeof data === 'number' ? data : toBytes(data).byteLength;
      return new IpcError(
        r, syscall, this.name, `message of ${length} bytes exceeds maxMessageSize ${this.maxMessageSize}`,
      );
    }
    if (r === -EMSGSIZE) {
      return new IpcError(
        r, syscall, this.name,
        `message of ${this.#meta[NEEDED]} bytes does not fit the ${byteLengthOf(data as Uint8Array)}-byte target`,
      );
    }
    return new IpcError(r, syscall, this.name);
  }

  /** The lane this handle sends on, once it sent (for diagnostics and tests); -1 before. */
  get lane(): number {
    return this.#producing ? this.#meta[LANE] : -1;
  }
}

/**
 * Resolves when `turn` does, unless `wait` gives up first: then rejects with
 * `onTimeout()` or an AbortError.
 */
function queued(turn: Promise<void>, wait: WaitOptions, onTimeout: () => Error): Promise<void> {
  if (wait.signal === undefined && wait.timeoutMs === undefined) return turn;
  return new Promise<void>((resolve, reject) => {
    const disarm = armGiveUp(wait, onTimeout, reject);
    void turn.then(() => {
      disarm();
      resolve();
    });
  });
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface Channel extends Referable {}

/**
 * ProcessLink: the message link between a parent and a child process (the
 * replacement for `process.send`): two anonymous Channels, one each way, that
 * carry structured-clone values (`v8.serialize`), chunked when larger than a
 * ring message.
 *
 * Frames (the first byte of each Channel message says which):
 *
 * ```
 * HELLO  [1][pid: u32 LE]            sent once when a side attaches, so that
 *                                     its peer sees an end (or a death) even
 *                                     if nothing else was ever sent; says the
 *                                     sender's pid (where its memfds are)
 * WHOLE  [2][v8 serialization]        one value
 * FIRST  [3][total: uint48 LE][bytes] the start of a value too long for one
 * MORE   [4][bytes]                   message; the value is whole once `total`
 *                                     bytes came, and is then deserialized
 * ACK    [5][id: u32 LE]...           the receiver has mapped (or refused) the
 *                                     memfds `id` (one or more ids: ACKs that
 *                                     waited for room go together): their
 *                                     sender closes them
 * RAW    [6][bytes]                   bytes for the receiver's `onRaw` (internal:
 *                                     a Pool's compact answers), in order with
 *                                     the values
 * ```
 *
 * In a value's serialization, a Buffer, typed array or DataView of at least
 * 1 MiB is only a reference to a sealed memfd of the sender that holds its
 * bytes; the receiver maps it (lib/internal/link-transfer.ts says how).
 *
 * A value's frames follow one another in the ring (one producer each way, and
 * Channel sends complete in call order). A chunked value whose send gave up
 * half-way (timeout, abort) is left incomplete: the receiver drops it when
 * the next value starts.
 *
 * Bounds against a peer that does not read or floods: ACKs waiting for room
 * are ids in one array, sent as one frame at a time; past
 * {@link MAX_UNSENT_ACKS} of them the link is corrupt (closed). Values held
 * for a later listener are at most {@link MAX_HELD} (or
 * {@link MAX_HELD_BYTES} of serialization); past that, with nobody listening,
 * no frame is taken (they wait in the ring, and the peer's sends wait for
 * room), and sends waiting for their ACKs reject.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { constants as bufferConstants } from 'node:buffer';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { Channel } from './channel';
import { closedError, corrupt, stateError } from './errors';
import type { WaitOptions } from './options';
import { assertInternal, INTERNAL, type Internal } from './internal/construct';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { deserializeFromLink, serializeForLink, Transfers, type TransferPeer } from './internal/link-transfer';
import { implementRef, LoopRef, socketPart, type Referable } from './internal/loop-ref';
import { validateOptions } from './internal/validate';
import { waitOptions } from './internal/wait';

const HELLO = 1;
const WHOLE = 2;
const FIRST = 3;
const MORE = 4;
const ACK = 5;
const RAW = 6;
/** Bytes of the buffer a spin takes frames into, many at a time. */
const BATCH_BYTES = 64 * 1024;
/** Bytes before a FIRST frame's data: the tag and the value's total length (48 bits). */
const FIRST_HEADER = 7;
const WHOLE_TAG = new Uint8Array([WHOLE]);
/** Bytes of a HELLO that says its pid, and of an ACK. */
const HELLO_LENGTH = 5;
const ACK_LENGTH = 5;
const EMPTY = new Uint8Array(0);
const LABEL = 'The process link';
/**
 * How long, in milliseconds, the receive loop polls the ring for a reply after this side sent a value, before it
 * sleeps on the event loop: 1 ms. A wake-up through the event loop costs 15-75 µs on an idle machine like this one
 * (PERF-NOTES.md), a poll well under one; but a peer that is descheduled for a moment (a garbage collection, another
 * thread taking its core) answers late, and a spin shorter than that moment misses it and pays the wake-up on top.
 * Measured with the pool bench (a round trip each way): 50 µs caught the reply in about half the round trips
 * (p50 57-60 µs), 0.5 ms in 80-90 % (p90 ~100 µs), 1 ms in more than 90 % (p50 9.5 µs, p90 17 µs). A link whose
 * replies come later than this stops spinning (see {@link MAX_BACKOFF_STEPS}), so a slow peer costs at most one
 * spin in 64.
 */
const SPIN_MS = 1;
/**
 * The longest, in milliseconds, the receive loop holds the event loop at once while it spins, however busy the
 * link: it then lets one turn of the event loop run (timers, I/O) and goes on. 50 µs: a turn with nothing to do
 * costs a few µs.
 */
const HOLD_MS = 0.05;
/**
 * Polls made, a microtask turn apart, after the last frame even when nothing was sent lately: a listener's reply is
 * often a few promise hops away (an async handler, an iterator), and should find the loop spinning, not asleep.
 */
const GRACE_POLLS = 8;
/**
 * After `n` spins in a row that caught nothing, the next `2^n - 1` only take what is there (and a send does not wake
 * a sleeping loop), `n` at most 6: a link whose replies come slower than {@link SPIN_MS} (a busy machine, slow
 * handlers) spends at most one spin in 64 on waiting, and finds out when replies are fast again. A spin that caught
 * its frame only after {@link LATE_MS} counts as one that caught nothing: a peer that answers every 0.9 ms would
 * otherwise keep this side spinning nine tenths of the time.
 */
const MAX_BACKOFF_STEPS = 6;
/** See {@link MAX_BACKOFF_STEPS}: a quarter of {@link SPIN_MS}. */
const LATE_MS = SPIN_MS / 4;
/**
 * ACK ids that waited for room (the peer does not read its ring) before the link is closed as corrupt: 16,384, four
 * values' worth of references (a value holds at most 4,096). A peer that reads owes none for long; one that sends
 * references and never reads would otherwise cost this process memory without end.
 */
const MAX_UNSENT_ACKS = 16384;
/**
 * Values received while nobody listened that are held for the next listener, at most: 10,000, or
 * {@link MAX_HELD_BYTES} of their serializations. Past that, with nobody listening, frames stay in the ring.
 */
const MAX_HELD = 10000;
/** See {@link MAX_HELD}: 64 MiB. */
const MAX_HELD_BYTES = 64 * 1024 * 1024;

/**
 * The links open in this process, closed when it exits normally (also through `process.exit()`), so that the peer
 * sees a goodbye rather than a death. One 'exit' listener for all of them. Held weakly: a link nobody can reach any
 * more (dropped without close(), nothing pending on it) is collected, and its Channels' finalizers close their
 * descriptors; a link that receives is reachable from its pending receive.
 */
const openLinks = new Set<WeakRef<ProcessLink>>();
const collectedLinks = new FinalizationRegistry<WeakRef<ProcessLink>>((ref) => openLinks.delete(ref));
let exitHooked = false;
function closeAllOnExit(ref: WeakRef<ProcessLink>): void {
  openLinks.add(ref);
  collectedLinks.register(ref.deref()!, ref, ref);
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const each of openLinks) each.deref()?.close();
  });
}

/** An ACK frame for `ids`. */
function ackFrame(ids: readonly number[]): Buffer {
  const frame = Buffer.allocUnsafe(1 + 4 * ids.length);
  frame[0] = ACK;
  for (let i = 0; i < ids.length; i++) frame.writeUInt32LE(ids[i], 1 + 4 * i);
  return frame;
}

/** Runs `call`; what it throws is thrown again on the next tick (uncaught), not into the receive loop. */
function uncaughtFrom(call: () => unknown): void {
  try {
    call();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** Options of {@link ProcessLink.create}. */
export interface ProcessLinkCreateOptions {
  /**
   * Bytes of ring each way: a power of two from 64 to 2^30 (as
   * `Channel.create`). Default 1 MiB. Values longer than a ring message
   * (`capacity / 2 - 8` bytes, its tag byte included) travel in chunks.
   */
  capacity?: number;
}

/**
 * A message link between a parent and a child process, carrying any value
 * `v8.serialize` takes (objects, Maps, Sets, Dates, RegExps, Buffers, typed
 * arrays, BigInts, errors, cycles), as `process.send` with
 * `serialization: 'advanced'` does, through shared memory.
 *
 * The parent calls {@link ProcessLink.create} and passes
 * {@link ProcessLink.childFds} to the child (`spawn(..., { fds: { 3: a, 4: b } })`);
 * the child calls `ProcessLink.adopt(3, 4)`.
 *
 * **Receiving** starts when a `'message'` listener is attached or iteration
 * (`for await`) starts, and pauses when the last one goes (messages wait in
 * the ring meanwhile). A pending receive keeps the process alive unless
 * `unref()` was called, as `process.channel.unref()` does.
 * For a reply's sake, a side that just sent polls the ring for up to 1 ms
 * (yielding to promise callbacks, and letting the event loop turn every
 * 50 µs) before it sleeps on the event loop; a link whose replies take
 * longer soon stops doing so, and an idle link uses no CPU.
 *
 * **End.** `'close'` is emitted once: when the peer closes its end (or exits:
 * a process closes its links when it exits normally, `process.exit()`
 * included), when this side calls `close()`, or after a peer's death.
 * A peer that dies (killed, or exits without closing) is an `'error'` with
 * `code: 'ERR_IPC_PEER_DEAD'`, then `'close'`.
 *
 * **Large views.** A Buffer, typed array or DataView of 1 MiB or more
 * travels in a sealed memfd of its own (one copy, made at `send()`); the
 * receiver gets a view of a private mapping of it, not a copy (its writes
 * stay its own). A received view sent on (or back) before this process
 * wrote to it goes as the same memfd, with no copy at all. A process keeps
 * one descriptor open per large view it received (at most 256, the oldest
 * closed first; one per SharedMemory memfd it maps, at most 1,024: a
 * reference to one more is refused with ERR_IPC_CORRUPT) until the view is
 * collected. The memfd lives in the sending process until the receiver
 * has mapped it, so `send()` of such a value resolves only then (as a value
 * chunked through the ring resolves once the receiver has read most of it):
 * `await send()` and exiting is safe; a sender that exits or dies without
 * waiting loses the value (the receiver reports `ERR_IPC_CORRUPT`). Both
 * processes must see each other in /proc (same uid and pid namespace).
 * Plain ArrayBuffers travel in the ring.
 *
 * **Shared memory.** A view (any size) of a `SharedMemory` whose size is
 * sealed (`SharedMemory.anonymous(size, { seal: true })`) travels by
 * reference, never copied: the receiver maps the same memfd shared and gets
 * a view of the same bytes at the same offset and length, so writes on
 * either side are seen by the other (as a SharedArrayBuffer's through
 * postMessage). Sent on or back it stays the same memory, and a memfd the
 * receiver already maps is not mapped again. A read-only handle's view
 * arrives mapped private: the receiver sees the memory, its own writes stay
 * its own. Closing the SharedMemory right after `send()` is safe. A memfd
 * whose size is not sealed is refused as a reference (`ERR_IPC_CORRUPT`: a
 * peer could shrink it under the mapping); views of a named segment (which
 * cannot be sealed) or of an unsealed anonymous one are copied as any other.
 *
 * **Hostile peers.** A message that cannot be deserialized (garbage, a
 * truncated value, an unknown frame) is an `'error'` with
 * `code: 'ERR_IPC_CORRUPT'`; it is dropped and the link goes on. `'error'` is
 * emitted only while someone listens for it (an iteration does): a peer
 * cannot crash this process through the link. Nor can it make it hold
 * without bound: values received while nobody listens are held up to
 * 10,000 (or 64 MiB), then left in the ring (the peer waits for room); a
 * peer that leaves 16,384 ACKs it is owed unread is `ERR_IPC_CORRUPT`, and
 * the link closes.
 */
export class ProcessLink extends EventEmitter implements AsyncIterable<unknown>, Disposable {
  static {
    implementRef(this, (self) => (#loopRef in self ? (self as ProcessLink).#loopRef : undefined));
  }

  /** The channel this side sends on (its producer). */
  readonly #out: Channel;
  /** The channel this side receives from (its consumer). */
  readonly #in: Channel;
  readonly #parent: boolean;
  readonly #loopRef = new LoopRef();
  #closed = false;
  #reading = false;
  /** Aborts the receive loop's sleep when the last listener goes (the loop pauses), or a send wakes the loop. */
  #pause: AbortController | null = null;
  /** Whether the receive loop sleeps on the event loop; whether a send aborted that sleep (to spin), not a pause. */
  #asleep = false;
  #kicked = false;
  /** Sends made so far, and when the last one was: the receive loop waits for a reply up to SPIN_MS after it. */
  #sends = 0;
  #sentAt = -Infinity;
  /** Spins that caught nothing, in a row (at most {@link MAX_BACKOFF_STEPS}), and how many spins to skip now. */
  #missed = 0;
  #backoff = 0;
  /** A chunked value being put together: its chunks, how many bytes they hold, and how many it will have. */
  #chunks: Buffer[] = [];
  #have = 0;
  #total = -1;
  /** Values received while nobody listened, for the next listener. */
  readonly #held: unknown[] = [];
  /** The serialized length of each value held, and their sum (see {@link MAX_HELD}). */
  readonly #heldSizes: number[] = [];
  #heldBytes = 0;
  /** ACK ids that waited for room, and whether a send of some waits for room now (one at a time). */
  #acks: number[] = [];
  #acking = false;
  /** This link in {@link openLinks}. */
  readonly #openRef: WeakRef<ProcessLink> = new WeakRef(this);
  /** Sends queued in the Channel (waiting for room): a RAW frame must not pass them. */
  #queued = 0;
  /** The tagged copy a RAW frame is made in (one send at a time: reused), and the view of it sent last. */
  #raw: Buffer | null = null;
  #rawView: Buffer | null = null;
  /**
   * Takes each RAW frame's bytes (a view valid only during the call) as it is received: in order with the values
   * while a `'message'` listener is attached (values that came with none are held, RAW frames are not). A RAW frame
   * with no taker is reported as corrupt. @internal
   */
  onRaw: ((bytes: Buffer) => void) | null = null;
  /** Where a spin takes many frames at once (see #takeMany). */
  #batch: Buffer | null = null;
  readonly #lengths = new Uint32Array(64);
  /** The memfds this side sent, open until the peer ACKs them. */
  readonly #transfers = new Transfers();
  /**
   * The peer's pid when the one who made the link knows it (a Process its child's, a child its parent's, a thread
   * worker's link this process's own): references are opened in that pid's /proc whatever the peer says, and a HELLO
   * naming another pid is refused (`ERR_IPC_CORRUPT`); else 0, and the first HELLO's pid is the peer's. Set before
   * receiving starts. @internal
   */
  peerPid = 0;
  /** The pid the peer's first HELLO said (0 before it). */
  #helloPid = 0;
  /** Where the peer's memfds are (its pid: {@link ProcessLink.peerPid}, or its HELLO's), and how to ACK one. */
  readonly #peer: TransferPeer;

  /** @internal */
  constructor(key: Internal, out: Channel, incoming: Channel, parent: boolean) {
    assertInternal(key);
    super();
    this.#out = out;
    this.#in = incoming;
    this.#parent = parent;
    const pid = () => (this.peerPid > 0 ? this.peerPid : this.#helloPid);
    this.#peer = {
      get pid() {
        return pid();
      },
      ack: (id) => this.#ack(id),
    };
    this.#loopRef.attach(socketPart(out));
    this.#loopRef.attach(socketPart(incoming));
    // Attach at once as the producer of one channel and the consumer of the other, so that the
    // peer sees this side's close or death even if it never sends or receives. A receive into an
    // empty target claims the consumer role and takes nothing (a waiting message stays:
    // EMSGSIZE). Errors here (the peer already gone) are met again by the first send or receive.
    try {
      const hello = Buffer.alloc(HELLO_LENGTH);
      hello[0] = HELLO;
      hello.writeUInt32LE(process.pid, 1);
      out.trySend(hello);
    } catch {
      // see above
    }
    try {
      incoming.tryReceiveInto(EMPTY);
    } catch {
      // see above
    }
    closeAllOnExit(this.#openRef);
    this.on('newListener', (event) => {
      if (event === 'message') process.nextTick(() => this.#start());
    });
    // Pausing waits a turn of the loop: a caller that takes values one at a time with once('message') removes the
    // last listener and adds the next one straight after, and should not stop and restart the receive each time.
    this.on('removeListener', (event) => {
      if (event === 'message' && !this.#reads()) {
        setImmediate(() => {
          if (!this.#reads()) this.#pause?.abort();
        });
      }
    });
  }

  /**
   * The parent's side: two anonymous Channels (parent to child, child to
   * parent) of `capacity` bytes each. Pass {@link ProcessLink.childFds} to the
   * child, which calls {@link ProcessLink.adopt}.
   */
  static create(options?: ProcessLinkCreateOptions): ProcessLink {
    const { capacity } = validateOptions(options);
    const toChild = Channel.create({ capacity });
    let toParent: Channel;
    try {
      toParent = Channel.create({ capacity });
    } catch (err) {
      toChild.close();
      throw err;
    }
    return new ProcessLink(INTERNAL, toChild, toParent, true);
  }

  /**
   * The child's side, from the two descriptors it inherited, in the order
   * {@link ProcessLink.childFds} lists them. The link owns them from then on
   * (both are closed if either cannot be adopted, as `Channel.fromFd` says).
   */
  static adopt(toChildFd: number, toParentFd: number): ProcessLink {
    const toChild = Channel.fromFd(toChildFd);
    let toParent: Channel;
    try {
      toParent = Channel.fromFd(toParentFd);
    } catch (err) {
      toChild.close();
      throw err;
    }
    return new ProcessLink(INTERNAL, toParent, toChild, false);
  }

  /**
   * The parent's two descriptors to pass to the child, in the order
   * {@link ProcessLink.adopt} takes them: `spawn(node, [file], { fds: { 3: toChild, 4: toParent } })`.
   * Both are close-on-exec here; the parent keeps its own.
   */
  childFds(): [toChild: number, toParent: number] {
    if (this.#closed) throw closedError(LABEL);
    return this.#parent ? [this.#out.fd, this.#in.fd] : [this.#in.fd, this.#out.fd];
  }

  /** Whether `close()` was called, or the link ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `value` (serialized with `v8.serialize`), waiting for room in the
   * ring without blocking the event loop; sends arrive in call order. A
   * value longer than a ring message goes in chunks (as many ring messages
   * as it takes; the serialized copy is made whole first). Rejects, nothing
   * sent: a value `v8.serialize` refuses (a function, a symbol, a Proxy, a
   * getter that throws) with a `DataCloneError`, `code: 'ERR_IPC_DATA_CLONE'`;
   * a closed link with `ERR_IPC_CLOSED`; a large view whose memfd cannot be
   * made with the `IpcError` (`EMFILE`, `ENOMEM`, `ENOSPC`). Rejects `ETIMEDOUT`, `AbortError`,
   * and `ERR_IPC_PEER_DEAD` once the peer closed or died. A value with large
   * views rejects `ERR_IPC_PEER_OVERRUN` when, while it waits for the peer
   * to map them, the peer sends 10,000 values (or 64 MiB) and nobody here
   * listens: its memfds are closed, and the peer may not get it.
   */
  send(value: unknown, options?: WaitOptions): Promise<void> {
    try {
      if (this.#closed) throw closedError(LABEL);
      const wait = waitOptions(options);
      const before = this.#transfers.added;
      const frames = this.#frames(value);
      this.#takeAcks();
      this.#wake();
      // All at once: the Channel queues them in call order, so no other value's frames come between.
      let sent: Promise<void>;
      if (frames.length === 1 && this.#queued === 0 && this.#out.trySend(frames[0])) {
        sent = Promise.resolve();
      } else {
        // Queued in the Channel until there is room: counted, so that no RAW frame passes it.
        this.#queued++;
        sent = (frames.length === 1
          ? this.#out.send(frames[0], wait)
          : Promise.all(frames.map((frame) => this.#out.send(frame, wait))).then(() => undefined)
        ).finally(() => this.#queued--);
      }
      const added = this.#transfers.added;
      if (added === before) return sent;
      // Its large views live in this process's memfds: the value is the peer's once it has mapped them (their ACKs
      // come in through the receive loop, which runs until then even with no listener).
      this.#start();
      // Asked now: a link closed before the ring send resolves must still reject it.
      const settled = Promise.all([sent, this.#transfers.settled(added)]).then(() => undefined);
      // The receive loop stopped already (values held to their bound, nobody listening): no ACK can come.
      if (!this.#wanted() && this.#heldFull()) this.#overrun();
      return settled;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends `bytes` as one RAW frame if it can go now, in order after every value sent before: `true`; `false`, nothing
   * sent, when the ring is full, a value waits for room, or `bytes` is longer than a ring message less one byte.
   * No serialization, no promise. @internal
   */
  trySendRaw(bytes: Uint8Array): boolean {
    if (this.#closed) throw closedError(LABEL);
    const max = this.#out.maxMessageSize;
    if (this.#queued > 0 || bytes.byteLength >= max) return false;
    const raw = (this.#raw ??= Buffer.allocUnsafe(max));
    raw[0] = RAW;
    raw.set(bytes, 1);
    // The same view as last time when the length is the same (a pool's compact frames mostly are): the Channel
    // knows it from its last send, and neither checks it again nor passes it to the binding.
    const length = bytes.byteLength + 1;
    if (this.#rawView?.byteLength !== length) this.#rawView = raw.subarray(0, length);
    if (!this.#out.trySend(this.#rawView!)) return false;
    this.#wake();
    return true;
  }

  /** `value` as frames: one WHOLE, or a FIRST and MOREs each at most a ring message long. */
  #frames(value: unknown): Buffer[] {
    const data = serializeForLink(this.#transfers, WHOLE_TAG, value);
    const max = this.#out.maxMessageSize;
    if (data.byteLength <= max) return [data];
    const body = data.subarray(1);
    const first = Buffer.allocUnsafe(max);
    first[0] = FIRST;
    first.writeUIntLE(body.byteLength, 1, 6);
    let at = body.copy(first, FIRST_HEADER, 0, max - FIRST_HEADER);
    const frames = [first];
    while (at < body.byteLength) {
      const n = Math.min(max - 1, body.byteLength - at);
      const frame = Buffer.allocUnsafe(n + 1);
      frame[0] = MORE;
      body.copy(frame, 1, at, at + n);
      frames.push(frame);
      at += n;
    }
    return frames;
  }

  /**
   * Memfds wait for their ACKs, and nothing receives (no listener): the frames waiting in the ring are taken now, so
   * that the ACKs among them close their memfds (values among them are held for the next listener, as values that
   * come while nobody listens are). Errors (the peer gone) are the next receive's to report.
   */
  #takeAcks(): void {
    if (this.#transfers.size === 0 || this.#reading || this.#closed) return;
    try {
      this.#drain(() => this.#reads());
    } catch {
      // see above
    }
  }

  /** Takes the frames waiting in the ring, a batch at a time (see #takeMany), while `more()` says so. */
  #drain(more: () => boolean): void {
    while (more() && this.#takeMany(this.#in) > 0);
  }

  /**
   * This side mapped (or refused) the peer's memfd `id`: the peer may close it. An ACK that finds no room waits with
   * the others in one array, sent by one pending send (as many ids a frame as a ring message holds): a peer that
   * never reads costs 4 bytes an ACK, and past {@link MAX_UNSENT_ACKS} the link is closed as corrupt.
   */
  #ack(id: number): void {
    if (this.#closed) return;
    try {
      if (this.#acks.length === 0 && !this.#acking && this.#out.trySend(ackFrame([id]))) return;
    } catch {
      // The peer is gone, or this side closed: the memfd closes with the peer's link.
      return;
    }
    this.#acks.push(id);
    if (this.#acks.length > MAX_UNSENT_ACKS) {
      this.#report(corrupt(LABEL, `the peer left ${MAX_UNSENT_ACKS} ACKs unread while it sent references`));
      this.close();
    } else if (!this.#acking) {
      this.#sendAcks();
    }
  }

  /** Sends the ACKs that waited, one frame at a time, each once there is room. */
  #sendAcks(): void {
    const ids = this.#acks.splice(0, (this.#out.maxMessageSize - 1) >>> 2);
    this.#acking = true;
    this.#out.send(ackFrame(ids)).then(() => {
      this.#acking = false;
      if (this.#acks.length > 0 && !this.#closed) this.#sendAcks();
    }, () => {
      // The peer is gone, or this side closed: its memfds close with its link.
      this.#acking = false;
      this.#acks = [];
    });
  }

  /** A send: the receive loop spins on, or, asleep, is woken to spin (a reply may be on its way). */
  #wake(): void {
    this.#sends++;
    this.#sentAt = performance.now();
    if (!this.#asleep || this.#kicked || this.#backoff > 0) return;
    this.#kicked = true;
    this.#pause!.abort();
  }

  #wanted(): boolean {
    return !this.#closed && this.listenerCount('message') > 0;
  }

  /**
   * Whether the receive loop must run: for the listeners, or for the ACKs of memfds this side sent while there is
   * room to hold the values that come with them.
   */
  #reads(): boolean {
    return this.#wanted() || (!this.#closed && this.#transfers.size > 0 && !this.#heldFull());
  }

  #heldFull(): boolean {
    return this.#held.length >= MAX_HELD || this.#heldBytes >= MAX_HELD_BYTES;
  }

  #start(): void {
    this.#deliver();
    if (this.#reading || !this.#reads()) return;
    this.#reading = true;
    void this.#read();
  }

  /**
   * The receive loop: spins (see {@link SPIN_MS}) while values come or go, and sleeps on the event loop once a spin
   * found nothing; a send made while it sleeps wakes it to spin again (the reply is then taken without an event-loop
   * wake-up). Frames are handled in ring order wherever they are taken (here a batch at a time).
   */
  async #read(): Promise<void> {
    // One controller for the run, and a new one only after a send woke the loop (making one per receive costs
    // microseconds a message).
    let pause = (this.#pause = new AbortController());
    let options = { signal: pause.signal };
    try {
      while (this.#reads()) {
        await this.#spin();
        if (!this.#reads()) break;
        let frame: Buffer | null;
        this.#asleep = true;
        try {
          frame = await this.#in.receive(options);
        } catch (err) {
          if (!this.#kicked || (err as Error).name !== 'AbortError') throw err;
          this.#kicked = false;
          pause = this.#pause = new AbortController();
          options = { signal: pause.signal };
          continue;
        } finally {
          this.#asleep = false;
        }
        if (frame === null) return this.close();
        this.#frame(frame);
      }
    } catch (err) {
      if (this.#closed || (err as Error).name === 'AbortError') return;
      this.#report(err as Error);
      this.close();
    } finally {
      this.#pause = null;
      this.#kicked = false;
      this.#reading = false;
      // A listener added (or a large view sent) while the paused receive was being given up.
      if (this.#reads()) process.nextTick(() => this.#start());
    }
  }

  /**
   * Takes the frames there are; then, if this side sent a value in the last {@link SPIN_MS} (a reply may be on its
   * way), polls for more without sleeping, yielding to microtasks between polls (so that what the listeners do with
   * a value, a reply sent, runs at once), until {@link SPIN_MS} passed with nothing sent. A side that only receives
   * takes what is there at each wake-up and sleeps again.
   * The event loop is let run (a setImmediate turn) every {@link HOLD_MS}, however busy the link. A spin that
   * caught nothing makes the next ones only take what is there (see {@link MAX_BACKOFF_STEPS}): on a machine too busy
   * to run both sides at once, spinning only takes the peer's core. Between two empty polls it yields the CPU
   * (sched_yield), which costs well under a microsecond when no other thread wants it.
   */
  async #spin(): Promise<void> {
    const incoming = this.#in;
    const spinning = this.#backoff === 0;
    if (!spinning) this.#backoff--;
    let sends = this.#sends;
    let last = this.#sentAt;
    let held = performance.now();
    let caught = false;
    let late = false;
    let polled = false;
    let grace = GRACE_POLLS;
    while (this.#reads()) {
      const took = this.#takeMany(incoming) > 0;
      const now = performance.now();
      if (took) {
        if (polled && now - last > LATE_MS) late = true;
        else caught ||= polled;
        grace = GRACE_POLLS;
      }
      if (sends !== this.#sends) {
        sends = this.#sends;
        last = now;
      }
      if (!took) {
        // Nothing sent lately (a receiver only: it drains and sleeps), or the reply is slow in coming.
        if (!spinning || now - last > SPIN_MS) {
          if (grace-- > 0) {
            await undefined;
            continue;
          }
          if (polled) this.#backedOff(caught && !late);
          return;
        }
        polled = true;
      }
      if (now - held > HOLD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        held = performance.now();
      } else if (!took) {
        // Polite: on a machine with more runnable threads than CPUs, the peer that sends the reply may be waiting
        // for this one's.
        binding.processYield();
        await undefined;
      }
    }
  }

  /**
   * Takes the frames there are, many in one native call into a reused buffer (a RAW frame is handed over from
   * there; the others are copied, as they are kept): how many (0: none now).
   */
  #takeMany(incoming: Channel): number {
    const batch = (this.#batch ??= Buffer.allocUnsafe(BATCH_BYTES));
    const lengths = this.#lengths;
    let n: number;
    try {
      n = incoming.receiveManyInto(batch, lengths);
    } catch (err) {
      // A frame longer than the batch buffer: taken alone.
      if ((err as { code?: unknown }).code !== 'EMSGSIZE') throw err;
      const frame = incoming.tryReceive();
      if (frame === null) return 0;
      this.#frame(frame);
      return 1;
    }
    let at = 0;
    for (let i = 0; i < n; i++) {
      const start = at;
      at += lengths[i];
      // A RAW frame is handed over as a view of the batch, without its tag (one view made, nothing copied).
      if (lengths[i] > 0 && batch[start] === RAW && this.onRaw !== null) this.#rawFrame(batch.subarray(start + 1, at));
      else this.#frame(Buffer.from(batch.subarray(start, at)));
    }
    return n;
  }

  /** After a spin that waited: whether it caught something decides how many of the next ones only drain. */
  #backedOff(caught: boolean): void {
    this.#missed = caught ? Math.max(this.#missed - 1, 0) : Math.min(this.#missed + 1, MAX_BACKOFF_STEPS);
    this.#backoff = 2 ** this.#missed - 1;
  }

  /** One frame: a value is emitted once whole; nonsense is reported and dropped. */
  #frame(frame: Buffer): void {
    const tag = frame.byteLength === 0 ? 0 : frame[0];
    if (tag === HELLO && frame.byteLength === 1) return;
    if (tag === HELLO && frame.byteLength === HELLO_LENGTH) {
      // A peer is one process: a HELLO naming another would have this side open another process's descriptors.
      const pid = frame.readUInt32LE(1);
      const known = this.#peer.pid;
      if (known === 0 || pid === known) this.#helloPid = pid;
      else this.#report(corrupt(LABEL, `a HELLO says pid ${pid}, but the peer is pid ${known}: refused`));
      return;
    }
    // Between any two frames, even the chunks of a value: the peer's ACKs do not wait for its sends.
    if (tag === ACK && frame.byteLength >= ACK_LENGTH && (frame.byteLength - 1) % 4 === 0) {
      for (let at = 1; at < frame.byteLength; at += 4) this.#transfers.release(frame.readUInt32LE(at));
      return;
    }
    if (tag === RAW && this.onRaw !== null) return this.#rawFrame(frame.subarray(1));
    let whole: Buffer | null = null;
    if (tag === WHOLE) {
      this.#dropPartial();
      whole = frame.subarray(1);
    } else if (tag === FIRST && frame.byteLength > FIRST_HEADER) {
      this.#dropPartial();
      const total = frame.readUIntLE(1, 6);
      if (total > bufferConstants.MAX_LENGTH) {
        return this.#report(corrupt(LABEL, `a value of ${total} bytes was announced (Buffers hold at most ${
          bufferConstants.MAX_LENGTH})`));
      }
      this.#total = total;
      whole = this.#chunk(frame.subarray(FIRST_HEADER));
    } else if (tag === MORE && this.#total >= 0) {
      whole = this.#chunk(frame.subarray(1));
    } else {
      this.#dropPartial();
      return this.#report(corrupt(LABEL, `a message of ${frame.byteLength} bytes is not a frame (tag ${tag})`));
    }
    if (whole === null || this.#closed) return;
    let value: unknown;
    try {
      value = deserializeFromLink(whole, this.#peer);
    } catch (cause) {
      // A reference refused (lib/internal/link-transfer.ts) says what was wrong itself.
      if ((cause as { code?: unknown }).code === 'ERR_IPC_CORRUPT') return this.#report(cause as Error);
      const err = corrupt(LABEL, `a value could not be deserialized (${(cause as Error).message})`);
      return this.#report(Object.assign(err, { cause }));
    }
    this.#held.push(value);
    this.#heldSizes.push(whole.byteLength);
    this.#heldBytes += whole.byteLength;
    this.#deliver();
    // Nobody listens and the values held fill their bound: the receive loop stops (the peer waits for room), and
    // the ACKs this side's sends wait for may be behind values in the ring, never to be reached: those sends reject.
    if (this.#transfers.size > 0 && !this.#wanted() && this.#heldFull()) this.#overrun();
  }

  /** Fails the sends waiting for ACKs that the stopped receive loop cannot reach (see #frame), closing their memfds. */
  #overrun(): void {
    const what = `${this.#held.length} values (${this.#heldBytes} bytes) that nobody received`;
    this.#transfers.releaseAll(stateError('ERR_IPC_PEER_OVERRUN',
      `${LABEL}'s peer sent ${what} before it ACKed the large views sent to it: those sends may not have arrived`));
  }

  /** A RAW frame's bytes (without its tag) for `onRaw`. */
  #rawFrame(bytes: Buffer): void {
    this.#dropPartial();
    // A batch taken at once (#takeMany) may go on after a listener closed the link: nothing is handed over then.
    if (this.#closed || this.onRaw === null) return;
    // The taker's exception is the taker's (as a listener's is): uncaught, and the link goes on.
    const onRaw = this.onRaw;
    uncaughtFrom(() => onRaw(bytes));
  }

  /**
   * Emits the values held, in order, while someone listens. A value is held when it was received after the last
   * listener went (the receive pending then is given up a turn later): it waits for the next listener.
   */
  #deliver(): void {
    const held = this.#held;
    while (held.length > 0 && this.#wanted()) {
      const value = held.shift();
      this.#heldBytes -= this.#heldSizes.shift()!;
      // A listener's exception is the listener's: uncaught, as it would be from any event.
      uncaughtFrom(() => this.emit('message', value));
    }
  }

  /** Adds a chunk to the value being put together: the value once whole, else null. */
  #chunk(bytes: Buffer): Buffer | null {
    this.#chunks.push(bytes);
    this.#have += bytes.byteLength;
    if (this.#have < this.#total) return null;
    const total = this.#total;
    const whole = this.#have === total ? Buffer.concat(this.#chunks, total) : null;
    this.#dropPartial();
    if (whole === null) this.#report(corrupt(LABEL, `a chunked value ran past its announced ${total} bytes`));
    return whole;
  }

  #dropPartial(): void {
    // Nothing being put together (the common case: every frame but a chunked value's): no new array.
    if (this.#total < 0) return;
    this.#chunks = [];
    this.#have = 0;
    this.#total = -1;
  }

  /** `'error'`, if anyone listens. */
  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /**
   * Values as they come (receiving starts with the iteration), until the
   * link closes; throws the first `'error'` (e.g. `ERR_IPC_PEER_DEAD`), after
   * the values that came before it. Values received but not yet taken when
   * the loop stops early are dropped.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    const queue: unknown[] = [];
    let head = 0;
    let failure = null as { error: unknown } | null;
    let ended = this.#closed as boolean;
    let wake: (() => void) | null = null;
    const poke = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const onMessage = (value: unknown) => {
      queue.push(value);
      poke();
    };
    const onError = (error: unknown) => {
      failure ??= { error };
      poke();
    };
    const onClose = () => {
      ended = true;
      poke();
    };
    this.on('error', onError).on('close', onClose).on('message', onMessage);
    try {
      for (;;) {
        if (head < queue.length) {
          const value = queue[head++];
          if (head === queue.length) queue.length = head = 0;
          yield value;
        } else if (failure !== null) {
          throw failure.error;
        } else if (ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
    } finally {
      this.off('message', onMessage).off('error', onError).off('close', onClose);
    }
  }

  /**
   * The peer process is gone (its parent learned it): what it sent is
   * delivered to the listeners there are, then the link closes. A peer that
   * died before it ever attached would otherwise leave a receive waiting for
   * good (a Channel ends only once a producer has attached).
   * @internal
   */
  peerGone(): void {
    this.takeWaiting();
    this.close();
  }

  /**
   * Closes this side: the peer sees the end of the stream (a goodbye, not an
   * error) and gets `'close'` once it has read what was sent; values not yet
   * received here are dropped; pending sends reject with `ERR_IPC_CLOSED`.
   * Emits `'close'` (on the next tick). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openLinks.delete(this.#openRef);
    collectedLinks.unregister(this.#openRef);
    this.#acks = [];
    this.#dropPartial();
    this.#held.length = 0;
    this.#heldSizes.length = 0;
    this.#heldBytes = 0;
    this.#transfers.releaseAll(closedError(LABEL));
    this.#out.close();
    this.#in.close();
    process.nextTick(() => this.emit('close'));
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `ProcessLink { side, toChild, toParent, receiving, ref, closed }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    const [toChild, toParent] = this.#parent ? [this.#out.fd, this.#in.fd] : [this.#in.fd, this.#out.fd];
    return inspectHandle('ProcessLink', {
      side: this.#parent ? 'parent' : 'child',
      toChild,
      toParent,
      receiving: this.#reading,
      ref: this.#loopRef.ref,
      closed: this.#closed,
    }, depth, options);
  }

  /**
   * Hands over now, synchronously, the frames already in the ring, as the receive loop would (values to the
   * listeners, RAW frames to `onRaw`, in ring order): for a caller that must know what the peer already sent before
   * it acts (a pool about to kill a worker whose answer may be there). Not from within a listener.
   * @internal
   */
  takeWaiting(): void {
    try {
      this.#drain(() => this.#wanted());
    } catch (err) {
      this.#report(err as Error);
    }
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface ProcessLink extends Referable {}

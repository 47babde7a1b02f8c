/**
 * Large Buffers and typed arrays of a ProcessLink value, out of band: the v8
 * serializer of lib/process-link.ts writes each ArrayBuffer view of at least
 * {@link TRANSFER_THRESHOLD} bytes into a sealed memfd of its own, and only a
 * reference into the ring; the receiver maps that memfd (no copy) and hands
 * out a view of the mapping. Views of SharedMemory whose size is sealed
 * travel by reference whatever their size, never copied (below).
 *
 * A reference, inside v8's host-object record (Node writes a view there as
 * `[type index: u32][byteLength: u32][bytes]`):
 *
 * ```
 * [kind + type index: u32][id: u32][fd: u32][length high: u32][length low: u32]
 * [offset high: u32][offset low: u32]
 * ```
 *
 * The view is `length` bytes from `offset` in the memfd. The kind:
 * OUT_OF_BAND (a sealed copy, or a received one sent on), SHARED (a
 * SharedMemory's memfd, by reference), SHARED_READ_ONLY (the same from a
 * read-only handle).
 *
 * The sender writes the bytes with pwrite(2) (one copy; for 64 MiB on the
 * 2-core VM this was measured on, 32-36 ms, against 57-67 ms for
 * posix_fallocate then pwrite, 58-80 ms for MADV_POPULATE_WRITE then memcpy
 * into a shared mapping, 75-120 ms for that memcpy split over two threads:
 * the cost is the new pages, which posix_fallocate alone takes 31-45 ms to
 * get, not the copying), then
 * seals the memfd SHRINK | GROW | WRITE | SEAL: nobody can change its size or
 * its bytes again. It keeps the descriptor open under `id` until the receiver
 * ACKs that id (an ACK frame on the other channel of the link) or the link
 * closes. Nothing has a name: the kernel frees the memory when the last
 * descriptor and mapping go, whoever dies.
 *
 * The receiver opens `/proc/<sender pid>/fd/<fd>` (the pid its link's maker
 * pinned, ProcessLink.peerPid, else the one the sender's HELLO frame said),
 * checks that it is a memfd sealed SHRINK | GROW | WRITE that holds the
 * announced range, maps the whole memfd MAP_PRIVATE (a
 * store into the view lands in a private copy of its page: the memfd stays
 * intact) and ACKs. The mapping is one external ArrayBuffer, unmapped by its
 * finalizer. Anything else is ERR_IPC_CORRUPT: the value is dropped, the
 * link goes on. A value whose sender died before it was read cannot be read
 * (its descriptors died with it): ERR_IPC_CORRUPT too.
 *
 * Sent on without a copy: the receiver keeps its descriptor of each memfd it
 * mapped (at most {@link MAX_KEPT}, the oldest closed first; closed when the
 * mapping is collected), so that a view of a mapping sent on (an echo, a
 * pipeline) is sent as the same memfd, not copied again, when it still holds
 * the memfd's bytes. That is known without trusting anyone: a page of a
 * private mapping that this process wrote became an anonymous copy, which
 * /proc/self/pagemap tells apart from the file's own page (native
 * unwrittenIn). A view covering less than half its memfd is copied (its
 * receiver would keep the whole memfd alive). Its receiver checks it as any
 * other memfd.
 *
 * Shared memory by reference: a view (any size but 0) of the mapping of a
 * SharedMemory (lib/shared-memory.ts sharedMappingOf) whose memfd's size is
 * sealed (`SharedMemory.anonymous(size, { seal: true })`, or such a memfd
 * adopted with `fromFd`) is sent as a reference to that memfd itself: no
 * copy, no seal added. The sender keeps a duplicate of its descriptor open
 * until the receiver ACKs (as for a copy), so closing the SharedMemory right
 * after `send()` is safe. The receiver opens it as above (read-write for
 * SHARED), requires a memfd sealed SHRINK | GROW (else a peer could truncate
 * it under our mapping and kill us with SIGBUS) holding the announced range,
 * maps the whole memfd MAP_SHARED, and hands out a view of the same bytes at
 * the same offset and length: writes on either side are seen by the other,
 * as a SharedArrayBuffer's through postMessage. A read-only handle's view
 * (SHARED_READ_ONLY) is mapped MAP_PRIVATE, as a read-only SharedMemory is
 * (a store into a PROT_READ page would kill the process with SIGSEGV, and
 * JavaScript cannot make an ArrayBuffer read-only): the receiver sees the
 * memfd's bytes, and its own writes stay private; a read-only view that its
 * sender wrote into (its private copy: pagemap, as above) is copied instead.
 * The receiver keeps the descriptor while the mapping lives (at most
 * {@link MAX_SHARED} such memfds at once: a reference to one more is refused,
 * ERR_IPC_CORRUPT), so that its views go on by reference
 * too (a Pool task's echo); and a later reference to a memfd it still maps
 * shared (the same `dev:ino`) is a view of that same mapping: no mmap, and no
 * 64 MiB more of external memory for the garbage collector to chase at each
 * echo (a new mapping per echo cost a full collection in each process). A named segment (no seals possible) and an
 * unsealed anonymous one are not shared: their views are copied as any other.
 *
 * Views below the threshold are written by Node's own serializer, byte for
 * byte as `v8.serialize` writes them. Not out of band: plain ArrayBuffers (v8
 * writes them itself, not through the host-object hook).
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'node:buffer';
import { fstatSync, readFileSync, writeSync } from 'node:fs';
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';
import { binding } from '../binding';
import { check, corrupt, IpcError, stateError } from '../errors';
import { sharedMappingOf } from '../shared-memory';
import { viewBytes } from './validate';

/**
 * The name of the memfds a sender makes for its large views: apart from the library's other memfds in
 * /proc/<pid>/fd links (and so in leak checks).
 * @internal
 */
export const TRANSFER_MEMFD = 'posix-ipc-transfer';

/** Views of at least this many bytes travel out of band. */
export const TRANSFER_THRESHOLD = 1024 * 1024;

/**
 * The kinds of reference, added to Node's view type index (an index Node's own deserializer does not know: it fails,
 * never misreads): a sealed copy (mapped MAP_PRIVATE); a SharedMemory's memfd (MAP_SHARED); the same from a read-only
 * handle (MAP_PRIVATE).
 */
const OUT_OF_BAND = 0x100;
const SHARED = 0x200;
const SHARED_READ_ONLY = 0x300;
const LABEL = 'The process link';
const TWO_32 = 2 ** 32;
/** The most one write(2) moves on Linux is a bit less than 2 GiB: 1 GiB at a time. */
const IO_MAX = 2 ** 30;
/** Descriptors of received memfds kept open at most, for sending their views on (the oldest is closed first). */
const MAX_KEPT = 256;
/**
 * Received SharedMemory memfds mapped (each with its descriptor kept) at most at once: past it, a reference to
 * another one is refused (a peer could otherwise fill this process's descriptor table and map count).
 */
const MAX_SHARED = 1024;
/**
 * References one value may hold at most: past it the value is refused (each costs an open(2) of the peer's
 * descriptor and an ACK, whatever it names).
 */
const MAX_REFERENCES = 4096;
/** Mappings of peers' memfds alive in this process now (each counted from its mmap to its finalizer or undo). */
let mapped = 0;
/** {@link mappingLimit}, once read. */
let maxMapped = -1;

/** Node's serializer and deserializer with the host-object hooks @types/node leaves out (read node:v8's docs). */
const Serializer = DefaultSerializer as unknown as new () => DefaultSerializer & {
  _writeHostObject(view: NodeJS.ArrayBufferView): void;
};
const Deserializer = DefaultDeserializer as unknown as new (data: Buffer) => DefaultDeserializer & {
  _readHostObject(): unknown;
};

/** Node's type index for `view` (what its serializer writes first), asked of Node itself. */
class IndexProbe extends Serializer {
  index = -1;
  override writeUint32(value: number): void {
    if (this.index < 0) this.index = value;
  }
  override writeRawBytes(): void {
    // The bytes are not wanted: only the index.
  }
}
function typeIndexOf(view: NodeJS.ArrayBufferView): number {
  const probe = new IndexProbe();
  probe._writeHostObject(view);
  return probe.index;
}

/** Each index's view class: its element size, and how to make one over bytes (a whole number of elements). */
interface ViewType {
  size: number;
  make(bytes: Buffer): NodeJS.ArrayBufferView;
}
const VIEW_TYPES = new Map<number, ViewType>();
for (const type of [
  { size: 1, make: (b: Buffer) => b },
  ...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
    Float64Array, BigInt64Array, BigUint64Array].map((Ctor) => ({
    size: Ctor.BYTES_PER_ELEMENT,
    make: (b: Buffer) => new Ctor(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / Ctor.BYTES_PER_ELEMENT),
  })),
  { size: 1, make: (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength) },
]) {
  VIEW_TYPES.set(typeIndexOf(type.make(Buffer.alloc(0))), type);
}
const TYPE_NAMES = new Map([...VIEW_TYPES].map(([index, t]) => [index, t.make(Buffer.alloc(0)).constructor.name]));

/**
 * The memfds one side of a link sent and its peer has not ACKed yet, by id:
 * each stays open until its ACK comes or the link closes.
 */
export class Transfers {
  #next = 0;
  /** Memfds added so far: the `n` of each, in send order. */
  #added = 0;
  readonly #fds = new Map<number, { fd: number; n: number }>();
  /** Who waits for the memfds up to an `n` to be closed ({@link Transfers.settled}). */
  #waiting: Array<{ n: number; resolve: () => void; reject: (err: Error) => void }> = [];

  /** How many are open. */
  get size(): number {
    return this.#fds.size;
  }

  /** How many were added so far (the `n` of the last one). */
  get added(): number {
    return this.#added;
  }

  /** Keeps `fd` open: its id. */
  add(fd: number): number {
    this.#next = (this.#next + 1) % TWO_32;
    this.#fds.set(this.#next, { fd, n: ++this.#added });
    return this.#next;
  }

  /** The peer has it (an ACK): closes it. An id not open (a peer's nonsense) is ignored. */
  release(id: number): void {
    const open = this.#fds.get(id);
    if (open === undefined) return;
    this.#fds.delete(id);
    binding.close(open.fd);
    // A Map keeps insertion order: its first entry is the oldest memfd still open.
    const oldest = this.#fds.values().next().value?.n ?? Infinity;
    const waiting = this.#waiting;
    this.#waiting = waiting.filter((w) => w.n >= oldest);
    for (const w of waiting) if (w.n < oldest) w.resolve();
  }

  /** Resolves once the peer ACKed every memfd up to the `n`-th added; rejects if the link closes first. */
  settled(n: number): Promise<void> {
    const oldest = this.#fds.values().next().value?.n ?? Infinity;
    if (oldest > n) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiting.push({ n, resolve, reject }));
  }

  /** The link is closing: closes them all; whoever waits for one is told `reason`. */
  releaseAll(reason: Error): void {
    for (const open of this.#fds.values()) binding.close(open.fd);
    this.#fds.clear();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(reason);
  }
}

/** A received memfd kept open (descriptor, size, kind of reference) while its mapping lives; `fd` is -1 once closed. */
interface Kept {
  fd: number;
  readonly size: number;
  readonly kind: number;
}
/** Each received mapping's memfd; the open copies in the order they came (the first is the oldest); shared ones. */
const keptOf = new WeakMap<ArrayBuffer, Kept>();
const keptOpen = new Set<Kept>();
const keptShared = new Set<Kept>();
/** The received SHARED mappings alive, by their memfd's identity (`dev:ino`): a later reference maps nothing new. */
const sharedMappings = new Map<string, WeakRef<ArrayBuffer>>();
const sharedCollected = new FinalizationRegistry<string>((key) => {
  // A newer mapping of the same memfd may have taken the key since.
  if (sharedMappings.get(key)?.deref() === undefined) sharedMappings.delete(key);
});
const keptCollected = new FinalizationRegistry<Kept>((kept) => {
  mapped--;
  forget(kept);
});
/** Memfds this process wrote (copied bytes into) so far. */
let copies = 0;

function forget(kept: Kept): void {
  if (!keptOpen.delete(kept) && !keptShared.delete(kept)) return;
  binding.close(kept.fd);
  kept.fd = -1;
}

/** Keeps `fd`, the memfd `mapping` maps whole (a reference of `kind`), open while the mapping lives. */
function keep(mapping: ArrayBuffer, fd: number, size: number, kind: number): void {
  const open = kind === OUT_OF_BAND ? keptOpen : keptShared;
  if (open === keptOpen && keptOpen.size >= MAX_KEPT) forget(keptOpen.values().next().value!);
  const kept = { fd, size, kind };
  keptOf.set(mapping, kept);
  open.add(kept);
  keptCollected.register(mapping, kept, kept);
  mapped++;
}

/**
 * Internal: how many mappings of peers' memfds may be alive here at once (past it a reference that would map one
 * more is refused): 4,096, or an eighth of /proc/sys/vm/max_map_count when that is less. The kernel refuses every
 * mmap(2) of the process past max_map_count, and then malloc and v8 fail too (the process aborts): a peer must not
 * get near it. Read once.
 */
export function mappingLimit(): number {
  if (maxMapped < 0) {
    let count = NaN;
    try {
      count = Number(readFileSync('/proc/sys/vm/max_map_count', 'latin1'));
    } catch {
      // No procfs: the kernel's default count (65,530) stands.
    }
    maxMapped = Math.max(1, Math.min(4096, Math.floor((Number.isSafeInteger(count) ? count : 65530) / 8)));
  }
  return maxMapped;
}

/**
 * Internal, for tests and measurements: memfds written so far, received copies' memfds kept open now, received
 * SharedMemory memfds kept open now, and mappings of peers' memfds alive now.
 */
export function transferCounts(): { copies: number; kept: number; shared: number; mapped: number } {
  return { copies, kept: keptOpen.size, shared: keptShared.size, mapped };
}

/** Internal, for tests: closes every kept memfd (their mappings stay; their views are copied if sent on). */
export function forgetKept(): void {
  for (const kept of [...keptOpen, ...keptShared]) forget(kept);
}

/** A reference's memfd (a new descriptor, open until ACKed), its kind, and where the view starts in it. */
interface Outgoing {
  fd: number;
  kind: number;
  offset: number;
}

/**
 * Whether each SharedMemory mapping's memfd is sealed against resizing, asked once per mapping: a seal never goes,
 * and a named segment or a memfd made without MFD_ALLOW_SEALING never gets one (a memfd adopted with fromFd and
 * sealed later by its maker stays copied).
 */
const sizeSealed = new WeakMap<ArrayBuffer, boolean>();

/**
 * When `bytes` is a view of a SharedMemory mapping (a handle of this process, or a mapping received by reference)
 * whose memfd's size is sealed: a reference to that memfd, SHARED, or SHARED_READ_ONLY from a read-only handle
 * (whose mapping is private: a view its process wrote into is no longer the memfd's bytes, and is copied). Else
 * null. Throws the IpcError of a descriptor that cannot be duplicated (EMFILE): never copied in silence instead.
 */
function shareOf(bytes: Uint8Array): Outgoing | null {
  const mapping = bytes.buffer as ArrayBuffer;
  const own = sharedMappingOf(mapping);
  let fd: number;
  let readOnly: boolean;
  if (own !== null) {
    let sealed = sizeSealed.get(mapping);
    if (sealed === undefined) sizeSealed.set(mapping, (sealed = binding.isSizeSealed(own.fd) === 1));
    if (!sealed) return null;
    ({ fd, readOnly } = own);
  } else {
    const kept = keptOf.get(mapping);
    if (kept === undefined || kept.kind === OUT_OF_BAND || kept.fd < 0) return null;
    fd = kept.fd;
    readOnly = kept.kind === SHARED_READ_ONLY;
  }
  if (readOnly && binding.unwrittenIn(bytes, mapping) !== 1) return null;
  const dup = check(binding.dupFd(fd), 'fcntl');
  return { fd: dup, kind: readOnly ? SHARED_READ_ONLY : SHARED, offset: bytes.byteOffset };
}

/**
 * When `bytes` is a view of a received mapping that still holds its memfd's bytes there, and covers at least half
 * of it: a new descriptor of that memfd, and where the view starts in it. Else null (the view is copied).
 */
function sendOn(bytes: Uint8Array): Outgoing | null {
  const mapping = bytes.buffer as ArrayBuffer;
  const kept = keptOf.get(mapping);
  if (kept === undefined || kept.fd < 0 || bytes.byteLength * 2 < kept.size) return null;
  if (binding.unwrittenIn(bytes, mapping) !== 1) return null;
  const fd = binding.dupFd(kept.fd);
  return fd < 0 ? null : { fd, kind: OUT_OF_BAND, offset: bytes.byteOffset };
}

/** Writes `bytes` into a new sealed memfd: its descriptor. Throws the IpcError; no descriptor is left then. */
function writeMemfd(bytes: Uint8Array): number {
  copies++;
  const fd = check(binding.memfdCreate(true, TRANSFER_MEMFD), 'memfd_create');
  try {
    for (let at = 0; at < bytes.byteLength;) {
      at += writeSync(fd, bytes, at, Math.min(bytes.byteLength - at, IO_MAX), at);
    }
    check(binding.sealImmutable(fd), 'fcntl');
    return fd;
  } catch (err) {
    binding.close(fd);
    const errno = (err as { errno?: unknown }).errno;
    throw err instanceof IpcError || typeof errno !== 'number' ? err : new IpcError(errno, 'pwrite');
  }
}

/**
 * Node's serializer, but views of at least the threshold go into memfds, and views of sealed SharedMemory by
 * reference; the ids it kept open, for the caller.
 */
class TransferSerializer extends Serializer {
  readonly made: number[] = [];

  constructor(readonly transfers: Transfers) {
    super();
  }

  override _writeHostObject(view: NodeJS.ArrayBufferView): void {
    let bytes: Uint8Array;
    try {
      // The engine's length and offset, never a property a caller can redefine.
      bytes = viewBytes(view, 'value');
    } catch {
      return super._writeHostObject(view);
    }
    const shared = bytes.byteLength === 0 ? null : shareOf(bytes);
    if (shared === null && bytes.byteLength < TRANSFER_THRESHOLD) return super._writeHostObject(view);
    const index = typeIndexOf(view);
    const { fd, kind, offset } = shared ?? sendOn(bytes) ?? { fd: writeMemfd(bytes), kind: OUT_OF_BAND, offset: 0 };
    const id = this.transfers.add(fd);
    this.made.push(id);
    this.writeUint32(kind + index);
    this.writeUint32(id);
    this.writeUint32(fd);
    this.writeUint32(Math.floor(bytes.byteLength / TWO_32));
    this.writeUint32(bytes.byteLength % TWO_32);
    this.writeUint32(Math.floor(offset / TWO_32));
    this.writeUint32(offset % TWO_32);
  }
}

/**
 * `value` serialized after `tag` (its frame's first byte), its large views in
 * memfds kept in `transfers`. Throws a `DataCloneError`
 * (`ERR_IPC_DATA_CLONE`) for a value v8 refuses, the IpcError of a memfd that
 * could not be made (`EMFILE`, `ENOMEM`, ...); either way no memfd of this
 * value is left open.
 */
export function serializeForLink(transfers: Transfers, tag: Uint8Array, value: unknown): Buffer {
  const serializer = new TransferSerializer(transfers);
  try {
    serializer.writeRawBytes(tag);
    serializer.writeHeader();
    serializer.writeValue(value);
    return serializer.releaseBuffer();
  } catch (cause) {
    for (const id of serializer.made) transfers.release(id);
    if (cause instanceof IpcError) throw cause;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw Object.assign(
      stateError('ERR_IPC_DATA_CLONE', `The value could not be sent over the process link: ${why}`),
      { name: 'DataCloneError', cause },
    );
  }
}

/**
 * Where a receiver's references point: the sender's pid (pinned by the link's maker, else its HELLO's; 0 before
 * either), and how to ACK an id.
 */
export interface TransferPeer {
  readonly pid: number;
  ack(id: number): void;
}

/**
 * What one value's references made so far: how many it held, and the mappings it made, by kind and memfd
 * (`kind dev:ino`), with the memfd's identity: undone if the value fails.
 */
interface Received {
  references: number;
  readonly made: Map<string, { mapping: ArrayBuffer; identity: string }>;
}

/** Node's deserializer, plus the references {@link TransferSerializer} writes. */
class TransferDeserializer extends Deserializer {
  /** An index already read, for Node's own `_readHostObject` to read again. */
  #replay = -1;
  readonly received: Received = { references: 0, made: new Map() };

  constructor(data: Buffer, readonly peer: TransferPeer) {
    super(data);
  }

  override readUint32(): number {
    const replay = this.#replay;
    if (replay < 0) return super.readUint32();
    this.#replay = -1;
    return replay;
  }

  override _readHostObject(): NodeJS.ArrayBufferView {
    const index = this.readUint32();
    if (index < OUT_OF_BAND) {
      this.#replay = index;
      return super._readHostObject() as NodeJS.ArrayBufferView;
    }
    const id = this.readUint32();
    const fd = this.readUint32();
    const length = this.readUint32() * TWO_32 + this.readUint32();
    const offset = this.readUint32() * TWO_32 + this.readUint32();
    const kind = index >= SHARED_READ_ONLY ? SHARED_READ_ONLY : index >= SHARED ? SHARED : OUT_OF_BAND;
    try {
      return mapReference(this.received, this.peer.pid, kind, index - kind, fd, offset, length);
    } finally {
      // After the open (or its failure): the sender may close its descriptor now.
      this.peer.ack(id);
    }
  }
}

/**
 * The view a reference of `kind` describes, over a mapping of the sender's whole memfd (private, shared for SHARED;
 * its descriptor is kept: {@link keep}), one per memfd in a value (`received`); anything wrong is ERR_IPC_CORRUPT.
 */
function mapReference(
  received: Received, pid: number, kind: number, index: number, fd: number, offset: number, length: number,
): NodeJS.ArrayBufferView {
  const type = VIEW_TYPES.get(index);
  const ref = kind === OUT_OF_BAND ? 'a reference' : 'a shared reference';
  const what = `${ref} (pid ${pid}, fd ${fd}, ${length} bytes at ${offset})`;
  if (++received.references > MAX_REFERENCES) {
    throw corrupt(LABEL, `${what}: a value holds at most ${MAX_REFERENCES} references`);
  }
  if (type === undefined) throw corrupt(LABEL, `a reference names view type ${index}`);
  if (pid <= 0 || pid > 0x7fffffff) throw corrupt(LABEL, `${what} came before the sender said its pid`);
  if (fd > 0x7fffffff) throw corrupt(LABEL, `${what} names no descriptor`);
  if (length === 0 || length > bufferConstants.MAX_LENGTH) {
    throw corrupt(LABEL, `${what}: a Buffer holds 1 to ${bufferConstants.MAX_LENGTH} bytes`);
  }
  if (length % type.size !== 0 || offset % type.size !== 0) {
    throw corrupt(LABEL, `${what}: not a whole number of ${TYPE_NAMES.get(index)} elements`);
  }
  const mine = binding.openPeerFd(pid, fd, kind === SHARED);
  if (mine === -binding.EMEDIUMTYPE) throw corrupt(LABEL, `${what}: not a memfd`);
  if (mine < 0) {
    const cause = new IpcError(mine, 'open', `/proc/${pid}/fd/${fd}`);
    throw Object.assign(corrupt(LABEL, `${what}: its memfd cannot be opened (${cause.code})`), { cause });
  }
  let kept = false;
  try {
    const copy = kind === OUT_OF_BAND;
    const sealed = copy ? binding.isImmutable(mine) : binding.isSizeSealed(mine);
    if (sealed < 0) throw corrupt(LABEL, `${what}: not a memfd`);
    if (sealed === 0) {
      throw corrupt(LABEL, `${what}: its memfd is not sealed against ${copy ? 'changes' : 'resizing'}`);
    }
    const size = binding.fstatSize(mine);
    if (size < 0 || offset + length > size || size > bufferConstants.MAX_LENGTH) {
      throw corrupt(LABEL, `${what}: its memfd holds ${size} bytes`);
    }
    const identity = identityOf(mine);
    const key = `${kind} ${identity}`;
    // The same memfd earlier in this value (a copy is sealed whole: the same bytes; a view sent on twice), or shared
    // and mapped by any value still alive: sealed at this size, its bytes are the same whichever mapping shows them.
    const live = received.made.get(key)?.mapping
      ?? (kind === SHARED ? sharedMappings.get(identity)?.deref() : undefined);
    if (live !== undefined && live.byteLength === size) return type.make(Buffer.from(live, offset, length));
    if (!copy && keptShared.size >= MAX_SHARED) {
      throw corrupt(LABEL, `${what}: ${MAX_SHARED} SharedMemory memfds of peers are mapped here already`);
    }
    if (mapped >= mappingLimit()) {
      throw corrupt(LABEL, `${what}: ${mappingLimit()} mappings of peers' memfds are alive here already`);
    }
    const mapping = binding.mmap(mine, size, kind !== SHARED);
    if (typeof mapping === 'number') {
      const cause = new IpcError(mapping, 'mmap');
      throw Object.assign(corrupt(LABEL, `${what}: its memfd cannot be mapped (${cause.code})`), { cause });
    }
    const view = type.make(Buffer.from(mapping, offset, length));
    keep(mapping, mine, size, kind);
    received.made.set(key, { mapping, identity });
    if (kind === SHARED) {
      sharedMappings.set(identity, new WeakRef(mapping));
      sharedCollected.register(mapping, identity);
    }
    kept = true;
    return view;
  } finally {
    if (!kept) binding.close(mine);
  }
}

/** The identity (`dev:ino`) of the file `fd` opens. */
function identityOf(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}`;
}

/** A value's serialization (after its frame tag) read back, its out-of-band views mapped from `peer`'s memfds. */
export function deserializeFromLink(data: Buffer, peer: TransferPeer): unknown {
  const deserializer = new TransferDeserializer(data, peer);
  try {
    deserializer.readHeader();
    return deserializer.readValue();
  } catch (err) {
    // Nothing of a value refused stays: its mappings are reachable by nobody, so they go now, not at some collection.
    for (const made of deserializer.received.made.values()) unmap(made.mapping, made.identity);
    throw err;
  }
}

/** Undoes a mapping {@link mapReference} made (of the memfd `identity`): its memfd closed, detached, unmapped. */
function unmap(mapping: ArrayBuffer, identity: string): void {
  const kept = keptOf.get(mapping);
  if (kept !== undefined && keptCollected.unregister(kept)) mapped--;
  if (kept !== undefined) forget(kept);
  if (sharedMappings.get(identity)?.deref() === mapping) sharedMappings.delete(identity);
  binding.munmap(mapping);
}

/**
 * Who waits on what, written where another process can read it: glibc
 * records a mutex's owner but no waiters, and a polled file lock never shows
 * as blocked in /proc/locks. Each JavaScript environment (the main thread, each
 * Worker) that blocks on a Mutex, a Semaphore or a file lock keeps one memfd
 * from its first such wait on (MFD_CLOEXEC, named `posix-ipc-waits` in
 * /proc/PID/fd; made and closed per wait it cost ~20 µs a wait, two fifths of
 * a blocked semaphore hand-over): it dies with its process, or with its Worker
 * (the addon closes it at the environment's teardown), so a dead waiter's
 * records vanish with it and nothing leaks into /dev/shm. A record is
 * written before a wait starts and freed when it ends, whatever ended it; only
 * waits that block are recorded, so an uncontended lock writes nothing.
 * `posix-ipc locks` (scripts/cli/locks.js) finds these memfds through
 * /proc/PID/fd, and reads them with {@link parseWaitRecords}, which trusts no
 * byte: any process can write anything into a memfd of its own.
 *
 * Layout (little-endian; one header, then RECORD_SIZE-byte records):
 * ```
 * header  0 magic "PIPCWAIT"  8 u32 version (1)  12 u32 RECORD_SIZE
 * record  0 u32 seq (the slot's generation)  4 u32 state (0 free, 1 waiting, 2 holding)
 *         8 u32 kind (1 mutex, 2 semaphore, 3 file lock)  12 u32 pid  16 u32 tid
 *        20 u32 flags (file lock: bit 0 exclusive; bits 1-2: 1 ofd, 2 flock)
 *        24 f64 since (ms since the epoch)  32 u64 st_dev  40 u64 st_ino
 *        48 f64 offset (a file lock: start)  56 f64 length (a file lock)
 *        64 u8 name length  65.. name (UTF-8, at most NAME_MAX bytes)
 * ```
 * @packageDocumentation
 */
import { fstatSync, readlinkSync, writeSync } from 'node:fs';
import { binding } from '../binding';

/** The first bytes of a wait-record memfd. */
export const MAGIC = 'PIPCWAIT';
/** The layout's version. */
export const VERSION = 1;
/** Bytes of one record (the header takes one record's place). */
export const RECORD_SIZE = 128;
/** Bytes a wait-record memfd can grow to: its header and CAPACITY records. */
export const FILE_SIZE = 16384;
/** Records one environment can keep at once: more simultaneous waits go unrecorded. */
export const CAPACITY = FILE_SIZE / RECORD_SIZE - 1;
/** The longest name kept, in bytes (longer ones are cut, on a character boundary). */
export const NAME_MAX = 62;
/** Record states. */
export const STATES = ['free', 'waiting', 'holding'] as const;
/** Record kinds, by number (0 is none). */
export const KINDS = ['', 'mutex', 'semaphore', 'file-lock'] as const;
/** File lock kinds in a record's flags (bits 1-2). */
export const LOCK_KINDS = ['', 'ofd', 'flock'] as const;

/** What a record says a thread waits on (or holds). */
export interface WaitTarget {
  kind: 'mutex' | 'semaphore' | 'file-lock';
  /** The object's "st_dev:st_ino", or '' when unknown (a named semaphore: its name says it). */
  key: string;
  /** The offset of a Mutex/Semaphore inside its memory; a file lock's start. */
  offset: number;
  /** A file lock's length (0: to the end). */
  length?: number;
  /** A file lock: bit 0 exclusive, bits 1-2 its kind (see LOCK_KINDS). */
  flags?: number;
  /** The object's name or path, for people (the key says which object it is). */
  name: string | null;
}

/** This environment's records: the memfd, each slot's generation, and the slots not in use. */
interface Table {
  fd: number;
  seq: Uint32Array;
  free: number[];
}

let table: Table | null = null;
let thread: number | undefined;
// One record's bytes, filled before each write; a freed record's first bytes (seq, then state 0).
const scratch = Buffer.alloc(RECORD_SIZE);
const FREED = Buffer.alloc(8);

/** The name of the record memfds, as /proc/PID/fd shows them: `/memfd:posix-ipc-waits (deleted)`. */
export const MEMFD_NAME = 'posix-ipc-waits';

/**
 * The memfd of this environment's records, made when a wait first needs it
 * (an environment that never blocks holds no descriptor for it) and kept;
 * null if it cannot be made (the wait then goes unrecorded, and the next one
 * tries again). Records are written with pwrite, not through a mapping:
 * mapping and unmapping cost more than the memfd itself.
 */
function open(): Table | null {
  if (table !== null) return table;
  const fd = binding.memfdCreate(false, MEMFD_NAME);
  if (fd < 0) return null;
  const header = Buffer.alloc(RECORD_SIZE);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(RECORD_SIZE, 12);
  try {
    writeSync(fd, header, 0, RECORD_SIZE, 0);
  } catch {
    binding.close(fd);
    return null;
  }
  table = { fd, seq: new Uint32Array(CAPACITY + 1), free: [] };
  for (let slot = CAPACITY; slot >= 1; slot--) table.free.push(slot);
  return table;
}

/** The kernel's id of the calling thread: /proc/thread-self is "PID/task/TID". */
function tid(): number {
  if (thread === undefined) {
    try {
      thread = Number(readlinkSync('/proc/thread-self').split('/')[2]) || process.pid;
    } catch {
      thread = process.pid;
    }
  }
  return thread;
}

/**
 * Writes `bytes` at `slot` in one pwrite, with the slot's next generation: a
 * reader that reads twice and sees the same bytes saw one whole record.
 */
function put(t: Table, slot: number, bytes: Buffer): boolean {
  t.seq[slot] += 2;
  bytes.writeUInt32LE(t.seq[slot], 0);
  try {
    return writeSync(t.fd, bytes, 0, bytes.length, slot * RECORD_SIZE) === bytes.length;
  } catch {
    return false; // ENOSPC, say: the wait goes unrecorded.
  }
}

/** `target` as a record's bytes in `state`, in the scratch buffer. */
function encode(target: WaitTarget, state: number): Buffer {
  const r = scratch.fill(0);
  r.writeUInt32LE(state, 4);
  r.writeUInt32LE(KINDS.indexOf(target.kind), 8);
  r.writeUInt32LE(process.pid, 12);
  r.writeUInt32LE(tid(), 16);
  r.writeUInt32LE(target.flags ?? 0, 20);
  r.writeDoubleLE(Date.now(), 24);
  const [dev = '0', ino = '0'] = target.key.split(':');
  r.writeBigUInt64LE(BigInt(dev), 32);
  r.writeBigUInt64LE(BigInt(ino), 40);
  r.writeDoubleLE(target.offset, 48);
  r.writeDoubleLE(target.length ?? 0, 56);
  // At most NAME_MAX bytes of UTF-8: Buffer#write never writes part of a character.
  r.writeUInt8(r.write(target.name ?? '', 65, NAME_MAX, 'utf8'), 64);
  return r;
}

/** One record in use: freed once, by whichever comes first (its wait settling, or its owner closing). */
interface Held {
  t: Table;
  slot: number;
  freed: boolean;
}

// The records in use of each handle, so that its close() frees them at once.
const byOwner = new WeakMap<object, Set<Held>>();

/** Frees a record (its seq and state: free). Idempotent. */
function free(held: Held): void {
  if (held.freed) return;
  held.freed = true;
  put(held.t, held.slot, FREED);
  held.t.free.push(held.slot);
}

/**
 * Runs `wait` (a wait that blocks: the fast path already failed) with a
 * record saying this thread waits on `target`, freed when it settles, however
 * (resolved, timed out, aborted), or when `owner` calls {@link endWaitRecords}
 * (its close(), which settles its waits a microtask later). A Worker
 * terminated mid-wait leaves its record behind in the memfd until the addon
 * closes it, but its thread is gone: `locks` ignores a record whose thread
 * does not live.
 */
export async function recordedWait<T>(
  target: WaitTarget | (() => WaitTarget), wait: () => Promise<T>, owner?: object,
): Promise<T> {
  const t = open();
  const slot = t?.free.pop();
  if (t === null || slot === undefined) return wait();
  const held: Held = { t, slot, freed: false };
  let mine: Set<Held> | undefined;
  if (owner !== undefined) {
    mine = byOwner.get(owner);
    if (mine === undefined) byOwner.set(owner, (mine = new Set()));
    mine.add(held);
  }
  try {
    put(t, slot, encode(typeof target === 'function' ? target() : target, 1));
    return await wait();
  } finally {
    mine?.delete(held);
    free(held);
  }
}

/**
 * Runs `wait`, a call that blocks this thread (lockSync, acquireSync) after
 * its fast path failed, with a record saying this thread waits on `target`.
 */
export function recordedWaitSync<T>(target: WaitTarget, wait: () => T): T {
  const t = open();
  const slot = t?.free.pop();
  if (t === null || slot === undefined) return wait();
  const held: Held = { t, slot, freed: false };
  try {
    put(t, slot, encode(target, 1));
    return wait();
  } finally {
    free(held);
  }
}

/** Frees the records of `owner`'s waits now: for its close(), whose waits settle only a microtask later. */
export function endWaitRecords(owner: object): void {
  const mine = byOwner.get(owner);
  if (mine === undefined) return;
  byOwner.delete(owner);
  for (const held of mine) free(held);
}

/** The WaitTarget of a file lock on `fd`; its key is '' if fstat fails. */
export function fileLockTarget(fd: number, path: string | null, start: number, length: number,
  exclusive: boolean, kind: 'ofd' | 'flock'): WaitTarget {
  let key = '';
  try {
    const st = fstatSync(fd, { bigint: true });
    key = `${st.dev}:${st.ino}`;
  } catch {
    // A descriptor that cannot be described still gets its record, by path.
  }
  const flags = (exclusive ? 1 : 0) | (LOCK_KINDS.indexOf(kind) << 1);
  return { kind: 'file-lock', key, offset: start, length, flags, name: path };
}

/** One record, as parseWaitRecords found it valid. */
export interface ParsedWaitRecord {
  state: 'waiting' | 'holding';
  kind: 'mutex' | 'semaphore' | 'file-lock';
  pid: number;
  tid: number;
  /** A file lock's: exclusive or shared, ofd or flock. */
  exclusive: boolean;
  lockKind: string;
  since: number;
  key: string;
  offset: number;
  length: number;
  name: string;
}

/** A non-negative integer a record may hold in a float, else NaN. */
function count(value: number): number {
  return Number.isSafeInteger(value) && value >= 0 ? value : NaN;
}

/**
 * The valid records of a wait-record memfd's bytes (two reads of it: a record
 * counts only when both agree and it was not being written), null when
 * the bytes are not one at all. Checks only what the bytes can prove: the
 * caller checks that each pid is the memfd holder's and each tid one of its
 * live threads.
 */
export function parseWaitRecords(first: Uint8Array, second: Uint8Array, now = Date.now()): ParsedWaitRecord[] | null {
  if (first.length < RECORD_SIZE || first.length > FILE_SIZE * 64) return null;
  const head = Buffer.from(first.buffer, first.byteOffset, first.length);
  if (head.toString('latin1', 0, 8) !== MAGIC) return null;
  if (head.readUInt32LE(8) !== VERSION || head.readUInt32LE(12) !== RECORD_SIZE) return null;
  const other = Buffer.from(second.buffer, second.byteOffset, second.length);
  const out: ParsedWaitRecord[] = [];
  for (let base = RECORD_SIZE; base + RECORD_SIZE <= head.length; base += RECORD_SIZE) {
    const record = head.subarray(base, base + RECORD_SIZE);
    if (base + RECORD_SIZE > other.length || !record.equals(other.subarray(base, base + RECORD_SIZE))) continue;
    const parsed = parseRecord(record, now);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

/** One record's fields, each checked; null for a free, half-written or impossible one. */
function parseRecord(r: Buffer, now: number): ParsedWaitRecord | null {
  const seq = r.readUInt32LE(0);
  const state = STATES[r.readUInt32LE(4)];
  const kind = KINDS[r.readUInt32LE(8)];
  if ((seq & 1) !== 0 || (state !== 'waiting' && state !== 'holding') || !kind) return null;
  const pid = r.readUInt32LE(12);
  const tid = r.readUInt32LE(16);
  const flags = r.readUInt32LE(20);
  const since = r.readDoubleLE(24);
  const offset = count(r.readDoubleLE(48));
  const length = count(r.readDoubleLE(56));
  const nameLength = r.readUInt8(64);
  if (pid < 1 || pid > 0x3fffffff || tid < 1 || tid > 0x3fffffff || flags > 7) return null;
  if (!Number.isFinite(since) || since <= 0 || since > now + 60_000) return null;
  if (Number.isNaN(offset) || Number.isNaN(length) || nameLength > NAME_MAX) return null;
  if (kind !== 'file-lock' && offset % 8 !== 0) return null;
  // Any bytes: a file may have a newline in its name, and its waiter must still show. Whoever prints the name
  // escapes it (the locks command does, field by field).
  const name = r.toString('utf8', 65, 65 + nameLength);
  const dev = r.readBigUInt64LE(32);
  const ino = r.readBigUInt64LE(40);
  return {
    state, kind, pid, tid, exclusive: (flags & 1) === 1, lockKind: LOCK_KINDS[flags >> 1] ?? '',
    since, key: dev === 0n && ino === 0n ? '' : `${dev}:${ino}`, offset, length, name,
  };
}

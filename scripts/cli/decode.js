'use strict';
// Decoders of the bytes this package leaves in shared memory: pure functions
// from a Buffer (and the object's real size) to a plain object. Bytes are
// hostile: a foreign or damaged object is reported as such ({ kind:
// 'unknown' } or { valid: false, problems }), never trusted, never thrown on.
// A count or a length read from the bytes is checked against the object's
// real size before anything is read at an offset derived from it.
//
// Layouts: include/posix-ipc/ring.h (Channel), native/mutex.cc (Mutex
// record), glibc's nptl/internaltypes.h `struct new_sem` (sem_t), and the
// mqueue filesystem's file text (ipc/mqueue.c, mqueue_read_file).

// include/posix-ipc/ring.h, the Channel's segment.
const RING = {
  MAGIC: 0x52435049,
  VERSION: 3,
  HEADER_SIZE: 256,
  LANE_SIZE: 512,
  RECORD_HEADER: 8,
  MIN_CAPACITY: 64,
  MAX_CAPACITY: 2 ** 30,
  MAX_LANES: 1024,
  BOX_MAX: 248,
};
const STATES = ['none', 'active', 'closed', 'dead'];
const SLEEP_FUTEX = 1;
const SLEEP_DOORBELL = 2;

// native/mutex.cc's Record: a pthread_mutex_t, then the holder's pid, then the magic.
const MUTEX_MAGIC = 0x31584d50;
const MUTEX_RECORD_SIZE = 64;
// sizeof(pthread_mutex_t) in glibc, per architecture (bits/pthreadtypes-arch.h).
const PTHREAD_MUTEX_SIZE = { x64: 40, arm64: 48, ppc64: 40, s390x: 40, riscv64: 40, loong64: 40 };
// The kernel's robust-futex lock word (futex(2)): owner TID and two flags.
const FUTEX_WAITERS = 0x80000000;
const FUTEX_OWNER_DIED = 0x40000000;
const FUTEX_TID_MASK = 0x3fffffff;
// glibc's __owner values for a mutex whose owner died (pthreadP.h):
// PTHREAD_MUTEX_INCONSISTENT and PTHREAD_MUTEX_NOTRECOVERABLE.
const OWNER_FIELD = 8;
const INCONSISTENT = 0x7fffffff;
const NOT_RECOVERABLE = 0x7ffffffe;

// glibc's sem_t with 64-bit atomics: a 64-bit word (value in the low 32 bits,
// waiters in the high 32), then `private`: glibc's FUTEX_SHARED (128, the
// flag its futex calls XOR in) for a process-shared semaphore, FUTEX_PRIVATE
// (0) otherwise; sizeof(sem_t) is 32.
const SEM_SIZE = 32;
const SEM_VALUE_MAX = 0x7fffffff;
const FUTEX_SHARED = 128;

/** The state word of a Channel's consumer or producer: its role's state and generation. */
function decodeState(word) {
  return { state: STATES[word & 3], generation: word >>> 2 };
}

/** The bytes [at, at + 8) of `bytes` as a Number, or a BigInt beyond 2^53 (a ring's positions are 64-bit). */
function u64(bytes, at) {
  const value = bytes.readBigUInt64LE(at);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Whether the first four bytes say this is a Channel (nothing else is checked). */
function isChannel(bytes) {
  return bytes.length >= 4 && bytes.readUInt32LE(0) === RING.MAGIC;
}

/**
 * The geometry problems of a Channel header (as pipc_ring_attach checks it):
 * an empty list when the header is sound for an object of `size` bytes.
 */
function headerProblems(h, size) {
  const problems = [];
  if (h.version !== RING.VERSION) problems.push(`version ${h.version}, this decoder knows ${RING.VERSION}`);
  if (h.headerSize !== RING.HEADER_SIZE) problems.push(`header size ${h.headerSize}, not ${RING.HEADER_SIZE}`);
  if (h.laneSize !== RING.LANE_SIZE) problems.push(`lane size ${h.laneSize}, not ${RING.LANE_SIZE}`);
  if (h.recordHeader !== RING.RECORD_HEADER) problems.push(`record header ${h.recordHeader}, not ${RING.RECORD_HEADER}`);
  if (!(h.lanes >= 1 && h.lanes <= RING.MAX_LANES)) problems.push(`lane count ${h.lanes} outside 1..${RING.MAX_LANES}`);
  const cap = h.capacity;
  const powerOfTwo = typeof cap === 'number' && cap >= RING.MIN_CAPACITY && cap <= RING.MAX_CAPACITY &&
    (cap & (cap - 1)) === 0;
  if (!powerOfTwo) problems.push(`capacity ${cap} is not a power of two in ${RING.MIN_CAPACITY}..${RING.MAX_CAPACITY}`);
  if (problems.length === 0) {
    const expected = RING.HEADER_SIZE + h.lanes * (RING.LANE_SIZE + cap);
    if (h.totalSize !== expected) problems.push(`total size ${h.totalSize}, the geometry says ${expected}`);
    else if (expected > size) problems.push(`the geometry needs ${expected} bytes, the object has ${size}`);
  }
  return problems;
}

/**
 * Decodes one lane (at `at` of `bytes`) of a Channel of `capacity` bytes per
 * lane: its positions, depth, producer state, deaths, mailbox and waits.
 */
function decodeLane(bytes, at, index, capacity) {
  const tail = bytes.readBigUInt64LE(at);
  const head = bytes.readBigUInt64LE(at + 64);
  const producer = decodeState(bytes.readUInt32LE(at + 8));
  const boxWord = bytes.readBigUInt64LE(at + 256);
  const boxSeq = Number(boxWord >> 32n);
  const boxTaken = bytes.readUInt32LE(at + 72);
  const lane = {
    index,
    head: head <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(head) : head,
    tail: tail <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(tail) : tail,
    depth: 0,
    producer: producer.state,
    generation: producer.generation,
    deaths: bytes.readUInt32LE(at + 12),
    // Messages ever committed to the ring by its producers (0 from writers of an older ring.h), and the mailbox's
    // sequence number (one per mailbox message; it wraps at 2^32).
    messages: Number(BigInt.asUintN(53, bytes.readBigUInt64LE(at + 16))),
    boxSeq,
    mailbox: boxSeq !== boxTaken ? Number(boxWord & 0xffffffffn) : null,
    producerWaitsForSpace: bytes.readUInt32LE(at + 128) !== 0,
    problems: [],
  };
  // The consumer may have taken a record whose tail the producer has not yet stored:
  // the head may run a little ahead (ring.h, pipc_ring_check_tail).
  const depth = BigInt.asUintN(64, tail - head);
  const behind = BigInt.asUintN(64, head - tail);
  if (depth <= BigInt(capacity)) lane.depth = Number(depth);
  else if (behind > BigInt(capacity)) lane.problems.push(`tail ${tail} and head ${head} are more than a ring apart`);
  if ((tail & 7n) !== 0n || (head & 7n) !== 0n) lane.problems.push('a position is not a multiple of 8');
  if (lane.mailbox !== null && (boxSeq !== ((boxTaken + 1) >>> 0) || lane.mailbox > RING.BOX_MAX)) {
    lane.problems.push(`mailbox sequence ${boxSeq} after ${boxTaken} taken, length ${lane.mailbox}`);
    lane.mailbox = null;
  }
  return lane;
}

/**
 * Decodes a Channel from `bytes`, the first bytes of an object of `size`
 * bytes: { kind: 'unknown' } without the magic; else { kind: 'channel',
 * valid, problems, version, lanes, capacity, consumer, sleeping, lane[] }.
 * The lanes are decoded only when the header is sound and `bytes` holds them
 * (the caller reads laneBytes(header) bytes once the header checks out).
 */
function decodeChannel(bytes, size) {
  if (!isChannel(bytes)) return { kind: 'unknown' };
  if (bytes.length < RING.HEADER_SIZE || size < RING.HEADER_SIZE) {
    return { kind: 'channel', valid: false, problems: [`${size} bytes: too small for a Channel header`] };
  }
  const sleeping = bytes.readUInt32LE(68);
  const h = {
    kind: 'channel',
    valid: true,
    problems: [],
    version: bytes.readUInt32LE(4),
    headerSize: bytes.readUInt32LE(8),
    laneSize: bytes.readUInt32LE(12),
    recordHeader: bytes.readUInt32LE(16),
    lanes: bytes.readUInt32LE(20),
    capacity: u64(bytes, 24),
    totalSize: u64(bytes, 32),
    size,
    consumer: decodeState(bytes.readUInt32LE(64)).state,
    consumerGeneration: decodeState(bytes.readUInt32LE(64)).generation,
    sleeping: { futex: (sleeping & SLEEP_FUTEX) !== 0, doorbell: (sleeping & SLEEP_DOORBELL) !== 0 },
    lane: [],
  };
  h.problems = headerProblems(h, size);
  h.valid = h.problems.length === 0;
  if (!h.valid) return h;
  if (bytes.length < laneBytes(h)) {
    h.problems.push('the lanes were not read');
    return h;
  }
  for (let i = 0; i < h.lanes; i++) {
    h.lane.push(decodeLane(bytes, RING.HEADER_SIZE + i * RING.LANE_SIZE, i, h.capacity));
  }
  for (const lane of h.lane) h.problems.push(...lane.problems.map((p) => `lane ${lane.index}: ${p}`));
  h.valid = h.problems.length === 0;
  return h;
}

/** How many bytes from the start hold a sound header's lanes (at most 256 + 1024 * 512). */
function laneBytes(header) {
  return RING.HEADER_SIZE + header.lanes * RING.LANE_SIZE;
}

/** The byte of the segment's file that lane `i`'s producer locks (ring.h PIPC_RING_LANE_LOCK). */
function laneLockByte(i) {
  return 1 + i;
}

/**
 * Decodes the Mutex record in `bytes` (the MUTEX_RECORD_SIZE bytes at its
 * offset): { kind: 'unknown' } without the magic; else { kind: 'mutex',
 * state: 'unlocked' | 'locked' | 'owner died' | 'inconsistent' | 'not
 * recoverable', ownerTid, ownerPid, waiters }. `arch` picks glibc's
 * pthread_mutex_t size (process.arch by default).
 */
function decodeMutex(bytes, arch = process.arch) {
  const mutexSize = PTHREAD_MUTEX_SIZE[arch];
  if (mutexSize === undefined) {
    return { kind: 'unknown', problems: [`glibc's pthread_mutex_t size on ${arch} is not known to this decoder`] };
  }
  if (bytes.length < mutexSize + 8) return { kind: 'unknown', problems: ['too few bytes for a Mutex record'] };
  if (bytes.readUInt32LE(mutexSize + 4) !== MUTEX_MAGIC) return { kind: 'unknown' };
  const word = bytes.readUInt32LE(0);
  const owner = bytes.readInt32LE(OWNER_FIELD);
  const tid = word & FUTEX_TID_MASK;
  const died = (word & FUTEX_OWNER_DIED) !== 0;
  let state;
  if (owner === NOT_RECOVERABLE) state = 'not recoverable';
  else if (tid === 0) state = died ? 'owner died' : 'unlocked';
  else state = owner === INCONSISTENT ? 'inconsistent' : 'locked';
  return {
    kind: 'mutex',
    valid: true,
    problems: [],
    state,
    ownerTid: tid === 0 ? null : tid,
    // Who locked it last (native/mutex.cc keeps it through an owner's death).
    ownerPid: bytes.readInt32LE(mutexSize) > 0 ? bytes.readInt32LE(mutexSize) : null,
    // Recorded by the kernel's futex word: somebody sleeps on it (glibc names no waiter).
    waiters: (word & FUTEX_WAITERS) !== 0,
    lockWord: word,
  };
}

/**
 * Decodes a glibc sem_t (64-bit atomics layout): { kind: 'semaphore', valid,
 * problems, value, waiters, shared }, from `bytes` of an object of `size`
 * bytes (a named semaphore's file is exactly sizeof(sem_t)).
 */
function decodeSemaphore(bytes, size = bytes.length) {
  if (bytes.length < 12) return { kind: 'unknown', problems: ['too few bytes for a sem_t'] };
  const value = bytes.readUInt32LE(0);
  const waiters = bytes.readUInt32LE(4);
  const priv = bytes.readInt32LE(8);
  const problems = [];
  if (size !== SEM_SIZE) problems.push(`${size} bytes, a named semaphore has ${SEM_SIZE}`);
  if (value > SEM_VALUE_MAX) problems.push(`value ${value} exceeds SEM_VALUE_MAX (${SEM_VALUE_MAX})`);
  if (priv !== 0 && priv !== FUTEX_SHARED) problems.push(`private field ${priv} is neither 0 nor ${FUTEX_SHARED}`);
  return { kind: 'semaphore', valid: problems.length === 0, problems, value, waiters, shared: priv === FUTEX_SHARED };
}

/**
 * Parses a queue's file text in an mqueue mount
 * ("QSIZE:0 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"): { kind: 'queue', valid,
 * problems, bytes (QSIZE: bytes of the messages queued), notify, signo,
 * notifyPid }; fields it does not find are null.
 */
function decodeQueueText(text) {
  const field = (name) => {
    const m = new RegExp(`(?:^|\\s)${name}:(-?\\d+)`).exec(String(text));
    return m === null ? null : Number(m[1]);
  };
  const q = {
    kind: 'queue', bytes: field('QSIZE'), notify: field('NOTIFY'), signo: field('SIGNO'), notifyPid: field('NOTIFY_PID'),
  };
  const problems = Object.entries(q).filter(([, v]) => v === null).map(([k]) => `no ${k} field`);
  return { ...q, valid: problems.length === 0, problems };
}

module.exports = {
  RING, MUTEX_RECORD_SIZE, SEM_SIZE,
  isChannel, decodeChannel, laneBytes, laneLockByte, decodeMutex, decodeSemaphore, decodeQueueText,
};

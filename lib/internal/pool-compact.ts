/**
 * Compact frames: the layout of the tasks a Pool sends, and of the answers a
 * pool worker sends, as RAW frames of their link (one ring message each, no
 * v8 serialization), and their reading back. Only the common ones travel so:
 * a task whose argument, or an answer whose value, is undefined, null, a
 * boolean, a number or a short string (and, for a task, whose export's name
 * is at most {@link MAX_NAME} bytes). Everything else (objects, errors, a
 * recycle) goes as a value (see internal/pool-worker.ts and lib/pool.ts).
 * Tasks sent together go as one batch frame (one ring message, one native
 * call each side); answers never do: each is in the ring before the worker
 * starts its next task, so that a worker's death loses no answer and the
 * pool knows which task was running.
 *
 * ```
 * answer  [kind: u8][id: f64 LE][value]
 * task    [kind: u8][id: f64 LE][name length: u8, 255: the default export][name: UTF-8][value]
 *   kind 1 undefined, 2 null, 3 true, 4 false   (no value)
 *   kind 5 number                               value: f64 LE
 *   kind 6 string                               value: UTF-8, the rest of the message
 * batch   [16][length: u16 LE][task]...         two or more tasks, each a task frame as above,
 *                                               `length` its bytes; the entries fill the message
 * ```
 * @packageDocumentation
 */
import type { ProcessLink } from '../process-link';
import type { PoolTask } from './pool-worker';

/** A compact frame's kind (its value's), its first byte. */
const enum Kind { Undefined = 1, Null, True, False, Number, String, Batch = 16 }
/** Bytes before the value of an answer (before the name of a task): the kind and the task's id. */
const HEAD = 9;
/** The longest string (UTF-16 units) sent compact; longer ones go as values (UTF-8: up to 3 bytes a unit). */
export const COMPACT_STRING = 1024;
/** The longest export name (UTF-8 bytes) a compact task carries; the length byte 255 means the default export. */
const MAX_NAME = 254;
const DEFAULT_EXPORT = 255;

/**
 * A UTF-16 unit that is half of no pair: UTF-8 cannot hold it (it would come out as U+FFFD), so a string with one
 * goes as a value (v8.serialize keeps it exact). (String.prototype.isWellFormed is not in Node 18.)
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** One reused buffer for encoding (a frame is sent before the next is made). */
const scratch = Buffer.allocUnsafe(HEAD + 1 + MAX_NAME + COMPACT_STRING * 3);
/** Views of the scratch buffer from its start, by length: made once each (the sender copies what it is sent). */
const views: Buffer[] = [];
/** The first `end` bytes of the scratch buffer. */
function scratchTo(end: number): Buffer {
  return (views[end] ??= scratch.subarray(0, end));
}
/** The export name encoded last and its UTF-8 bytes: a map or a window of tasks names one export again and again. */
let lastName: string | undefined;
let lastNameBytes = Buffer.alloc(0);

/** Writes `value` into the scratch buffer at `at`, its kind at byte 0: where it ends, or -1 without a compact form. */
function putValue(value: unknown, at: number): number {
  switch (typeof value) {
    case 'undefined':
      scratch[0] = Kind.Undefined;
      return at;
    case 'boolean':
      scratch[0] = value ? Kind.True : Kind.False;
      return at;
    case 'number':
      scratch[0] = Kind.Number;
      scratch.writeDoubleLE(value, at);
      return at + 8;
    case 'string':
      if (value.length > COMPACT_STRING || LONE_SURROGATE.test(value)) return -1;
      scratch[0] = Kind.String;
      return at + scratch.write(value, at, 'utf8');
    default:
      if (value !== null) return -1;
      scratch[0] = Kind.Null;
      return at;
  }
}

/** `value`, task `id`'s answer, as a compact answer (a view of a reused buffer), or null if it has no compact form. */
export function encodeAnswer(id: number, value: unknown): Uint8Array | null {
  const end = putValue(value, HEAD);
  if (end < 0) return null;
  scratch.writeDoubleLE(id, 1);
  return scratchTo(end);
}

/** Task `id` (export `name`, args `args`) as a compact task (a view of a reused buffer), or null if it has none. */
function encodeTask(id: number, name: string | undefined, args: unknown): Uint8Array | null {
  let at = HEAD + 1;
  if (name === undefined) {
    scratch[HEAD] = DEFAULT_EXPORT;
  } else {
    if (name !== lastName) {
      if (name.length > MAX_NAME || Buffer.byteLength(name) > MAX_NAME || LONE_SURROGATE.test(name)) return null;
      lastNameBytes = Buffer.from(name, 'utf8');
      lastName = name;
    }
    scratch.set(lastNameBytes, at);
    scratch[HEAD] = lastNameBytes.byteLength;
    at += lastNameBytes.byteLength;
  }
  const end = putValue(args, at);
  if (end < 0) return null;
  scratch.writeDoubleLE(id, 1);
  return scratchTo(end);
}

/** Bytes of a batch frame at most (and of its buffer): many tasks, yet far below any ring's message size. */
const BATCH_BYTES = 16 * 1024;
/** Bytes before each task of a batch: its length. */
const ENTRY_HEAD = 2;
/** One reused buffer for a batch frame (sent before the next is made). */
const batch = Buffer.allocUnsafe(BATCH_BYTES);

/** What {@link sendTasks} needs of a task and of the worker's link. */
interface TaskLike { id: number; name: string | undefined; args: unknown }
interface RawSender { trySendRaw(bytes: Uint8Array): boolean }

/**
 * Sends `tasks` from the first, in order, as compact tasks: as many as have a compact form in a row, several in each
 * batch frame (one alone as a task frame). Stops at the first without one, or when the ring has no room: how many
 * were sent (the rest must go as values, after them).
 */
export function sendTasks(to: RawSender, tasks: readonly TaskLike[]): number {
  let sent = 0;
  while (sent < tasks.length) {
    batch[0] = Kind.Batch;
    let at = 1;
    let n = 0;
    for (let i = sent; i < tasks.length; i++) {
      const task = tasks[i];
      const bytes = encodeTask(task.id, task.name, task.args);
      if (bytes === null || at + ENTRY_HEAD + bytes.byteLength > BATCH_BYTES) break;
      batch.writeUInt16LE(bytes.byteLength, at);
      batch.set(bytes, at + ENTRY_HEAD);
      at += ENTRY_HEAD + bytes.byteLength;
      n++;
    }
    if (n === 0) return sent;
    // One task alone goes as its own frame (its copy in the batch: scratch may hold the next one's start now).
    if (!to.trySendRaw(n === 1 ? batch.subarray(1 + ENTRY_HEAD, at) : batch.subarray(0, at))) return sent;
    sent += n;
  }
  return sent;
}

/** Writes a compact frame as a RAW frame of `link` if it can go at once (true); false if it must go as a value. */
export function sendCompact(link: ProcessLink, bytes: Uint8Array): boolean {
  try {
    return link.trySendRaw(bytes);
  } catch {
    // The link is closed: its peer is gone or going (a value sent now rejects too, and says so).
    return false;
  }
}

/** The id a compact answer is for, or -1 for a message that is not one (a hostile worker's). */
export function answerId(frame: Buffer): number {
  return idAt(frame, 0, frame.byteLength);
}

/** The id of the compact frame at `start` to `end` of `frame`, or -1 for one that is not. */
function idAt(frame: Buffer, start: number, end: number): number {
  if (end - start < HEAD || frame[start] < Kind.Undefined || frame[start] > Kind.String) return -1;
  return frame.readDoubleLE(start + 1);
}

/** The value of a compact answer whose {@link answerId} was not -1; undefined for a malformed one. */
export function answerValue(frame: Buffer): unknown {
  return valueAt(frame, 0, HEAD, frame.byteLength);
}

/**
 * The tasks a compact task frame or a batch frame holds, in order; null for one that is not (the parent wrote it:
 * checked all the same; a batch with any malformed task is refused whole).
 */
export function tasksOf(frame: Buffer): PoolTask[] | null {
  if (frame.byteLength === 0 || frame[0] !== Kind.Batch) {
    const task = taskOf(frame, 0, frame.byteLength);
    return task === null ? null : [task];
  }
  const tasks: PoolTask[] = [];
  let at = 1;
  while (at < frame.byteLength) {
    if (at + ENTRY_HEAD > frame.byteLength) return null;
    const length = frame.readUInt16LE(at);
    at += ENTRY_HEAD;
    if (at + length > frame.byteLength) return null;
    const task = taskOf(frame, at, at + length);
    if (task === null) return null;
    tasks.push(task);
    at += length;
  }
  return tasks.length > 0 ? tasks : null;
}

/** The task the compact task frame at `start` to `end` of `frame` holds, or null for one that is not. */
function taskOf(frame: Buffer, start: number, end: number): PoolTask | null {
  const id = idAt(frame, start, end);
  if (id < 0 || end - start < HEAD + 1) return null;
  const length = frame[start + HEAD];
  let at = start + HEAD + 1;
  let name: string | undefined;
  if (length !== DEFAULT_EXPORT) {
    if (length > MAX_NAME || at + length > end) return null;
    name = nameAt(frame, at, length);
    at += length;
  }
  return { id, name, args: valueAt(frame, start, at, end) };
}

/** The export name of `length` bytes at `at`: the one decoded last again when its bytes are the same. */
function nameAt(frame: Buffer, at: number, length: number): string {
  const last = lastNameBytes;
  let same = lastName !== undefined && last.byteLength === length;
  for (let i = 0; same && i < length; i++) same = frame[at + i] === last[i];
  if (same) return lastName!;
  const name = frame.toString('utf8', at, at + length);
  // Kept only when it encodes back to the same bytes (a malformed name decodes to U+FFFD).
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.equals(frame.subarray(at, at + length))) {
    lastName = name;
    lastNameBytes = bytes;
  }
  return name;
}

/** The value of the compact frame at `start` to `end` of `frame`, from `at`; undefined for a malformed one. */
function valueAt(frame: Buffer, start: number, at: number, end: number): unknown {
  switch (frame[start]) {
    case Kind.Null:
      return null;
    case Kind.True:
      return true;
    case Kind.False:
      return false;
    case Kind.Number:
      return end === at + 8 ? frame.readDoubleLE(at) : undefined;
    case Kind.String:
      return frame.toString('utf8', at, end);
    default:
      return undefined;
  }
}

/**
 * Compact answers: the layout of the answers a pool worker sends as RAW
 * frames of its link (one ring message each, no v8 serialization), and their
 * reading back. Only the common answers travel so: a task that returned
 * undefined, null, a boolean, a number or a short string. Everything else
 * (an object, an error, a recycle) goes as a value (see
 * internal/pool-worker.ts).
 *
 * ```
 * [kind: u8][id: f64 LE][value]
 *   kind 1 undefined, 2 null, 3 true, 4 false   (no value)
 *   kind 5 number                               value: f64 LE
 *   kind 6 string                               value: UTF-8, the rest of the message
 * ```
 * @packageDocumentation
 */

/** A compact answer's kind, its first byte. */
const enum Kind { Undefined = 1, Null, True, False, Number, String }
/** Bytes before the value: the kind and the task's id. */
const HEAD = 9;
/** The longest string (UTF-16 units) sent compact; longer ones go over the link (UTF-8: up to 3 bytes a unit). */
export const COMPACT_STRING = 1024;

/** One reused buffer for encoding (an answer is sent before the next is made). */
const scratch = Buffer.allocUnsafe(HEAD + COMPACT_STRING * 3);

/** `value`, task `id`'s answer, as a compact answer (a view of a reused buffer), or null if it has no compact form. */
export function encodeAnswer(id: number, value: unknown): Uint8Array | null {
  let kind: number;
  let length = HEAD;
  switch (typeof value) {
    case 'undefined':
      kind = Kind.Undefined;
      break;
    case 'boolean':
      kind = value ? Kind.True : Kind.False;
      break;
    case 'number':
      kind = Kind.Number;
      scratch.writeDoubleLE(value, HEAD);
      length += 8;
      break;
    case 'string':
      if (value.length > COMPACT_STRING) return null;
      kind = Kind.String;
      length += scratch.write(value, HEAD, 'utf8');
      break;
    default:
      if (value !== null) return null;
      kind = Kind.Null;
  }
  scratch[0] = kind;
  scratch.writeDoubleLE(id, 1);
  return scratch.subarray(0, length);
}

/** The id a compact answer is for, or -1 for a message that is not one (a hostile worker's). */
export function answerId(frame: Buffer): number {
  if (frame.byteLength < HEAD || frame[0] < Kind.Undefined || frame[0] > Kind.String) return -1;
  return frame.readDoubleLE(1);
}

/** The value of a compact answer whose {@link answerId} was not -1; undefined for a malformed one. */
export function answerValue(frame: Buffer): unknown {
  switch (frame[0]) {
    case Kind.Null:
      return null;
    case Kind.True:
      return true;
    case Kind.False:
      return false;
    case Kind.Number:
      return frame.byteLength === HEAD + 8 ? frame.readDoubleLE(HEAD) : undefined;
    case Kind.String:
      return frame.toString('utf8', HEAD);
    default:
      return undefined;
  }
}

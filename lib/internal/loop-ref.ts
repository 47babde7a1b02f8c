/**
 * `ref()` / `unref()` of every handle that can keep the event loop alive,
 * written once: as `net.Socket` and timers have them. A handle owns one
 * {@link LoopRef}, and each of its parts that keeps the loop alive (its
 * Poller, its ThreadWaits, a `net.Socket` it reads) is attached to it and
 * follows every change, the waits already running included. The public
 * methods are put on each class by {@link implementRef}, so there is one copy
 * of them, not one per class.
 * @packageDocumentation
 */
import { invalidThis } from '../errors';

/** Something that keeps the loop alive, and can stop doing so. */
export interface LoopRefPart {
  /** `false`: what it waits for no longer keeps the event loop alive; `true`: it does again. */
  setRef(ref: boolean): void;
}

/** A handle's ref state (ref'd at first) and the parts that follow it. */
export class LoopRef {
  #ref = true;
  readonly #parts = new Set<LoopRefPart>();

  /** Whether the handle keeps the loop alive while it waits. */
  get ref(): boolean {
    return this.#ref;
  }

  /** Sets the state, and tells every attached part when it changed. */
  set(ref: boolean): void {
    if (ref === this.#ref) return;
    this.#ref = ref;
    for (const part of this.#parts) part.setRef(ref);
  }

  /** `part` follows the state from now on; told at once if the handle is unref'd. */
  attach(part: LoopRefPart): void {
    this.#parts.add(part);
    if (!this.#ref) part.setRef(false);
  }

  /** `part` (a helper that is done) follows no more. */
  detach(part: LoopRefPart): void {
    this.#parts.delete(part);
  }
}

/**
 * The public face of a {@link LoopRef}: a class declares
 * `export interface X extends Referable {}` and calls {@link implementRef}.
 */
export interface Referable {
  /**
   * Lets the process exit while this handle's waits (a pending receive,
   * acquire, lock, accept, ...) are all it has left to do, as
   * `net.Socket#unref()` does: they stay pending, and still settle if the
   * process stays up for another reason. Applies to the waits pending now
   * and to later ones. Returns the handle.
   */
  unref(): this;
  /** Undoes `unref()`: pending waits keep the process alive again (the default). Returns the handle. */
  ref(): this;
  /** Whether pending waits of this handle keep the process alive: `true` unless `unref()` was called. */
  hasRef(): boolean;
}

/**
 * Puts `ref()`, `unref()` and `hasRef()` on `target`'s prototype.
 * `loopRefOf(self)`, asked only of objects, is the class's own brand check (e.g.
 * `#loopRef in self ? self.#loopRef : undefined`): anything else as `this` (a
 * Proxy of a handle, an object made from the prototype) is refused with
 * `ERR_INVALID_THIS`, and nothing changes.
 */
export function implementRef(
  target: { readonly prototype: object; readonly name: string }, loopRefOf: (self: object) => LoopRef | undefined,
): void {
  const of = (self: unknown): LoopRef => {
    const state = typeof self === 'object' && self !== null ? loopRefOf(self) : undefined;
    if (state === undefined) throw invalidThis(target.name);
    return state;
  };
  const methods: Referable = {
    ref() {
      of(this).set(true);
      return this;
    },
    unref() {
      of(this).set(false);
      return this;
    },
    hasRef() {
      return of(this).ref;
    },
  };
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(target.prototype, name, { value, writable: true, configurable: true, enumerable: false });
  }
}

/** A `net.Socket` (or anything with ref()/unref()) as a part: it follows the handle's state. */
export function socketPart(socket: { ref(): unknown; unref(): unknown }): LoopRefPart {
  return { setRef: (ref) => void (ref ? socket.ref() : socket.unref()) };
}

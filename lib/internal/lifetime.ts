/**
 * The lifetime of a handle that owns a native object rather than a descriptor
 * (a Semaphore, a Mutex, a Channel; see OwnedDescriptor for descriptors),
 * written once: open until `end()`, which first rejects whatever waits on the
 * handle with `ERR_IPC_CLOSED`; "is it open" asked one way, by `open`.
 * @packageDocumentation
 */
import { closedError } from '../errors';

/** What ends with the handle: pending waits, rejected with the reason given. */
export type Ender = (reason: () => Error) => void;

export class Lifetime<H> {
  #handle: H | null;
  readonly #kind: string;
  readonly #enders: Ender[];

  /**
   * @param kind - The class name `ERR_IPC_CLOSED` names.
   * @param enders - Called in order by `end()`, before the handle is given back.
   */
  constructor(kind: string, handle: H, ...enders: Ender[]) {
    this.#kind = kind;
    this.#handle = handle;
    this.#enders = enders;
  }

  /** Whether `end()` was called. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /** The native handle; throws `ERR_IPC_CLOSED` once ended. */
  get open(): H {
    if (this.#handle === null) throw closedError(this.#kind);
    return this.#handle;
  }

  /** The native handle, or null once ended: for what must not throw (inspect). */
  get current(): H | null {
    return this.#handle;
  }

  /**
   * Ends the lifetime once: rejects pending waits (the enders), then returns
   * the native handle for the caller to release; null when already ended.
   */
  end(): H | null {
    const handle = this.#handle;
    if (handle === null) return null;
    this.#handle = null;
    const reason = () => closedError(this.#kind);
    for (const end of this.#enders) end(reason);
    return handle;
  }
}

/**
 * Receive pools: where copying receives put small messages, as
 * `Buffer.allocUnsafe()` puts small Buffers in Node's 8 KiB pool. The native
 * side copies (or has the kernel write) a message into the pool
 * (native/common/pool.h), and a Buffer is made over it here: ~18 ns, where a
 * Buffer of its own costs ~40 ns and a second copy.
 *
 * A received Buffer keeps its whole pool alive (64 KiB), as a
 * `Buffer.allocUnsafe()` one keeps Node's pool; it is never written again,
 * and never shared with another message. Messages longer than
 * {@link POOLED_MAX} get a Buffer of their own.
 * @packageDocumentation
 */
import { markAsUntransferable } from 'node:worker_threads';
import { binding } from '../binding';

/** Bytes of each pool. */
export const POOL_SIZE = 64 * 1024;

/** The longest message put in a pool (native/common/pool.h kPooledMax): 4 KiB. */
export const POOLED_MAX: number = binding.POOLED_MAX;

/**
 * A Buffer over a receive pool, made the way Node makes its own pooled
 * Buffers (lib/buffer.js, FastBuffer: a Uint8Array whose prototype chain has
 * Buffer.prototype, and whose `constructor` is Buffer): `Buffer.isBuffer`,
 * every Buffer method, `instanceof Buffer`. Measured: 18 ns to make, where
 * `Buffer.from(arrayBuffer, offset, length)` takes 40 ns with its checks.
 */
class PooledBuffer extends Uint8Array {
  constructor(pool: ArrayBuffer, offset: number, length: number) {
    super(pool, offset, length);
  }
}
Object.setPrototypeOf(PooledBuffer.prototype, Buffer.prototype);
Object.defineProperty(PooledBuffer.prototype, 'constructor', { value: Buffer, writable: true, configurable: true });

/** A Buffer over `length` bytes of `pool` from `offset`. */
export function pooledBuffer(pool: ArrayBuffer, offset: number, length: number): Buffer {
  return new PooledBuffer(pool, offset, length) as unknown as Buffer;
}

/**
 * A new pool: never resizable, and marked untransferable so that no
 * postMessage can detach it under a native copy (a received Buffer's
 * `.buffer` is the pool; callers check `byteLength` anyway).
 */
export function newPool(): ArrayBuffer {
  const pool = new ArrayBuffer(POOL_SIZE);
  markAsUntransferable(pool);
  return pool;
}

/**
 * A pool whose fill level is kept here (MessageQueue, UnixSocket: their
 * native receives are told where to put a message; the Channel's native side
 * keeps its own). {@link ReceivePool.room} gives the pool and offset for the
 * next receive; {@link ReceivePool.take} makes the Buffer of what landed there.
 */
export class ReceivePool {
  #pool: ArrayBuffer | null = null;
  #used = 0;

  /**
   * The pool, with at least `bytes` (at most {@link POOL_SIZE}) free from
   * {@link ReceivePool.offset}: a new one when the current one has less
   * room, or was detached.
   */
  room(bytes: number): ArrayBuffer {
    let pool = this.#pool;
    if (pool === null || pool.byteLength === 0 || POOL_SIZE - this.#used < bytes) {
      pool = this.#pool = newPool();
      this.#used = 0;
    }
    return pool;
  }

  /** Where the next message goes in the pool {@link ReceivePool.room} gave. */
  get offset(): number {
    return this.#used;
  }

  /**
   * The Buffer of the `length` bytes put at {@link ReceivePool.offset} of the
   * pool {@link ReceivePool.room} gave: over the pool when they are at most
   * {@link POOLED_MAX} (which they then keep), else a copy of its own (the
   * pool's room is used again).
   */
  take(length: number): Buffer {
    const pool = this.#pool!;
    const at = this.#used;
    if (length > POOLED_MAX) return Buffer.from(new Uint8Array(pool, at, length));
    this.#used = Math.min(POOL_SIZE, at + ((length + 7) & ~7));
    return pooledBuffer(pool, at, length);
  }
}

/**
 * Anonymous pipes (`pipe2(O_CLOEXEC)`): a one-way channel between a parent and
 * the children it passes an end to, and descriptors inherited from a parent.
 * @packageDocumentation
 */
import { constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check } from './errors';
import { OwnedDescriptor, validateAdoptable, type StreamOptions } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { MAX_PIPE_SIZE, pipeSize, setPipeSize } from './internal/pipe-size';
import { validateOptions, validateSize } from './internal/validate';
import { INTERNAL, type Internal } from './internal/construct';

const { O_RDONLY, O_WRONLY } = fsConstants;

/** Which way data goes through a descriptor, from this process's side. */
export type Direction = 'read' | 'write' | 'both';

/**
 * One end of a pipe, or a stream descriptor inherited from a parent. It is
 * close-on-exec, so it reaches a child only when passed on purpose (see
 * {@link spawn}); `stream()` turns it into a Node stream.
 */
export class PipeEnd extends OwnedDescriptor {
  readonly #direction: Direction;

  /**
   * Made by {@link pipe} and {@link inherited} only (kept in the .d.ts, so that `new PipeEnd()` does not type-check).
   * @hidden
   */
  constructor(key: Internal, fd: number, direction: Direction) {
    super(key, fd);
    this.#direction = direction;
  }

  /**
   * Its direction, for a child to check (lib/internal/share.ts); undefined for
   * anything that is not a PipeEnd.
   * @internal
   */
  static shareState(value: unknown): { direction: Direction } | undefined {
    if (typeof value !== 'object' || value === null || !(#direction in value)) return undefined;
    return { direction: value.#direction };
  }

  /** `'read'` for a read end, `'write'` for a write end; `'both'` for a socket or O_RDWR descriptor. */
  get direction(): Direction {
    return this.#direction;
  }

  /**
   * The pipe's capacity in bytes (`F_GETPIPE_SZ`): how much a writer can put
   * in before it has to wait for the reader (65536 by default on Linux).
   * `EBADF` for an end that is not a pipe (an inherited socket).
   */
  get pipeSize(): number {
    return pipeSize(this.openFd);
  }

  /**
   * Sets the pipe's capacity (`F_SETPIPE_SZ`, for both ends: the pipe is one
   * kernel object) to at least `bytes`; the kernel rounds up to a
   * power-of-two number of pages, which `pipeSize` then reports. A larger pipe
   * lets a writer run further ahead of a slow or sleeping reader, so both
   * sides wake up less often. Without CAP_SYS_RESOURCE it is `EPERM` past
   * /proc/sys/fs/pipe-max-size (1 MiB by default) or once the user's pipes
   * use /proc/sys/fs/pipe-user-pages-soft pages; below what the pipe holds it
   * is `EBUSY`.
   */
  setPipeSize(bytes: number): void {
    setPipeSize(this.openFd, bytes, 'bytes');
  }

  /**
   * Hands the descriptor to a `net.Socket`: a Readable for a read end (EOF when
   * every write end is closed), a Writable for a write end (with backpressure:
   * `write()` returns false while the pipe is full; EPIPE is an 'error' event,
   * never a crash). The socket owns the descriptor from then on; this handle
   * is closed. The descriptor becomes non-blocking, for every process sharing
   * it: pass an end to children or stream it here, not both.
   *
   * With `options.onread` (a read end), every read goes into one buffer of
   * yours instead of a new 64 KiB Buffer per read: no allocation, and with a
   * buffer as large as the pipe ({@link PipeEnd.setPipeSize}), one read(2)
   * takes all that is there.
   */
  stream(options?: StreamOptions): Socket {
    return this.toSocket({ readable: this.#direction !== 'write', writable: this.#direction !== 'read' }, options);
  }

  /** `PipeEnd { fd: 21, direction: 'read', closed: false }` for `console.log` and `util.inspect`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('PipeEnd', { fd: this.fd, direction: this.#direction, closed: this.closed }, depth, options);
  }
}

/** Options of {@link pipe}. */
export interface PipeOptions {
  /**
   * The pipe's capacity in bytes, as {@link PipeEnd.setPipeSize} sets it
   * (default: the kernel's, 65536). Bounded by /proc/sys/fs/pipe-max-size
   * without CAP_SYS_RESOURCE.
   */
  size?: number;
}

/**
 * Creates a pipe: `readEnd` receives what is written to `writeEnd`. Both ends
 * are close-on-exec from creation. With `size`, the pipe gets that capacity
 * before it is returned (if the kernel refuses, both ends are closed and the
 * error thrown).
 *
 * @example
 * ```ts
 * const { readEnd, writeEnd } = pipe();
 * const child = spawn('cat', [], { stdio: ['inherit', 'inherit', 'inherit'], fds: { 3: readEnd } });
 * ```
 */
export function pipe(options?: PipeOptions): { readEnd: PipeEnd; writeEnd: PipeEnd } {
  const { size } = validateOptions(options);
  if (size !== undefined) validateSize(size, 'options.size', MAX_PIPE_SIZE);
  const out = new Int32Array(2);
  check(binding.pipe(out), 'pipe2');
  const ends = { readEnd: new PipeEnd(INTERNAL, out[0], 'read'), writeEnd: new PipeEnd(INTERNAL, out[1], 'write') };
  try {
    if (size !== undefined) setPipeSize(out[1], size, 'options.size');
  } catch (err) {
    ends.readEnd.close();
    ends.writeEnd.close();
    throw err;
  }
  return ends;
}

/**
 * Takes ownership of a descriptor this process inherited (e.g. `inherited(3)`
 * in a child given `fds: { 3: end }`): it becomes close-on-exec, so it goes no
 * further, and `close()` closes it. Its direction comes from its access mode.
 * A descriptor an open handle already owns is refused.
 */
export function inherited(fd: number): PipeEnd {
  validateAdoptable(fd);
  const mode = check(binding.accessMode(fd), 'fcntl');
  check(binding.adoptFd(fd), 'fcntl');
  return new PipeEnd(INTERNAL, fd, mode === O_RDONLY ? 'read' : mode === O_WRONLY ? 'write' : 'both');
}

/**
 * Anonymous pipes (`pipe2(O_CLOEXEC)`): a one-way channel between a parent and
 * the children it passes an end to, and descriptors inherited from a parent.
 * @packageDocumentation
 */
import { constants as fsConstants } from 'node:fs';
import type { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { binding } from './binding';
import { check, invalidArgValue } from './errors';
import { OwnedDescriptor } from './internal/descriptor';
import { validateFd } from './internal/validate';

const { O_RDONLY, O_WRONLY } = fsConstants;
const { EBUSY } = osConstants.errno;

/** Which way data goes through a descriptor, from this process's side. */
export type Direction = 'read' | 'write' | 'both';

/**
 * One end of a pipe, or a stream descriptor inherited from a parent. It is
 * close-on-exec, so it reaches a child only when passed on purpose (see
 * {@link spawn}); `stream()` turns it into a Node stream.
 */
export class PipeEnd extends OwnedDescriptor {
  readonly #direction: Direction;

  /** @internal */
  constructor(fd: number, direction: Direction) {
    super(fd);
    this.#direction = direction;
  }

  /** `'read'` for a read end, `'write'` for a write end; `'both'` for a socket or O_RDWR descriptor. */
  get direction(): Direction {
    return this.#direction;
  }

  /**
   * Hands the descriptor to a `net.Socket`: a Readable for a read end (EOF when
   * every write end is closed), a Writable for a write end (with backpressure:
   * `write()` returns false while the pipe is full; EPIPE is an 'error' event,
   * never a crash). The socket owns the descriptor from then on; this handle
   * is closed. The descriptor becomes non-blocking, for every process sharing
   * it: pass an end to children or stream it here, not both.
   */
  stream(): Socket {
    return this.toSocket({ readable: this.#direction !== 'write', writable: this.#direction !== 'read' });
  }
}

/**
 * Creates a pipe: `readEnd` receives what is written to `writeEnd`. Both ends
 * are close-on-exec from creation.
 *
 * @example
 * ```ts
 * const { readEnd, writeEnd } = pipe();
 * const child = spawn('cat', [], { stdio: ['inherit', 'inherit', 'inherit'], fds: { 3: readEnd } });
 * ```
 */
export function pipe(): { readEnd: PipeEnd; writeEnd: PipeEnd } {
  const out = new Int32Array(2);
  check(binding.pipe(out), 'pipe2');
  return { readEnd: new PipeEnd(out[0], 'read'), writeEnd: new PipeEnd(out[1], 'write') };
}

/**
 * Takes ownership of a descriptor this process inherited (e.g. `inherited(3)`
 * in a child given `fds: { 3: end }`): it becomes close-on-exec, so it goes no
 * further, and `close()` closes it. Its direction comes from its access mode.
 * A descriptor an open handle already owns is refused.
 */
export function inherited(fd: number): PipeEnd {
  validateFd(fd);
  const mode = check(binding.accessMode(fd), 'fcntl');
  const adopted = binding.adoptFd(fd);
  if (adopted === -EBUSY) throw invalidArgValue('fd', fd, 'already belongs to an open handle');
  check(adopted, 'fcntl');
  return new PipeEnd(fd, mode === O_RDONLY ? 'read' : mode === O_WRONLY ? 'write' : 'both');
}

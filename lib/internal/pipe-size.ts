/**
 * A pipe's capacity (`fcntl` F_GETPIPE_SZ / F_SETPIPE_SZ), shared by anonymous
 * pipe ends and FIFOs, which are the same kind of kernel pipe; errors name the
 * limit that refused a size.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import { binding } from '../binding';
import { check, IpcError } from '../errors';
import { procNumber } from './limits';
import { validateSize } from './validate';

const { EBADF, EBUSY, EPERM } = osConstants.errno;

/** The largest capacity F_SETPIPE_SZ takes (the kernel's 2^31; it rounds up to a power-of-two number of pages). */
export const MAX_PIPE_SIZE = 2 ** 31;

/** The capacity in bytes of the pipe behind `fd`. */
export function pipeSize(fd: number, path?: string): number {
  const r = binding.pipeSize(fd, 0);
  if (r === -EBADF) throw new IpcError(r, 'fcntl', path, 'not a pipe or FIFO (F_GETPIPE_SZ)');
  return check(r, 'fcntl', path);
}

/** Sets the capacity of the pipe behind `fd` to at least `bytes` (validated as `name`); returns what it became. */
export function setPipeSize(fd: number, bytes: number, name: string, path?: string): number {
  validateSize(bytes, name, MAX_PIPE_SIZE);
  const r = binding.pipeSize(fd, bytes);
  if (r >= 0) return r;
  throw new IpcError(r, 'fcntl', path, setFailure(r, bytes));
}

/** What F_SETPIPE_SZ's error means here; undefined for the generic text. */
function setFailure(errno: number, bytes: number): string | undefined {
  if (errno === -EBADF) return 'not a pipe or FIFO (F_SETPIPE_SZ)';
  if (errno === -EBUSY) return `the pipe holds more data than a capacity of ${bytes} bytes can take (F_SETPIPE_SZ)`;
  if (errno !== -EPERM) return undefined;
  // Root (CAP_SYS_RESOURCE) passes both limits; pipe-max-size is itself a
  // power-of-two number of pages, so comparing the unrounded size is exact.
  const max = procNumber('/proc/sys/fs/pipe-max-size');
  if (max === undefined || bytes > max) {
    return `pipe size ${bytes} exceeds /proc/sys/fs/pipe-max-size (${max ?? 'unknown'}) ` +
      'for a process without CAP_SYS_RESOURCE';
  }
  const soft = procNumber('/proc/sys/fs/pipe-user-pages-soft') ?? 'unknown';
  const hard = procNumber('/proc/sys/fs/pipe-user-pages-hard') ?? 'unknown';
  return `pipe size ${bytes}: this user's pipes already use /proc/sys/fs/pipe-user-pages-soft (${soft}) ` +
    `or pipe-user-pages-hard (${hard}) pages`;
}

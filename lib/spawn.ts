/**
 * Starting a child process that gets exactly its stdio plus the descriptors
 * named in `fds`, at the numbers named there.
 * @packageDocumentation
 */
import {
  spawn as nodeSpawn, type ChildProcess, type SpawnOptions as NodeSpawnOptions, type StdioOptions,
} from 'node:child_process';
import { binding } from './binding';
import { check, invalidArgType, invalidArgValue } from './errors';
import { readArray, validateFd, validateOptions, validatePath } from './internal/validate';

/** Anything with a descriptor: PipeEnd, SharedMemory, a socket... or a plain number. */
export type Passable = number | { readonly fd: number };

/** child_process.spawn options, plus `fds`. */
export interface SpawnOptions extends NodeSpawnOptions {
  /**
   * Descriptors for the child, by the number it will see them as (3 and up):
   * `{ 3: readEnd, 4: shm }`. The parent keeps its own copies; close them when
   * the child has its own.
   */
  fds?: Record<number, Passable>;
}


/**
 * The largest child descriptor number `fds` may name.
 * @internal
 */
export const MAX_CHILD_FD = 1023;

/**
 * `child_process.spawn` that passes `fds` at exactly the numbers given, and
 * nothing else: every descriptor this library creates is close-on-exec from
 * birth, so are Node's own, and descriptors this process inherited without the
 * flag are marked close-on-exec before the child starts (once, for good). The
 * child gets its stdio, the listed descriptors, and no other. libuv forks and
 * execs at once; no JavaScript runs in between.
 */
export function spawn(command: string, args: readonly string[] = [], options?: SpawnOptions): ChildProcess {
  // Checked here, before close_range below; Node checks them again, and the
  // options it knows (cwd, env, ...), after it.
  validatePath(command, 'command');
  const argv = readArray(args, 'args');
  argv.forEach((arg, i) => {
    if (typeof arg !== 'string') throw invalidArgType(`args[${i}]`, 'of type string', arg);
    if (arg.includes('\0')) throw invalidArgValue(`args[${i}]`, arg, 'must not contain NUL characters');
  });
  const { fds = {}, stdio = 'pipe', ...rest } = validateOptions(options);
  if (fds === null || typeof fds !== 'object') throw invalidArgType('options.fds', 'of type object', fds);
  // What is checked is what is used: fds' entries and each handle's fd are
  // read once, into locals, before any of them is checked.
  const entries = validateOptions(fds as Record<string, unknown>, 'options.fds');
  const stdioCopy: unknown = typeof stdio === 'string' ? stdio : readArray(stdio, 'options.stdio');
  const base = (typeof stdioCopy === 'string' ? [stdioCopy, stdioCopy, stdioCopy] : stdioCopy) as unknown[];
  if (base.length > 3) {
    throw invalidArgValue(
      'options.stdio', stdio, 'must be a string or at most 3 entries (pass more descriptors with options.fds)',
    );
  }
  const full = [...base] as Exclude<StdioOptions, string>;
  while (full.length < 3) full.push('pipe');
  for (const [key, value] of Object.entries(entries)) {
    // A key is a canonical decimal number ('3', not '03' or '3.0'), 3 to MAX_CHILD_FD.
    const at = /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : NaN;
    if (!(at >= 3 && at <= MAX_CHILD_FD)) {
      throw invalidArgValue(
        `options.fds key '${key}'`, key, `must be a descriptor number >= 3 and <= ${MAX_CHILD_FD}`, true,
      );
    }
    let fd: unknown = value;
    if (typeof value !== 'number') {
      if (value === null || typeof value !== 'object') {
        throw invalidArgType(`options.fds[${at}]`, 'a descriptor number or an object with an fd', value);
      }
      try {
        fd = (value as { fd?: unknown }).fd;
      } catch (cause) {
        throw Object.assign(invalidArgValue(`options.fds[${at}]`, value, 'could not be read'), { cause });
      }
      if (typeof fd !== 'number') {
        throw invalidArgType(`options.fds[${at}]`, 'a descriptor number or an object with an fd', value);
      }
      // A closed handle reports fd -1: say so rather than "out of range".
      if (fd === -1) throw invalidArgValue(`options.fds[${at}]`, value, 'is closed');
    }
    // int32 >= 0 before anything converts it: 2 ** 32 + 1 must not become 1.
    validateFd(fd, `options.fds[${at}]`);
    while (full.length <= at) full.push('ignore');
    full[at] = fd;
  }
  // Descriptors this process inherited without close-on-exec (Node keeps
  // them, and would pass them on) become close-on-exec first.
  check(binding.closeOnExecAll(), 'close_range');
  try {
    return nodeSpawn(command, args, { ...rest, stdio: full });
  } catch (err) {
    throw withClosedFd(err, full);
  }
}

/**
 * Node's `spawn EBADF` names no descriptor: the message gains the first
 * `fds` entry that is not open (the error keeps its code, errno and syscall).
 */
function withClosedFd(err: unknown, stdio: unknown[]): unknown {
  if ((err as { code?: unknown } | null)?.code !== 'EBADF') return err;
  const at = stdio.findIndex((fd, i) => i >= 3 && typeof fd === 'number' && binding.accessMode(fd) < 0);
  if (at < 0) return err;
  (err as Error).message += `: options.fds[${at}] (${String(stdio[at])}) is not an open descriptor`;
  return err;
}

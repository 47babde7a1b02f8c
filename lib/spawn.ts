/**
 * Starting a child process that gets exactly its stdio plus the descriptors
 * named in `fds`, at the numbers named there.
 * @packageDocumentation
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions as NodeSpawnOptions, type StdioOptions } from 'node:child_process';
import { binding } from './binding';
import { check, invalidArgType, invalidArgValue } from './errors';
import { validateInteger, validateOptions, validatePath } from './internal/validate';

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

/** The largest child descriptor number `fds` may name. */
const MAX_CHILD_FD = 1023;

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
  if (!Array.isArray(args)) throw invalidArgType('args', 'an instance of Array', args);
  args.forEach((arg, i) => {
    if (typeof arg !== 'string') throw invalidArgType(`args[${i}]`, 'of type string', arg);
    if (arg.includes('\0')) throw invalidArgValue(`args[${i}]`, arg, 'must not contain NUL characters');
  });
  const { fds = {}, stdio = 'pipe', ...rest } = validateOptions(options);
  if (fds === null || typeof fds !== 'object') throw invalidArgType('options.fds', 'of type object', fds);
  const base: StdioOptions = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
  if (!Array.isArray(base) || base.length > 3) {
    throw invalidArgValue('options.stdio', stdio, 'must be a string or at most 3 entries (pass more descriptors with options.fds)');
  }
  const full: Exclude<StdioOptions, string> = [...base];
  while (full.length < 3) full.push('pipe');
  for (const [key, value] of Object.entries(fds)) {
    const at = Number(key);
    validateInteger(at, `options.fds key '${key}'`, 3, MAX_CHILD_FD);
    const fd = typeof value === 'number' ? value : (value as { fd?: unknown })?.fd;
    if (typeof fd !== 'number') throw invalidArgType(`options.fds[${at}]`, 'a descriptor number or an object with an fd', value);
    if (!Number.isInteger(fd) || fd < 0) throw invalidArgValue(`options.fds[${at}]`, value, 'is closed or not a descriptor');
    while (full.length <= at) full.push('ignore');
    full[at] = fd;
  }
  // Descriptors this process inherited without close-on-exec (Node keeps
  // them, and would pass them on) become close-on-exec first.
  check(binding.closeOnExecAll(), 'close_range');
  return nodeSpawn(command, args, { ...rest, stdio: full });
}

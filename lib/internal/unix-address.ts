/**
 * The addresses of Unix-domain sockets, and binding to them: a `{ path }` or
 * `{ abstract }` (or `net`'s string form) checked into sun_path bytes and a
 * label for errors, kernel sun_path bytes decoded back, and bind(2) that gives
 * a socket file exactly its mode and removes only the file it made.
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { binding } from '../binding';
import { check, invalidArgType, invalidArgValue, IpcError } from '../errors';
import type { UnixAddress, UnixSocketType } from '../unix-socket';
import { identityOfPath, unlinkIfSame, type FileIdentity } from './descriptor';
import { validateOptions } from './validate';

const { EADDRINUSE, ENOTCONN } = osConstants.errno;
const { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET } = binding;

/** The socket(2) type of each kind. */
export const TYPES: Record<UnixSocketType, number> = {
  stream: SOCK_STREAM, seqpacket: SOCK_SEQPACKET, dgram: SOCK_DGRAM,
};

/** sun_path holds 108 bytes: a path and its NUL, or a NUL and an abstract name. */
const MAX_ADDRESS_BYTES = 107;

/** An address as the binding wants it, and as errors name it. */
export interface Address {
  /** The bytes of sun_path: the path, or a NUL and the abstract name. */
  bytes: Buffer;
  /** `'/tmp/s'`, or `'@name'` for an abstract name (as ss(8) shows it). */
  label: string;
  /** The path when it names a file. */
  file: string | null;
}

/** A socket type option, one of `allowed`. */
export function validateType<T extends UnixSocketType>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(
      name, value, `must be ${allowed.map((t) => `'${t}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`,
    );
  }
  return value as T;
}

/**
 * `net`'s string form of an address, as `net.connect(path)` and
 * `server.listen(path)` take it: a path, or `'\0name'` for a name in the
 * abstract namespace (a leading NUL, as in sun_path).
 */
function fromString(address: string): { path?: string; abstract?: string } {
  return address.startsWith('\0') ? { abstract: address.slice(1) } : { path: address };
}

/**
 * The options of a call that takes its address first, as a string
 * (`connect('/tmp/s')`, options after it) or inside the options object
 * (`connect({ path: '/tmp/s' })`, nothing after it); read once.
 */
export function addressAndOptions<T extends { path?: string; abstract?: string }>(
  target: unknown, options: unknown,
): Partial<T> {
  if (typeof target !== 'string') {
    if (options !== undefined) {
      throw invalidArgValue('options', options, 'is only taken after an address given as a string');
    }
    return validateOptions(target as T | undefined);
  }
  const opts = validateOptions(options as T | undefined);
  if (opts.path !== undefined || opts.abstract !== undefined) {
    throw invalidArgValue('options', options, 'must not set path or abstract when the address is given as a string');
  }
  return { ...opts, ...fromString(target) } as Partial<T>;
}

/** `{ path }` or `{ abstract }` to an Address; null when neither is set and none is required. */
export function parseAddress(
  options: { path?: unknown; abstract?: unknown }, name: string, required: boolean,
): Address | null {
  const { path, abstract } = options;
  if (path !== undefined && abstract !== undefined) {
    throw invalidArgValue(name, options, 'must set only one of path and abstract');
  }
  if (path === undefined && abstract === undefined) {
    if (required) throw invalidArgValue(name, options, 'must set path or abstract');
    return null;
  }
  const isPath = path !== undefined;
  const value = isPath ? path : abstract;
  const field = `${name}.${isPath ? 'path' : 'abstract'}`;
  if (typeof value !== 'string') throw invalidArgType(field, 'of type string', value);
  const bytes = Buffer.from(value);
  const why =
    bytes.length === 0 ? 'must not be empty' :
    bytes.length > MAX_ADDRESS_BYTES ? `must be at most ${MAX_ADDRESS_BYTES} bytes (sun_path holds 108, ` +
      `${isPath ? 'with the terminating NUL' : 'with the leading NUL'})` :
    isPath && bytes.includes(0) ? 'must not contain NUL characters' :
    null;
  if (why !== null) throw invalidArgValue(field, value, why);
  return isPath
    ? { bytes, label: value, file: value }
    : { bytes: Buffer.concat([Buffer.alloc(1), bytes]), label: `@${value}`, file: null };
}

/** A `to` option: `{ path }`, `{ abstract }`, or a string (see fromString). */
export function parseDestination(value: unknown, name: string): Address {
  if (typeof value === 'string') return parseAddress(fromString(value), name, true)!;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type string or object', value);
  return parseAddress(validateOptions(value as { path?: unknown; abstract?: unknown }, name), name, true)!;
}

/** sun_path bytes from the kernel to a public address; undefined for an unnamed socket. */
export function decodeAddress(bytes: Uint8Array, length: number): UnixAddress | undefined {
  if (length === 0) return undefined;
  if (bytes[0] === 0) return { abstract: Buffer.from(bytes.buffer, bytes.byteOffset + 1, length - 1).toString() };
  const end = bytes.subarray(0, length).indexOf(0);
  return { path: Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? length : end).toString() };
}

function labelOf(address: UnixAddress | undefined | null): string | null {
  if (!address) return null;
  return address.path ?? `@${address.abstract}`;
}

const addressScratch = new Uint8Array(108);

/** getsockname/getpeername as a public address; undefined when unnamed or not connected. */
export function addressOf(fd: number, peer: boolean): UnixAddress | undefined {
  const n = binding.socketAddress(fd, peer, addressScratch);
  if (n === -ENOTCONN) return undefined;
  check(n, peer ? 'getpeername' : 'getsockname');
  return decodeAddress(addressScratch, n);
}

/** The label of a socket this process did not make: its peer's address, else its own, else null. */
export function labelOfFd(fd: number): string | null {
  return labelOf(addressOf(fd, true)) ?? labelOf(addressOf(fd, false));
}

/**
 * This process's umask from /proc/self/status (reading it with umask(2) would
 * change it for a moment); -1 if unknown.
 */
function currentUmask(): number {
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? parseInt(match[1], 8) : -1;
  } catch {
    return -1;
  }
}

/** A socket file we bound, and which file it was, so close() removes only that one. */
export type BoundFile = { readonly path: string; readonly identity: FileIdentity | null };

/**
 * Binds `fd` to `address`; returns the socket file made, or null for an
 * abstract name (no file). A socket file gets `mode` exactly: the kernel
 * creates it with the mode set on the socket beforehand, less the umask (so
 * never more open than asked), and only when the umask took some of the asked
 * bits is the file chmod'ed to the rest. Bound, or nothing left behind: a file
 * whose chmod failed is removed again.
 */
function bindTo(fd: number, address: Address, mode: number): BoundFile | null {
  const r = binding.socketBind(fd, address.bytes, address.file === null ? -1 : mode);
  if (r === -EADDRINUSE && address.file !== null) {
    throw new IpcError(
      r, 'bind', address.label, 'address already in use (a file exists there: if no process uses it, remove it first)',
    );
  }
  check(r, 'bind', address.label);
  if (address.file === null) return null;
  // Recorded at once: fstat of a socket describes the socket, not its file.
  const bound = { path: address.file, identity: identityOfPath(address.file, (st) => st.isSocket()) };
  const umask = currentUmask();
  if (umask !== -1 && (mode & umask) === 0) return bound;
  const chmod = binding.socketChmodPath(address.bytes, mode);
  if (chmod < 0) removeFile(bound);
  check(chmod, 'chmod', address.label);
  return bound;
}

/**
 * A new socket of `type`, bound to `address` (null: left unbound), given to
 * `use` (which makes its handle). If anything fails, the descriptor is closed
 * and a socket file bound for it removed: nothing is left behind.
 */
export function bindNew<T>(
  type: UnixSocketType, address: Address | null, mode: number, use: (fd: number, file: BoundFile | null) => T,
): T {
  const fd = check(binding.socketCreate(TYPES[type]), 'socket', address?.label);
  let file: BoundFile | null = null;
  try {
    if (address !== null) file = bindTo(fd, address, mode);
    return use(fd, file);
  } catch (err) {
    binding.close(fd);
    removeFile(file);
    throw err;
  }
}

/** Removes a socket file we bound, if its path still names it (see unlinkIfSame). */
export function removeFile(file: BoundFile | null): void {
  if (file !== null) unlinkIfSame(file.path, file.identity);
}

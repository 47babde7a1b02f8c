/**
 * Passing this package's objects to a child process by name: what a child
 * needs to open one again (its kind, the descriptors to pass, plain JSON
 * data), and in the child the object again, of its own class, from that.
 * Every kind is one row of the table below; the classes give only their
 * private state (`shareState`) and the factories the child calls.
 * @packageDocumentation
 */
import { Channel } from '../channel';
import { closedError, invalidArgType, invalidArgValue } from '../errors';
import { MessageQueue } from '../message-queue';
import { Mutex } from '../mutex';
import { inherited, PipeEnd, type Direction } from '../pipe';
import { Semaphore } from '../semaphore';
import { SharedMemory } from '../shared-memory';
import { UnixSocket, type UnixSocketType } from '../unix-socket';
import { OwnedDescriptor, validateAdoptable } from './descriptor';
import { readArray, validateBoolean, validateFd, validateInteger, validateName, validateOptions } from './validate';

/** What a child needs to reopen one object: its kind, the parent's descriptors to pass, plain JSON data. */
export interface SharedObject {
  kind: string;
  fds: number[];
  data: unknown;
}

/** The descriptors and data of one object, as its kind's row shares them. */
type Shared = Omit<SharedObject, 'kind'>;

/** One kind of object: how it is shared, and how its data is read back in the child. */
interface Kind {
  /** The object's descriptors and data; undefined when `value` is not of this kind; ERR_IPC_CLOSED once closed. */
  share(value: unknown): Shared | undefined;
  /**
   * Checks `data` (no syscall) and says how many descriptors must come with
   * it and how to make the object of them.
   */
  parse(data: Record<string, unknown>): { fds: number; revive(fds: number[]): object };
}

/**
 * A getter of a class's prototype, taken when this module loads: an own
 * property an instance was given (`fd`, `closed`) cannot answer in its place.
 */
function getter<T>(proto: object, key: string): (self: object) => T {
  const get = Object.getOwnPropertyDescriptor(proto, key)!.get!;
  return (self) => Reflect.apply(get, self, []) as T;
}

/** The descriptor of a handle that owns one; -1 once closed (or handed to a stream). */
const fdOf = getter<number>(OwnedDescriptor.prototype, 'fd');

const channelClosed = getter<boolean>(Channel.prototype, 'closed');

/** The open descriptor of `value`; ERR_IPC_CLOSED (naming `what`) once closed. */
function openFd(value: object, what: string): number {
  const fd = fdOf(value);
  if (fd < 0) throw closedError(what);
  return fd;
}

/** share() of a handle that is one descriptor: its private state (plain values) is the data. */
function ownFd(kind: string, state: (value: unknown) => object | undefined): Kind['share'] {
  return (value) => {
    const s = state(value);
    return s === undefined ? undefined : { fds: [openFd(value as object, kind)], data: { ...s } };
  };
}

/** `closed` of a class whose handle owns no descriptor of its own. */
function assertOpen(closed: (self: object) => boolean, value: object, what: string): void {
  if (closed(value)) throw closedError(what);
}

function nameOrNull(value: unknown, name: string): string | null {
  return value === null ? null : validateName(value, name);
}

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw invalidArgValue(name, value, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

/**
 * A handle of one descriptor with one property the child checks against what
 * the descriptor turns out to be (a socket's type, a pipe end's direction):
 * `adopt` makes the handle, which is closed again when they differ.
 */
function checked<K extends string, T extends string>(
  kind: string, key: K, allowed: readonly T[], state: (value: unknown) => Record<K, T> | undefined,
  adopt: (fd: number) => Record<K, T> & { close(): void },
): Kind {
  return {
    share: ownFd(kind, state),
    parse(data) {
      const expected = oneOf(data[key], `data.${key}`, allowed);
      return {
        fds: 1,
        revive([fd]) {
          const made = adopt(fd);
          if (made[key] === expected) return made;
          made.close();
          throw invalidArgValue(`data.${key}`, expected, `does not match the descriptor, which is '${made[key]}'`);
        },
      };
    },
  };
}

/**
 * A Semaphore or Mutex: by name (a named one), or inside shared memory (the
 * memory's descriptor and the offset): the child's handle then works on the
 * same memory as the parent's.
 */
function placed(
  kind: string,
  closed: (self: object) => boolean,
  state: (value: unknown) => ReturnType<typeof Mutex.shareState>,
  open: (name: string) => Semaphore | Mutex,
  inside: (shm: SharedMemory, offset: number) => Semaphore | Mutex,
): Kind {
  return {
    share(value) {
      const s = state(value);
      if (s === undefined) return undefined;
      assertOpen(closed, value as object, kind);
      if (s.inside === null) return { fds: [], data: { name: s.name } };
      const { shm, offset } = s.inside;
      const fd = openFd(shm, `The SharedMemory this ${kind} lives in`);
      return { fds: [fd], data: { name: null, memory: SharedMemory.shareState(shm)!.name, offset } };
    },
    parse(data) {
      if (data.name !== null) {
        const name = validateName(data.name, 'data.name');
        return { fds: 0, revive: () => open(name) };
      }
      const memory = nameOrNull(data.memory, 'data.memory');
      const offset = data.offset;
      validateInteger(offset, 'data.offset', 0, Number.MAX_SAFE_INTEGER);
      return {
        fds: 1,
        revive([fd]) {
          // The child's handle keeps this memory, as the parent's keeps its own.
          const shm = SharedMemory.adopt(fd, memory, false);
          try {
            return inside(shm, offset);
          } catch (err) {
            shm.close();
            throw err;
          }
        },
      };
    },
  };
}

const SOCKET_TYPES: readonly UnixSocketType[] = ['stream', 'seqpacket', 'dgram'];
const DIRECTIONS: readonly Direction[] = ['read', 'write', 'both'];

/** Every kind of object that can be shared, by the kind a child is told. */
const KINDS = new Map<string, Kind>([
  ['SharedMemory', {
    share: ownFd('SharedMemory', (v) => SharedMemory.shareState(v)),
    parse(data) {
      const name = nameOrNull(data.name, 'data.name');
      const readOnly = data.readOnly;
      validateBoolean(readOnly, 'data.readOnly');
      return { fds: 1, revive: ([fd]) => SharedMemory.adopt(fd, name, readOnly) };
    },
  }],
  ['Channel', {
    share(value) {
      const s = Channel.shareState(value);
      if (s === undefined) return undefined;
      assertOpen(channelClosed, value as object, 'Channel');
      const name = SharedMemory.shareState(s.memory)!.name;
      // A named channel's memory cannot be sealed against shrinking (shm_open
      // objects take no seals), which Channel.fromFd requires of a descriptor
      // it is handed: the child opens it by name, as any other process would.
      // (If the parent unlinked the name meanwhile, that fails with ENOENT.)
      return name === null ? { fds: [fdOf(s.memory)], data: { name } } : { fds: [], data: { name } };
    },
    parse(data) {
      const name = nameOrNull(data.name, 'data.name');
      return name === null
        ? { fds: 1, revive: ([fd]) => Channel.fromFd(fd) }
        : { fds: 0, revive: () => Channel.open(name) };
    },
  }],
  ['MessageQueue', {
    share: ownFd('MessageQueue', (v) => MessageQueue.shareState(v)),
    parse(data) {
      const name = validateName(data.name, 'data.name');
      const access = oneOf(data.access, 'data.access', ['read', 'write', 'readwrite'] as const);
      // By its descriptor, never by name: the name may be unlinked by now.
      return { fds: 1, revive: ([fd]) => MessageQueue.adopt(fd, name, access) };
    },
  }],
  ['Semaphore', placed(
    'Semaphore', getter(Semaphore.prototype, 'closed'), (v) => Semaphore.shareState(v),
    (name) => Semaphore.open(name), (shm, offset) => Semaphore.inside(shm, offset),
  )],
  ['Mutex', placed(
    'Mutex', getter(Mutex.prototype, 'closed'), (v) => Mutex.shareState(v),
    (name) => Mutex.open(name), (shm, offset) => Mutex.inside(shm, offset),
  )],
  ['UnixSocket', checked(
    'UnixSocket', 'type', SOCKET_TYPES, (v) => UnixSocket.shareState(v), (fd) => UnixSocket.fromFd(fd),
  )],
  ['PipeEnd', checked('PipeEnd', 'direction', DIRECTIONS, (v) => PipeEnd.shareState(v), inherited)],
]);

const KIND_NAMES = [...KINDS.keys()].join(', ');

/**
 * Describes `value` (an open object of this package) for a child:
 * ERR_INVALID_ARG_TYPE naming `name` (e.g. "options.objects.jobs") for
 * anything else (a Proxy of one included), ERR_IPC_CLOSED for a closed one.
 * No syscall. The descriptors are the parent's: pass them to the child (at
 * numbers of its choosing) while the object is open.
 */
export function shareObject(value: unknown, name: string): SharedObject {
  for (const [kind, row] of KINDS) {
    const shared = row.share(value);
    if (shared !== undefined) return { kind, ...shared };
  }
  throw invalidArgType(name, `an open ${KIND_NAMES}`, value);
}

/**
 * In the child: the object again, from its `kind`, the descriptor numbers the
 * child got them at (in the same order as the parent's `fds`), and `data`.
 * Nothing here is trusted: a kind, descriptor list or data that is not what
 * {@link shareObject} makes is a coded error (`ERR_INVALID_ARG_TYPE` /
 * `ERR_INVALID_ARG_VALUE`) before any syscall, and a descriptor that is not
 * what the data says fails as the class's own factory fails. On success the
 * object owns the descriptors; on failure they stay open, except what a
 * factory closes itself (`Channel.fromFd`), and a memory adopted for a Mutex
 * or Semaphore that then failed.
 */
export function reviveObject(kind: unknown, fds: unknown, data: unknown): object {
  if (typeof kind !== 'string') throw invalidArgType('kind', 'of type string', kind);
  const row = KINDS.get(kind);
  if (row === undefined) throw invalidArgValue('kind', kind, `must be one of ${KIND_NAMES}`);
  const list = readArray(fds, 'fds');
  let parsed: ReturnType<Kind['parse']>;
  try {
    if (data === null || typeof data !== 'object') throw invalidArgType('data', 'of type object', data);
    parsed = row.parse(validateOptions(data as Record<string, unknown>, 'data'));
  } catch (cause) {
    // Whatever is wrong with it (a type, a value), the data as a whole is a bad value.
    throw Object.assign(
      invalidArgValue('data', data, `does not describe a ${kind} (${(cause as Error).message})`), { cause },
    );
  }
  if (list.length !== parsed.fds) {
    throw invalidArgValue('fds', fds, `must hold ${parsed.fds} descriptor(s) for this ${kind}`);
  }
  list.forEach((fd, i) => {
    validateFd(fd, `fds[${i}]`);
    validateAdoptable(fd);
  });
  return parsed.revive(list as number[]);
}

/**
 * POSIX message queues (`mq_open`): kernel-managed queues of messages with
 * priorities, addressed by name, between any processes.
 * @packageDocumentation
 */
import { constants as fsConstants, fstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, invalidArgValue, IpcError } from './errors';
import { createOrOpen } from './internal/create-or-open';
import { procNumber, softLimit } from './internal/limits';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { AGAIN } from './internal/poller';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { SyncWaitOptions, WaitOptions } from './options';
import { OwnedDescriptor, validateAdoptable } from './internal/descriptor';
import { POOL_SIZE, ReceivePool } from './internal/buffer-pool';
import {
  toBytes, validateBoolean, validateInteger, validateMode, validateName, validateOptions,
} from './internal/validate';
import { INTERNAL, type Internal } from './internal/construct';

const { O_RDONLY, O_WRONLY, O_RDWR } = fsConstants;
const { EAGAIN, EBADF, EINVAL, EMFILE, EMSGSIZE, ENOENT, ENOSPC, ETIMEDOUT } = osConstants.errno;
const ACCESS = { read: O_RDONLY, write: O_WRONLY, readwrite: O_RDWR } as const;
/**
 * The largest messageSize whose queue receives straight into a receive pool
 * (the kernel wants room for messageSize bytes, whatever a message's length):
 * a quarter of a pool, so that a pool takes many messages before it is
 * replaced. Larger queues receive into a scratch buffer and copy out.
 */
const POOLED_QUEUE_MAX = POOL_SIZE / 4;

/** Options of {@link MessageQueue.open}. */
export interface MessageQueueOptions {
  /** Create the queue if it does not exist. Default `false`. */
  create?: boolean;
  /** With `create`: fail with `EEXIST` if it exists. Default `false`. */
  exclusive?: boolean;
  /** With `create`: permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
  /** With `create`: how many messages it holds (default: /proc/sys/fs/mqueue/msg_default). */
  maxMessages?: number;
  /** With `create`: the largest message in bytes (default: /proc/sys/fs/mqueue/msgsize_default). */
  messageSize?: number;
  /** Which operations this handle may do. Default `'readwrite'`. */
  access?: 'read' | 'write' | 'readwrite';
}

/** A received message. */
export interface Message {
  /** The bytes, copied out of the kernel. */
  data: Buffer;
  /** Its priority: higher ones are received first. */
  priority: number;
}

/** A queue's attributes (`mq_getattr`). */
export interface MessageQueueAttributes {
  maxMessages: number;
  messageSize: number;
  /** Messages in the queue right now. */
  currentMessages: number;
}

/** Options of the waiting `send`/`receive`. */
export interface MessageQueueWaitOptions extends WaitOptions {}

/** Names the kernel limit an mq_open(O_CREAT) failure ran into, and its value. */
function explainOpenFailure(errno: number, maxMessages: number, messageSize: number): string | undefined {
  const limits = '/proc/sys/fs/mqueue';
  if (errno === -EINVAL) {
    const msgMax = procNumber(`${limits}/msg_max`);
    const sizeMax = procNumber(`${limits}/msgsize_max`);
    if (msgMax !== undefined && maxMessages > msgMax) {
      return `maxMessages ${maxMessages} exceeds ${limits}/msg_max (${msgMax})`;
    }
    if (sizeMax !== undefined && messageSize > sizeMax) {
      return `messageSize ${messageSize} exceeds ${limits}/msgsize_max (${sizeMax})`;
    }
  }
  if (errno === -ENOSPC) {
    return `the system already has ${limits}/queues_max (${procNumber(`${limits}/queues_max`)}) queues`;
  }
  if (errno === -EMFILE) {
    const bytes = maxMessages && messageSize ? `${maxMessages} x ${messageSize} bytes plus overhead` : 'its bytes';
    return `the queue's ${bytes} would exceed RLIMIT_MSGQUEUE (${softLimit('Max msgqueue size')} bytes, ulimit -q), ` +
      `or the RLIMIT_NOFILE descriptor limit (${softLimit('Max open files')}) is reached`;
  }
  return undefined;
}

/** The mount points of mqueue filesystems, from /proc/self/mountinfo, in its order. */
function mqueueMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' - '))
    .filter(([, rest]) => rest?.startsWith('mqueue '))
    // Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
    .map(([fields]) => fields.split(' ')[4].replace(
      /\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
    ));
}

/** st_dev of the file at `path`: for a mount point, of the filesystem mounted on top there. Null if unreachable. */
function deviceOf(path: string): bigint | null {
  try {
    return statSync(path, { bigint: true }).dev;
  } catch {
    return null;
  }
}

let probes = 0;

/**
 * The device of this IPC namespace's mqueue filesystem: mq_open(3) opens
 * queues in the namespace's own filesystem, so a queue descriptor's st_dev is
 * that filesystem's, and equals the st_dev of exactly its mounts. Null when
 * no queue could be opened.
 */
function namespaceDevice(mountPoints: readonly string[]): bigint | null {
  const probe = `/posix-ipc-list-${process.pid}-${probes++}`;
  const made = binding.mqOpen(probe, O_RDONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600, 1, 1);
  if (made >= 0) {
    binding.mqUnlink(probe);
    return deviceOfQueue(made);
  }
  // No room for one more queue: a queue that exists will do, if one opens.
  for (const at of mountPoints) {
    let names: string[];
    try {
      names = readdirSync(at);
    } catch {
      continue;
    }
    for (const name of names) {
      const fd = binding.mqOpen(`/${name}`, O_RDONLY, 0, 0, 0);
      if (fd >= 0) return deviceOfQueue(fd);
    }
  }
  return null;
}

/** st_dev of the queue descriptor `fd`, which it closes. */
function deviceOfQueue(fd: number): bigint | null {
  try {
    return fstatSync(fd, { bigint: true }).dev;
  } catch {
    return null;
  } finally {
    binding.close(fd);
  }
}

/** The default size of one of the two attributes, when only the other was given. */
function systemDefault(attribute: 'msg_default' | 'msgsize_default'): number {
  return procNumber(`/proc/sys/fs/mqueue/${attribute}`) ?? (attribute === 'msg_default' ? 10 : 8192);
}

/**
 * A POSIX message queue. Messages come out highest priority first, FIFO
 * within a priority. The waiting operations never block the event loop: the
 * queue descriptor is watched with uv_poll, and no thread is parked.
 * `close()` rejects pending `send`/`receive` calls with `ERR_IPC_CLOSED`; the
 * queue itself stays until unlinked.
 *
 * @example
 * ```ts
 * const q = MessageQueue.open('/jobs', { create: true });
 * await q.send('resize image 42', 5);
 * const { data, priority } = await q.receive();
 * ```
 */
export class MessageQueue extends OwnedDescriptor implements AsyncIterable<Message> {
  static {
    implementRef(this, (self) => (#access in self ? (self as MessageQueue).loopRef : undefined));
  }

  #name: string;
  #access: keyof typeof ACCESS;
  #messageSize: number;
  #maxMessages: number;
  // Opened on the first *Sync call: the kernel hands messages straight to a
  // thread blocked in mq_timedreceive, which beats polling and retrying.
  #blocking = -1;
  /** Where messages land: a receive pool (queues of up to POOLED_QUEUE_MAX), else the scratch. */
  readonly #pool = new ReceivePool();
  #scratch: Buffer | null = null;
  readonly #priority = new Uint32Array(1);

  private constructor(
    key: Internal, fd: number, name: string, access: keyof typeof ACCESS, attributes: MessageQueueAttributes,
  ) {
    super(key, fd, { syscall: 'mq_open', label: name });
    this.#name = name;
    this.#access = access;
    this.#maxMessages = attributes.maxMessages;
    this.#messageSize = attributes.messageSize;
  }

  /** The largest priority + 1 (`sysconf(_SC_MQ_PRIO_MAX)`, 32768 on Linux). */
  static readonly PRIORITY_MAX: number = binding.MQ_PRIO_MAX;

  /**
   * Opens (`create: true`: creates) a queue. When creation fails on a kernel
   * limit the error names it and its value; nothing is left half-created.
   */
  static open(name: string, options?: MessageQueueOptions): MessageQueue {
    const path = validateName(name);
    const opts = validateOptions(options);
    const { create = false, exclusive = false, mode = 0o600, access = 'readwrite' } = opts;
    validateBoolean(create, 'options.create');
    validateBoolean(exclusive, 'options.exclusive');
    validateMode(mode);
    if (!Object.hasOwn(ACCESS, access)) {
      throw invalidArgValue('options.access', access, "must be 'read', 'write' or 'readwrite'");
    }
    let { maxMessages = 0, messageSize = 0 } = opts;
    if (opts.maxMessages !== undefined) validateInteger(maxMessages, 'options.maxMessages', 1, 2 ** 31 - 1);
    if (opts.messageSize !== undefined) validateInteger(messageSize, 'options.messageSize', 1, 2 ** 31 - 1);
    if (!create && (maxMessages || messageSize || exclusive)) {
      throw invalidArgValue('options', options, 'sets maxMessages, messageSize or exclusive, which need create: true');
    }
    if (maxMessages || messageSize) {
      maxMessages ||= systemDefault('msg_default');
      messageSize ||= systemDefault('msgsize_default');
    }

    const open = (flags: number) => binding.mqOpen(path, ACCESS[access] | flags, mode, maxMessages, messageSize);
    let opened: { fd: number; created: boolean };
    try {
      opened = create
        ? createOrOpen(open, exclusive, 'mq_open', path)
        : { fd: check(open(0), 'mq_open', path), created: false };
    } catch (err) {
      const why = err instanceof IpcError && create
        ? explainOpenFailure(err.errno, maxMessages, messageSize)
        : undefined;
      if (why === undefined) throw err;
      throw new IpcError((err as IpcError).errno, 'mq_open', path, why);
    }
    const { fd, created } = opened;
    try {
      // mq_open applied the umask; make the mode exactly what was asked.
      if (created) check(binding.fchmod(fd, mode), 'fchmod', path);
      return new MessageQueue(INTERNAL, fd, path, access, MessageQueue.#getattr(fd, path));
    } catch (err) {
      binding.close(fd);
      if (created) binding.mqUnlink(path);
      throw err;
    }
  }

  /**
   * Its name and access, for a child (lib/internal/share.ts); undefined for
   * anything that is not a MessageQueue.
   * @internal
   */
  static shareState(value: unknown): { name: string; access: keyof typeof ACCESS } | undefined {
    if (typeof value !== 'object' || value === null || !(#access in value)) return undefined;
    return { name: value.#name, access: value.#access };
  }

  /**
   * A queue from a descriptor another process passed (lib/internal/share.ts):
   * on Linux an mqd_t is a descriptor, so the queue arrives even if its name
   * was unlinked meanwhile, which a reopen by name would not survive. The
   * descriptor must be a queue open for exactly `access`; on success the
   * handle owns it (close-on-exec from then on), on failure it stays as it was.
   * @internal
   */
  static adopt(fd: number, name: string, access: keyof typeof ACCESS): MessageQueue {
    validateAdoptable(fd);
    // mq_getattr fails (EBADF) for anything that is not a queue.
    const attributes = MessageQueue.#getattr(fd, name);
    if (check(binding.accessMode(fd), 'fcntl', name) !== ACCESS[access]) {
      throw invalidArgValue('access', access, `is not the access descriptor ${fd} was opened with`);
    }
    // As inherited() adopts a pipe end: close-on-exec and tracked from here on.
    check(binding.adoptFd(fd), 'fcntl', name);
    return new MessageQueue(INTERNAL, fd, name, access, attributes);
  }

  /** Removes a queue's name (`mq_unlink`); open handles keep working. */
  static unlink(name: string): void {
    const path = validateName(name);
    check(binding.mqUnlink(path), 'mq_unlink', path);
  }

  /**
   * The names of the queues of this process's IPC namespace, from a mount of
   * its mqueue filesystem (usually /dev/mqueue). Each IPC namespace has a
   * filesystem of its own, and a mount shows the queues of the namespace
   * that mounted it: mounts of other namespaces (inherited after `unshare
   * --ipc`) are skipped. When none of this namespace is mounted, the error
   * says how to mount one.
   *
   * To tell which mount is this namespace's, it briefly creates (and at once
   * removes) a queue of its own, `/posix-ipc-list-<pid>-<n>`, one message of
   * one byte, and compares its device with each mount's; when that cannot be
   * created (queues_max or RLIMIT_MSGQUEUE reached), a queue found in a mount
   * that this process can open serves instead.
   */
  static list(): string[] {
    const mountPoints = mqueueMounts();
    const ours = namespaceDevice(mountPoints);
    const mountPoint = ours === null ? undefined : mountPoints.find((at) => deviceOf(at) === ours);
    if (mountPoint === undefined) {
      const mount = 'mount one with: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue';
      const shows = mountPoints.length === 1 ? 'shows' : 'show';
      throw new IpcError(-ENOENT, 'scandir', '/dev/mqueue', mountPoints.length === 0
        ? `no mqueue filesystem is mounted; ${mount}`
        : `no mqueue filesystem of this process's IPC namespace is mounted ` +
          `(${mountPoints.join(', ')} ${shows} another namespace's queues); ${mount}`);
    }
    return readdirSync(mountPoint).map((n) => `/${n}`).sort();
  }

  static #getattr(fd: number, path: string): MessageQueueAttributes {
    const out = new Float64Array(3);
    check(binding.mqGetattr(fd, out), 'mq_getattr', path);
    return { maxMessages: out[0], messageSize: out[1], currentMessages: out[2] };
  }

  /** The queue's name, with its leading '/'. */
  get name(): string {
    return this.#name;
  }

  /** `'read'`, `'write'` or `'readwrite'`. */
  get access(): 'read' | 'write' | 'readwrite' {
    return this.#access;
  }

  /** The capacity in messages, as created. */
  get maxMessages(): number {
    return this.#maxMessages;
  }

  /** The largest message in bytes, as created. */
  get messageSize(): number {
    return this.#messageSize;
  }

  /** `{ maxMessages, messageSize, currentMessages }`, read from the kernel now. */
  get attributes(): MessageQueueAttributes {
    this.assertOpen();
    return MessageQueue.#getattr(this.fd, this.#name);
  }

  /**
   * Sends one message, waiting for room without blocking the event loop.
   * @param data - Buffer, TypedArray, DataView or string (UTF-8). It is copied
   *   when the send has to wait, so it may be reused at once.
   * @param priority - 0 .. PRIORITY_MAX - 1; higher is received first.
   */
  send(data: string | ArrayBufferView, priority = 0, options?: MessageQueueWaitOptions): Promise<void> {
    let bytes: Uint8Array;
    let wait: WaitOptions;
    try {
      // Options first: a getter there may detach `data`, which is checked after.
      wait = waitOptions(options);
      bytes = this.#message(data, priority);
    } catch (err) {
      return Promise.reject(err);
    }
    let copied = false;
    let tried = false;
    const keep = () => {
      if (!copied) {
        bytes = Uint8Array.prototype.slice.call(bytes);
        copied = true;
      }
    };
    const attempt = () => {
      tried = true;
      const r = binding.mqSend(this.fd, bytes, priority);
      if (r !== -EAGAIN) return void check(r, 'mq_send', this.#name);
      keep();
      return AGAIN;
    };
    const onTimeout = () => timedOut('mq_send', this.#name, wait.timeoutMs!);
    const sent = this.poller.wait(binding.UV_WRITABLE, attempt, wait, onTimeout);
    // Queued behind other sends, it waits without a first try: copied now,
    // before the caller can change or detach its data.
    if (!tried) keep();
    return sent;
  }

  /** Sends if there is room now; `false` when the queue is full. */
  trySend(data: string | ArrayBufferView, priority = 0): boolean {
    const r = binding.mqSend(this.fd, this.#message(data, priority), priority);
    if (r === -EAGAIN) return false;
    check(r, 'mq_send', this.#name);
    return true;
  }

  /**
   * Sends, blocking this thread until there is room (`mq_timedsend`): for
   * scripts and dedicated processes. Throws `ETIMEDOUT` after `timeoutMs`.
   */
  sendSync(data: string | ArrayBufferView, priority = 0, options?: SyncWaitOptions): void {
    // Options first: a getter there may detach `data`, which is checked after.
    const timeoutMs = syncTimeout(validateOptions(options));
    const bytes = this.#message(data, priority);
    const r = binding.mqSendSync(this.#blockingFd(), bytes, priority, timeoutMs);
    if (r === -ETIMEDOUT) throw timedOut('mq_timedsend', this.#name, timeoutMs);
    check(r, 'mq_timedsend', this.#name);
  }

  /**
   * Receives the highest-priority message, waiting without blocking the
   * event loop. Messages of up to 4 KiB land in a 64 KiB pool, as
   * `Buffer.allocUnsafe()` ones do in Node's (one kept message keeps its pool
   * alive); longer ones get a Buffer of their own.
   */
  receive(options?: MessageQueueWaitOptions): Promise<Message> {
    let wait: WaitOptions;
    try {
      wait = waitOptions(options);
      this.#readable();
    } catch (err) {
      return Promise.reject(err);
    }
    const attempt = () => this.#take(false, -1) ?? AGAIN;
    const onTimeout = () => timedOut('mq_receive', this.#name, wait.timeoutMs!);
    return this.poller.wait(binding.UV_READABLE, attempt, wait, onTimeout);
  }

  /** Receives a message if there is one now; `null` when the queue is empty. Pooled as {@link MessageQueue.receive}. */
  tryReceive(): Message | null {
    this.#readable();
    return this.#take(false, -1);
  }

  /**
   * Receives, blocking this thread until a message arrives (`mq_timedreceive`):
   * for scripts and dedicated processes. Throws `ETIMEDOUT` after `timeoutMs`.
   * Pooled as {@link MessageQueue.receive}.
   */
  receiveSync(options?: SyncWaitOptions): Message {
    const timeoutMs = syncTimeout(validateOptions(options));
    this.#readable();
    return this.#take(true, timeoutMs)!;
  }

  /**
   * The messages as they arrive, until the queue is closed (the iteration
   * ends) or `signal` aborts (it throws an `AbortError`).
   */
  async *messages(options?: { signal?: AbortSignal }): AsyncGenerator<Message, void, undefined> {
    for (;;) {
      try {
        yield await this.receive(options);
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_IPC_CLOSED') return;
        throw err;
      }
    }
  }

  /** `for await (const { data, priority } of queue)`: see {@link MessageQueue.messages}. */
  [Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    return this.messages();
  }

  /** On close: pending `send`/`receive` calls reject with `ERR_IPC_CLOSED`. */
  protected override onClose(): void {
    if (this.#blocking >= 0) binding.close(this.#blocking);
    this.#blocking = -1;
  }

  /** Removes this queue's name (see {@link MessageQueue.unlink}). */
  unlink(): void {
    MessageQueue.unlink(this.#name);
  }

  /**
   * `MessageQueue { name: '/jobs', fd: 21, access: 'readwrite', maxMessages: 10, messageSize: 8192, ref: true,
   * closed: false }`.
   */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle('MessageQueue', {
      name: this.#name, fd: this.fd, access: this.#access, maxMessages: this.#maxMessages,
      messageSize: this.#messageSize,
      ref: this.loopRef.ref, closed: this.closed,
    }, depth, options);
  }

  #blockingFd(): number {
    if (this.#blocking < 0) {
      this.#blocking = check(binding.mqOpenBlocking(this.fd), 'open', this.#name);
      this.reclaimAlso(this.#blocking);
    }
    return this.#blocking;
  }

  /** Checks a message before any syscall: open, writable, size, priority. */
  #message(data: unknown, priority: unknown): Uint8Array {
    this.assertOpen();
    const bytes = toBytes(data);
    validateInteger(priority, 'priority', 0, MessageQueue.PRIORITY_MAX - 1);
    if (this.#access === 'read') {
      throw new IpcError(-EBADF, 'mq_send', this.#name, 'queue was opened with access: \'read\'');
    }
    if (bytes.byteLength > this.#messageSize) {
      throw new IpcError(
        -EMSGSIZE, 'mq_send', this.#name,
        `message of ${bytes.byteLength} bytes exceeds messageSize ${this.#messageSize}`,
      );
    }
    return bytes;
  }

  #readable(): void {
    this.assertOpen();
    if (this.#access === 'write') {
      throw new IpcError(-EBADF, 'mq_receive', this.#name, 'queue was opened with access: \'write\'');
    }
    if (this.#messageSize > POOLED_QUEUE_MAX) this.#scratch ??= Buffer.allocUnsafe(this.#messageSize);
  }

  /**
   * One receive: a Message, or null for EAGAIN. `sync`: on the blocking
   * descriptor, waiting up to `timeoutMs` (-1: no limit; ETIMEDOUT thrown).
   * It lands in the pool, or in the scratch and is copied out.
   */
  #take(sync: boolean, timeoutMs: number): Message | null {
    const pool = this.#scratch === null ? this.#pool : null;
    let length: number;
    if (pool === null) {
      length = sync
        ? binding.mqReceiveSync(this.#blockingFd(), this.#scratch!, this.#priority, timeoutMs)
        : binding.mqReceive(this.fd, this.#scratch!, this.#priority);
    } else {
      const fd = sync ? this.#blockingFd() : this.fd;
      const into = pool.room(this.#messageSize);
      length = sync
        ? binding.mqReceiveSync(fd, into, this.#priority, timeoutMs, pool.offset)
        : binding.mqReceive(fd, into, this.#priority, pool.offset);
    }
    const syscall = sync ? 'mq_timedreceive' : 'mq_receive';
    if (length === -EAGAIN) return null;
    if (length === -ETIMEDOUT && sync) throw timedOut(syscall, this.#name, timeoutMs);
    check(length, syscall, this.#name);
    let data: Buffer;
    if (pool !== null) {
      data = pool.take(length);
    } else {
      data = Buffer.allocUnsafe(length);
      this.#scratch!.copy(data, 0, 0, length);
    }
    return { data, priority: this.#priority[0] };
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface MessageQueue extends Referable {}

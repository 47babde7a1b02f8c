/**
 * The listening Unix-domain socket ({@link UnixSocket.listen}): a stream or
 * seqpacket socket bound to an address, whose `accept()` gives connected
 * {@link UnixSocket}s.
 * @packageDocumentation
 */
import { constants as osConstants } from 'node:os';
import type { InspectOptionsStylized } from './internal/inspect';
import { binding } from './binding';
import { check, stateError, type CodedError } from './errors';
import { INTERNAL, type Internal } from './internal/construct';
import { OwnedDescriptor } from './internal/descriptor';
import { inspectCustom, inspectHandle } from './internal/inspect';
import { implementRef, type Referable } from './internal/loop-ref';
import { AGAIN } from './internal/poller';
import {
  addressAndOptions, bindNew, parseAddress, removeFile, validateType, type Address, type BoundFile,
} from './internal/unix-address';
import { validateInteger, validateMode, validateOptions } from './internal/validate';
import { syncTimeout, timedOut, waitOptions } from './internal/wait';
import type { WaitOptions } from './options';
import type { UnixAddress, UnixSocket, UnixSocketSyncOptions, UnixSocketWaitOptions } from './unix-socket';

const { EAGAIN, ETIMEDOUT } = osConstants.errno;
const { UV_READABLE } = binding;

/** Options of {@link UnixSocket.listen}. */
export interface UnixListenOptions {
  path?: string;
  abstract?: string;
  /** Default `'stream'`. */
  type?: 'stream' | 'seqpacket';
  /** Connections the kernel queues before `accept`. Default 511 (capped at net.core.somaxconn). */
  backlog?: number;
  /** With `path`: the socket file's permission bits, exact whatever the umask. Default `0o600`. */
  mode?: number;
}

/** Makes the UnixSocket of an accepted connection (closing the descriptor if that fails). */
type AdoptConnection = (fd: number, type: 'stream' | 'seqpacket', label: string) => UnixSocket;

let makeServer: (
  fd: number, type: 'stream' | 'seqpacket', address: Address, file: BoundFile | null, adopt: AdoptConnection,
) => UnixSocketServer;

/** {@link UnixSocket.listen}: `adopt` makes the sockets of the connections it accepts. */
export function listen(target: unknown, options: unknown, adopt: AdoptConnection): UnixSocketServer {
  const opts = addressAndOptions<UnixListenOptions>(target, options);
  const address = parseAddress(opts, 'options', true)!;
  const { mode = 0o600, backlog = 511 } = opts;
  const type = validateType(opts.type ?? 'stream', 'options.type', ['stream', 'seqpacket']);
  validateMode(mode);
  validateInteger(backlog, 'options.backlog', 0, 2 ** 31 - 1);
  return bindNew(type, address, mode, (fd, file) => {
    check(binding.socketListen(fd, backlog), 'listen', address.label);
    return makeServer(fd, type, address, file, adopt);
  });
}

/**
 * A listening stream or seqpacket socket ({@link UnixSocket.listen}). Each
 * `accept()` resolves with a connected {@link UnixSocket}.
 */
export class UnixSocketServer extends OwnedDescriptor implements AsyncIterable<UnixSocket> {
  readonly #type: 'stream' | 'seqpacket';
  readonly #address: Address;
  #file: BoundFile | null;
  readonly #adopt: AdoptConnection;
  /** accept() calls not yet settled (acceptSync would jump their queue). */
  #accepting = 0;

  static {
    makeServer = (fd, type, address, file, adopt) => new UnixSocketServer(INTERNAL, fd, type, address, file, adopt);
    implementRef(this, (self) => (#address in self ? (self as UnixSocketServer).loopRef : undefined));
  }

  private constructor(
    key: Internal, fd: number, type: 'stream' | 'seqpacket', address: Address, file: BoundFile | null,
    adopt: AdoptConnection,
  ) {
    super(key, fd, { syscall: 'socket', label: address.label });
    this.#type = type;
    this.#address = address;
    this.#file = file;
    this.#adopt = adopt;
  }

  /** `'stream'` or `'seqpacket'`: the type of the connections it accepts. */
  get type(): 'stream' | 'seqpacket' {
    return this.#type;
  }

  /** Where it listens. */
  get address(): UnixAddress {
    return this.#address.file !== null ? { path: this.#address.file } : { abstract: this.#address.label.slice(1) };
  }

  /** Accepts the next connection, waiting without blocking the event loop. */
  accept(options?: UnixSocketWaitOptions): Promise<UnixSocket> {
    let wait: WaitOptions;
    try {
      this.assertOpen();
      wait = waitOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#accepting++;
    return this.poller.wait(UV_READABLE, () => this.#take() ?? AGAIN, wait, () => timedOut(
      'accept4', this.#address.label, wait.timeoutMs!,
    ))
      .finally(() => this.#accepting--);
  }

  /**
   * Accepts the next connection, blocking this thread until one comes: for
   * dedicated processes and scripts. Throws `ETIMEDOUT` (`syscall:
   * 'accept4'`) after `timeoutMs`, counted once from the call. Throws
   * `ERR_IPC_BUSY` while an `accept()` (or a `connections()` loop) is pending.
   */
  acceptSync(options?: UnixSocketSyncOptions): UnixSocket {
    this.assertOpen();
    const timeoutMs = syncTimeout(validateOptions(options));
    if (this.#accepting > 0) {
      throw stateError(
        'ERR_IPC_BUSY',
        `acceptSync() with ${this.#accepting} accept() pending on this server would jump their queue: ` +
        'await them (or abort them) first',
      );
    }
    return this.#take(timeoutMs)!;
  }

  /** Accepts a connection if one is waiting now; `null` otherwise. */
  tryAccept(): UnixSocket | null {
    return this.#take();
  }

  /**
   * The connections as they come, until `close()` (the iteration ends) or
   * `signal` aborts (it throws an `AbortError`).
   */
  async *connections(options?: { signal?: AbortSignal }): AsyncGenerator<UnixSocket, void, undefined> {
    for (;;) {
      let socket: UnixSocket;
      try {
        socket = await this.accept(options);
      } catch (err) {
        if ((err as CodedError).code === 'ERR_IPC_CLOSED') return;
        throw err;
      }
      yield socket;
    }
  }

  /** `for await (const conn of server)`: see {@link UnixSocketServer.connections}. */
  [Symbol.asyncIterator](): AsyncGenerator<UnixSocket, void, undefined> {
    return this.connections();
  }

  /**
   * Stops listening; pending `accept` calls reject with `ERR_IPC_CLOSED`, and
   * the socket file is removed (as `net.Server` does). Accepted sockets stay
   * open. Idempotent.
   */
  override close(): void {
    super.close();
  }

  protected override onClose(): void {
    removeFile(this.#file);
    this.#file = null;
  }

  /** `UnixSocketServer { type: 'stream', address: '/tmp/jobs.sock', fd: 21, ref: true, closed: false }`. */
  [inspectCustom](depth: number, options: InspectOptionsStylized): string {
    return inspectHandle(
      'UnixSocketServer',
      { type: this.#type, address: this.#address.label, fd: this.fd, ref: this.loopRef.ref, closed: this.closed },
      depth, options,
    );
  }

  /** One accept4: a connection, or null when none waits; with `syncTimeoutMs` (-1: none), blocks for one. */
  #take(syncTimeoutMs?: number): UnixSocket | null {
    const fd = this.openFd;
    const conn = syncTimeoutMs === undefined ? binding.socketAccept(fd) : binding.socketAcceptSync(fd, syncTimeoutMs);
    if (conn === -EAGAIN) return null;
    if (conn === -ETIMEDOUT) throw timedOut('accept4', this.#address.label, syncTimeoutMs!);
    check(conn, 'accept4', this.#address.label);
    return this.#adopt(conn, this.#type, this.#address.label);
  }
}

// ref(), unref() and hasRef(), from implementRef (lib/internal/loop-ref.ts).
export interface UnixSocketServer extends Referable {}

/**
 * Passing descriptors over a plain `net.Socket` connected through a Unix
 * stream socket ({@link UnixSocket.sendFds}): one send at a time per socket,
 * in call order, made on a second descriptor for the socket only when
 * neither Node nor libuv holds bytes for it, with the socket corked meanwhile.
 * @packageDocumentation
 */
import { once } from 'node:events';
import { Socket } from 'node:net';
import { binding } from '../binding';
import { check, closedError, invalidArgType, invalidArgValue } from '../errors';
import type { WaitOptions } from '../options';
import type { UnixSocket, UnixSocketWaitOptions } from '../unix-socket';
import { Cancel } from './cancel';
import { validateFds } from './send-queue';
import { labelOfFd } from './unix-address';
import { toBytes } from './validate';
import { timedOut, waitOptions } from './wait';

const { AF_UNIX, SOCK_STREAM } = binding;

const EMPTY = Buffer.alloc(0);
const NUL_BYTE = Buffer.alloc(1);

/** The `net.Socket`s with a sendFds in progress, and its promise. */
const fdSends = new WeakMap<Socket, Promise<void>>();

/** Makes a stream UnixSocket of a descriptor the binding made (closing it if that fails). */
export type AdoptStream = (fd: number, label: string | null) => UnixSocket;

/** {@link UnixSocket.sendFds}: `adopt` makes the UnixSocket the message is sent with. */
export function sendFds(
  socket: Socket, fds: readonly number[], data: string | ArrayBufferView | undefined,
  options: UnixSocketWaitOptions | undefined, adopt: AdoptStream,
): Promise<void> {
  let descriptors: Int32Array;
  let bytes: Uint8Array;
  let wait: WaitOptions;
  try {
    if (!(socket instanceof Socket)) throw invalidArgType('socket', 'an instance of net.Socket', socket);
    const validated = validateFds(fds, 'fds');
    if (validated === null) throw invalidArgValue('fds', fds, 'must hold at least one descriptor');
    descriptors = validated;
    bytes = data === undefined ? NUL_BYTE : Uint8Array.prototype.slice.call(toBytes(data));
    if (bytes.byteLength === 0) {
      throw invalidArgValue('data', data, 'must not be empty (a stream carries descriptors with at least one byte)');
    }
    wait = waitOptions(options);
  } catch (err) {
    return Promise.reject(err);
  }
  // One at a time per socket, in call order.
  const previous = fdSends.get(socket) ?? Promise.resolve();
  const cancel = new Cancel(wait, () => timedOut('sendmsg', null, wait.timeoutMs!));
  const result = cancel.race(previous)
    .then(() => sendOverNet(socket, descriptors, bytes, cancel, adopt))
    .catch((err) => Promise.reject(cancel.error(err)))
    .finally(() => cancel.dispose());
  fdSends.set(socket, result.then(() => undefined, () => undefined));
  return result;
}

async function sendOverNet(
  socket: Socket, fds: Int32Array, bytes: Uint8Array, cancel: Cancel, adopt: AdoptStream,
): Promise<void> {
  type Handle = { fd?: number; writeQueueSize?: number } | null | undefined;
  // Wait until neither Node nor libuv holds bytes for this socket: a
  // sendmsg in the middle of a partly written buffer would corrupt the stream.
  for (;;) {
    const handle = (socket as unknown as { _handle: Handle })._handle;
    if (socket.destroyed || !handle) throw closedError('net.Socket');
    if (socket.connecting) {
      await once(socket, 'connect', { signal: cancel.signal });
      continue;
    }
    if (socket.writableLength > 0 || (handle.writeQueueSize ?? 0) > 0) {
      const written = new Promise<void>((resolve, reject) =>
        socket.write(EMPTY, (err) => (err ? reject(err) : resolve())),
      );
      await cancel.race(written);
      continue;
    }
    const fd = handle.fd;
    if (typeof fd !== 'number' || fd < 0) {
      throw invalidArgValue('socket', socket, 'has no descriptor (not a Unix-domain stream socket?)');
    }
    const info = new Int32Array(3);
    check(binding.socketInfo(fd, info), 'getsockopt');
    if (info[0] !== AF_UNIX || info[1] !== SOCK_STREAM) {
      throw invalidArgValue('socket', socket, 'is not a Unix-domain stream socket');
    }
    break;
  }
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  // A second descriptor for the socket: uv_poll may watch it while the
  // net.Socket's own libuv handle watches the first.
  const label = labelOfFd(fd);
  const sidecar = adopt(check(binding.dupFd(fd), 'fcntl', label), label);
  socket.cork();
  try {
    await sidecar.send(bytes, { fds: Array.from(fds), signal: cancel.signal });
  } finally {
    sidecar.close();
    socket.uncork();
  }
}

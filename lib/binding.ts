/**
 * Loads the native addon and types its raw interface, once.
 *
 * Every function is a thin wrapper of one syscall: it returns a number >= 0 on
 * success or -errno on failure, and never throws for a syscall failure. The
 * public classes turn negative results into {@link IpcError}s (lib/errors.ts).
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The addon's functions, by the syscall each one wraps. @internal */
export interface Binding {
  /** strerrorname_np(3) and strerrordesc_np(3) of a positive errno; null if unknown. */
  errnoName(errno: number): [name: string, description: string] | null;
  /** close(2). */
  close(fd: number): number;
  /** fcntl(F_DUPFD_CLOEXEC): the same open file description under a new, tracked number. */
  dupFd(fd: number): number;
  /** fstat(2), returning st_size. */
  fstatSize(fd: number): number;
  /** fchmod(2). */
  fchmod(fd: number, mode: number): number;
  /** ftruncate(2). */
  ftruncate(fd: number, length: number): number;
  /** fcntl(F_GETFL) & O_ACCMODE. */
  accessMode(fd: number): number;
  /** fcntl(F_SETFD, FD_CLOEXEC), and environment teardown will close it; -EBUSY if already owned. */
  adoptFd(fd: number): number;
  /** Whether a handle of any environment (thread) of this process owns fd (adoptFd would say -EBUSY); no syscall. */
  ownsFd(fd: number): boolean;
  /** Environment teardown will no longer close it (a net.Socket owns it now). */
  releaseFd(fd: number): number;
  /** close_range(3, ~0, CLOSE_RANGE_CLOEXEC): every descriptor from 3 up becomes close-on-exec. */
  closeOnExecAll(): number;
  /** poll(2) with a zero timeout: revents or -errno. */
  pollNow(fd: number, events: number): number;
  readonly POLLIN: number;
  readonly POLLOUT: number;
  readonly POLLERR: number;
  /** shm_open(3); the descriptor is close-on-exec. */
  shmOpen(name: string, oflag: number, mode: number): number;
  /** shm_unlink(3). */
  shmUnlink(name: string): number;
  /** memfd_create(2) with MFD_CLOEXEC, and MFD_ALLOW_SEALING when asked; `name` (default "posix-ipc") for /proc. */
  memfdCreate(allowSealing: boolean, name?: string, mode?: number): number;
  /** fcntl(F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL). */
  sealSize(fd: number): number;
  /** posix_fallocate(3) of [0, length). */
  posixFallocate(fd: number, length: number): number;
  /** mmap(2) of the whole object as one external ArrayBuffer (MAP_PRIVATE when readOnly). */
  mmap(fd: number, length: number, readOnly: boolean): ArrayBuffer | number;
  /** Detaches an ArrayBuffer made by mmap() and unmaps it. */
  munmap(buffer: ArrayBuffer): number;
  /** fcntl(F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL). */
  sealImmutable(fd: number): number;
  /** fcntl(F_GET_SEALS): 1 when SHRINK, GROW and WRITE are all sealed, else 0; -EINVAL for a file that is no memfd. */
  isImmutable(fd: number): number;
  /** fcntl(F_GET_SEALS): 1 when SHRINK and GROW are both sealed, else 0; -EINVAL for a file that is no memfd. */
  isSizeSealed(fd: number): number;
  /**
   * open(2) of /proc/<pid>/fd/<fd> (O_PATH first; a regular file only, else -EINVAL; of tmpfs or hugetlbfs, where
   * memfds live, else -EMEDIUMTYPE), read-only (read-write when `writable`), close-on-exec.
   */
  openPeerFd(pid: number, fd: number, writable: boolean): number;
  /** Linux's EMEDIUMTYPE (not in Node's os.constants.errno): openPeerFd's file of no memfd's filesystem. */
  readonly EMEDIUMTYPE: number;
  /** 1 when every page of `view` lies in the private mapping `mapping`, never written here; -EINVAL outside. */
  unwrittenIn(view: Uint8Array, mapping: ArrayBuffer): number;

  /** uv_poll_init(3) on `fd`; `onReady(status, events)` runs on the event loop. */
  watchFd(fd: number, onReady: (status: number, events: number) => void): Watcher | number;
  /** uv_poll_start with UV_READABLE | UV_WRITABLE. */
  watcherStart(watcher: Watcher, events: number): number;
  /** uv_poll_stop. */
  watcherStop(watcher: Watcher): number;
  /** uv_close; idempotent. */
  watcherClose(watcher: Watcher): number;
  /** uv_ref (true) or uv_unref (false) of the poll handle: whether polling keeps the loop alive; -EBADF, -EINVAL. */
  watcherRef(watcher: Watcher, ref: boolean): number;
  readonly UV_READABLE: number;
  readonly UV_WRITABLE: number;

  /**
   * Stops a wait started on its own thread (native/common/waiter.cc): its callback will not run, a late result is
   * undone.
   */
  waitCancel(handle: WaitHandle): number;
  /**
   * Whether the wait keeps the event loop alive (each does when it starts); -EBADF for no wait handle, -EINVAL for no
   * boolean.
   */
  waitSetRef(handle: WaitHandle, ref: boolean): number;

  /** mq_open(3) with O_NONBLOCK | O_CLOEXEC added; maxMessages 0 means the system defaults. */
  mqOpen(name: string, oflag: number, mode: number, maxMessages: number, messageSize: number): number;
  /** mq_unlink(3). */
  mqUnlink(name: string): number;
  /** mq_getattr(3) into out = [maxmsg, msgsize, curmsgs]. */
  mqGetattr(mqd: number, out: Float64Array): number;
  /** mq_send(3), one non-blocking attempt (-EAGAIN when full). */
  mqSend(mqd: number, data: Uint8Array, priority: number): number;
  /** A blocking, close-on-exec descriptor for the same queue (reopened via /proc/self/fd). */
  mqOpenBlocking(mqd: number): number;
  /** mq_timedsend(3) on a blocking descriptor, timeoutMs from now (-1: no limit); -ETIMEDOUT. */
  mqSendSync(blockingFd: number, data: Uint8Array, priority: number, timeoutMs: number): number;
  /** mq_receive(3) into scratch, one non-blocking attempt; the length, or -EAGAIN when empty. */
  mqReceive(mqd: number, scratch: Uint8Array, priorityOut: Uint32Array): number;
  /**
   * mqReceive into a receive pool (lib/internal/buffer-pool.ts) from `offset` on: -EMSGSIZE when less than mq_msgsize
   * is left there.
   */
  mqReceive(mqd: number, pool: ArrayBuffer, priorityOut: Uint32Array, offset: number): number;
  /** mq_timedreceive(3) on a blocking descriptor, timeoutMs from now (-1: no limit); -ETIMEDOUT. */
  mqReceiveSync(blockingFd: number, scratch: Uint8Array, priorityOut: Uint32Array, timeoutMs: number): number;
  /** mqReceiveSync into a receive pool from `offset` on, as mqReceive. */
  mqReceiveSync(
    blockingFd: number, pool: ArrayBuffer, priorityOut: Uint32Array, timeoutMs: number, offset: number,
  ): number;
  /** sysconf(_SC_MQ_PRIO_MAX): priorities are 0 .. MQ_PRIO_MAX - 1. */
  readonly MQ_PRIO_MAX: number;

  // --- pipe (native/pipe.cc) ---
  /** pipe2(2) with O_CLOEXEC into out = [read end, write end]. */
  pipe(out: Int32Array): number;
  /** fcntl(F_SETPIPE_SZ, bytes) when bytes > 0, then fcntl(F_GETPIPE_SZ): the capacity in bytes. */
  pipeSize(fd: number, bytes: number): number;

  // --- process (native/process.cc) ---
  /** pidfd_open(2): a close-on-exec descriptor readable once the process exits; -ESRCH, -ENOSYS (< 5.3). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): 0, or -ESRCH once the process exited (never a process that reused its pid). */
  pidfdSendSignal(fd: number, signal: number): number;
  /** prctl(PR_SET_PDEATHSIG, signal), then getppid(): the parent's pid as seen after setting it, or -errno. */
  processDieWithParent(signal: number): number;
  /** setrlimit(2) of this process; a negative soft or hard limit is RLIM_INFINITY. 0 or -errno. */
  processSetLimit(resource: number, soft: number, hard: number): number;
  /** sched_yield(2): this thread's CPU to another runnable thread, if any. */
  processYield(): void;
  readonly RLIMIT_AS: number;
  readonly RLIMIT_CPU: number;
  readonly RLIMIT_DATA: number;
  readonly RLIMIT_NOFILE: number;

  // --- fifo (native/fifo.cc) ---
  /** mkfifo(3) (mkfifoat at AT_FDCWD); the umask applies, fifoChmod makes the mode exact. */
  mkfifo(path: string, mode: number): number;
  /** fchmodat(2) with AT_SYMLINK_NOFOLLOW: never follows a symbolic link (EOPNOTSUPP on one). */
  fifoChmod(path: string, mode: number): number;
  /**
   * open(2) of a FIFO with O_NONBLOCK | O_CLOEXEC, never through a final symbolic link (ELOOP) and
   * never of anything else (EINVAL, typeOut[0] = its S_IFMT bits). access: O_RDONLY, O_WRONLY or O_RDWR.
   */
  fifoOpen(path: string, access: number, typeOut: Int32Array): number;
  /** write(2), one call: bytes written or -errno (-EAGAIN when full, -EPIPE without a reader). */
  fifoWrite(fd: number, data: Uint8Array): number;
  /** PIPE_BUF (4096): writes up to this size are atomic on a FIFO. */
  readonly PIPE_BUF: number;

  // --- futex (native/futex.cc) ---
  /** FUTEX_WAIT_BITSET (shared) on its own thread, in slices; done(0 woken | 1 not equal | -ETIMEDOUT | -errno). */
  futexWait(
    array: Int32Array, index: number, expected: number, timeoutMs: number, done: (result: number) => void,
  ): WaitHandle | number;
  /** FUTEX_WAIT_BITSET on this thread up to timeoutMs (< 0: none): 0 woken, 1 not equal, -ETIMEDOUT, -errno. */
  futexWaitSync(array: Int32Array, index: number, expected: number, timeoutMs: number): number;
  /** FUTEX_WAKE (shared): how many woke. */
  futexWake(array: Int32Array, index: number, count: number): number;

  // --- file lock (native/file-lock.cc) ---
  /** open(2) with O_CLOEXEC | O_NOCTTY | O_NONBLOCK added (a FIFO never blocks the open). */
  fileLockOpen(path: string, flags: number, mode: number): number;
  /**
   * One F_OFD_SETLK (kind 0) or flock(LOCK_NB) (kind 1) setting the range to type: 0, -EAGAIN when held elsewhere,
   * -errno.
   */
  fileLock(fd: number, kind: number, start: number, length: number, type: number): number;
  /**
   * fileLock retried with backoff (1 to 10 ms) on its own thread, through a duplicate of fd;
   * done(0 | -ETIMEDOUT | -errno); a late grant is unlocked. probe (OFD only): F_OFD_GETLK until the lock could be set,
   * without setting it.
   */
  fileLockWait(
    fd: number, kind: number, start: number, length: number, type: number, probe: boolean, timeoutMs: number,
    done: (result: number) => void,
  ): WaitHandle | number;
  /**
   * fileLock on this thread: timeoutMs < 0 blocks in the kernel (F_OFD_SETLKW, flock), else polls with backoff until
   * then; -ETIMEDOUT.
   */
  fileLockSync(fd: number, kind: number, start: number, length: number, type: number, timeoutMs: number): number;
  readonly F_RDLCK: number;
  readonly F_WRLCK: number;
  readonly F_UNLCK: number;
  // --- channel (native/channel.cc) ---
  /** Formats a fresh segment (include/posix-ipc/ring.h): header, magic last. */
  channelFormat(buffer: ArrayBuffer, capacity: number, lanes: number): number;
  /**
   * Maps the segment, checks its header (-EBADMSG), opens its own open file description;
   * meta (10 slots, else -EINVAL) =
   * [lockFd, lanes, capacity, maxMessage, lane, needed, offset, sealed, endWhenIdle, ended]:
   * [7] (1: the object must be sealed against shrinking, else -EPERM) and [8] (1: the stream ends when every producer
   * closed) are inputs, [9] says the stream ended. -EINVAL when `size` is past the object's end.
   */
  channelAttach(fd: number, size: number, meta: Float64Array): ChannelHandle | number;
  /**
   * The hot calls, bound to this channel (see ChannelCalls; each -EBADF before its side attached, -EINVAL for a view
   * that is not one); -EBADF for a handle it did not make.
   */
  channelCalls(channel: ChannelHandle): ChannelCalls;
  /** Claims a free lane (F_OFD_SETLK; -EBUSY): the doorbell-ringing socket's descriptor; meta[4] = lane. */
  channelClaimLane(channel: ChannelHandle): number;
  /** Attaches as the consumer (F_OFD_SETLK; -EBUSY): the bound doorbell socket's descriptor. */
  channelClaimConsumer(channel: ChannelHandle): number;
  /** Waits for room for `length` bytes on its own thread: done(0) to try again, -EOWNERDEAD, -ETIMEDOUT, -errno. */
  channelWaitSpace(
    channel: ChannelHandle, length: number, timeoutMs: number, done: (result: number) => void,
  ): WaitHandle | number;
  /** One receive as a view: the length, meta[6] = offset in the segment; consumed at the next receive. */
  channelReceiveView(channel: ChannelHandle): number;
  /** Reserves room: the payload's offset in the segment, -EAGAIN full, -errno. */
  channelReserve(channel: ChannelHandle, length: number): number;
  /**
   * Publishes the reserved record with `length` bytes; -EINVAL when nothing is reserved or `length` is more than was.
   */
  channelCommit(channel: ChannelHandle, length: number): number;
  /**
   * -EOWNERDEAD or -EBADMSG (and rings its own doorbell) when a producer died and nothing is left to read, or a lane's
   * tail makes no sense; else 0.
   */
  channelProbe(channel: ChannelHandle): number;
  /** Marks this handle's sides closed and unlocks them; the descriptors are the caller's to close. */
  channelClose(channel: ChannelHandle): number;
  readonly CHANNEL_HEADER_SIZE: number;
  readonly CHANNEL_LANE_SIZE: number;
  /** -EBADMSG: the segment breaks the protocol. */
  readonly CHANNEL_CORRUPT: number;
  /** -EOWNERDEAD: the peer a wait depends on is gone. */
  readonly CHANNEL_PEER_DEAD: number;
  /**
   * -EPIPE (PIPC_RING_ENDED): every producer closed cleanly and everything was read; receives and channelProbe say so.
   */
  readonly CHANNEL_ENDED: number;
  /** The longest message a copying receive puts in a receive pool (native/common/pool.h kPooledMax). */
  readonly POOLED_MAX: number;
  /** The longest spin a receiveSync may ask for, in nanoseconds (native/channel.cc kMaxSpinNs). */
  readonly CHANNEL_MAX_SPIN_NS: number;
  /** The slots of the meta array channelAttach fills (native/channel.cc enum Meta), frozen; SIZE is their count. */
  readonly channelMeta: ChannelMeta;
  /** The calls channelAttach makes, by the number it writes to meta[FAILED_CALL] (0: none of them failed). */
  readonly channelAttachCalls: readonly string[];
  // --- mutex (native/mutex.cc): glibc initialises; the addon locks and unlocks on glibc's robust protocol itself ---
  /** open(2) of an unnamed O_TMPFILE file in /dev/shm, close-on-exec; the umask applies. */
  mutexTmpfile(mode: number): number;
  /** linkat(2) of that file (via /proc/self/fd) as /dev/shm/<name>; -EEXIST when taken. */
  mutexPublish(fd: number, name: string): number;
  /**
   * mmap(2) of the MUTEX_SIZE-byte record at offset; init: pthread_mutex_init (-EEXIST if one is there), else -EINVAL
   * if none is.
   */
  mutexMap(fd: number, offset: number, init: boolean): MutexHandle | number;
  /** Drops the handle's mapping (unmapped once no wait uses it, never while this thread holds the mutex). */
  mutexClose(handle: MutexHandle): number;
  /**
   * pthread_mutex_trylock(3p) semantics: 0 locked, 1 locked with its owner dead, -EBUSY, -EDEADLK (this thread holds
   * it), -ENOTRECOVERABLE.
   */
  mutexTryLock(handle: MutexHandle, afterWait: boolean): number;
  /**
   * pthread_mutex_clocklock(3) (CLOCK_MONOTONIC) on this thread, timeoutMs < 0: pthread_mutex_lock; as mutexTryLock, or
   * -ETIMEDOUT.
   */
  mutexLockSync(handle: MutexHandle, timeoutMs: number): number;
  /** pthread_mutex_unlock(3p); -EPERM when this handle does not hold it. */
  mutexUnlock(handle: MutexHandle): number;
  /** pthread_mutex_consistent(3); -EINVAL when the mutex is not inconsistent. */
  mutexConsistent(handle: MutexHandle): number;
  /** The pid recorded by the holder; 0 when the lock word has no owner. */
  mutexOwnerPid(handle: MutexHandle): number;
  /**
   * Sleeps on the lock word (FUTEX_WAIT, shared) on its own thread until it may be takeable; done(0 woken | 1 changed |
   * -ETIMEDOUT | -errno). Never locks.
   */
  mutexWait(handle: MutexHandle, timeoutMs: number, done: (result: number) => void): WaitHandle | number;
  /** Bytes a mutex record takes in shared memory. */
  readonly MUTEX_SIZE: number;

  // --- socket (native/unix-socket.cc) ---
  /** socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK). */
  socketCreate(type: number): number;
  /** socketpair(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK) into out = [a, b]. */
  socketPair(type: number, out: Int32Array): number;
  /** bind(2) to sun_path bytes (a leading NUL: abstract); mode >= 0 is fchmod'ed onto a path socket first. */
  socketBind(fd: number, address: Uint8Array, mode: number): number;
  /** The exact mode of a just-bound socket file (O_PATH | O_NOFOLLOW, checked S_ISSOCK). */
  socketChmodPath(path: Uint8Array, mode: number): number;
  /** listen(2). */
  socketListen(fd: number, backlog: number): number;
  /** accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK; -EAGAIN when nobody waits. */
  socketAccept(fd: number): number;
  /**
   * accept4 as socketAccept, blocking this thread with ppoll(2) until a connection or timeoutMs (< 0: none);
   * -ETIMEDOUT.
   */
  socketAcceptSync(fd: number, timeoutMs: number): number;
  /** connect(2) to sun_path bytes; -EAGAIN when the listener's backlog is full. */
  socketConnect(fd: number, address: Uint8Array): number;
  /** sendmsg(2) with MSG_NOSIGNAL | MSG_DONTWAIT, fds as SCM_RIGHTS, to as sun_path bytes; bytes sent. */
  socketSend(fd: number, data: Uint8Array, fds: Int32Array | null, to: Uint8Array | null): number;
  /**
   * socketSend until all of data went (a stream: in parts), blocking this thread with ppoll(2) up to timeoutMs (< 0:
   * none); -ETIMEDOUT.
   */
  socketSendSync(
    fd: number, data: Uint8Array, fds: Int32Array | null, to: Uint8Array | null, timeoutMs: number,
  ): number;
  /**
   * recvmsg(2) with MSG_CMSG_CLOEXEC of one message into scratch (its bytes; over scratch's length with MSG_TRUNC),
   * or of a stream's chunk (a Buffer); meta = [length, msg_flags, fd count, address bytes, end].
   */
  socketReceive(
    fd: number, type: number, meta: Int32Array, fdsOut: Int32Array, addressOut: Uint8Array, scratch: Uint8Array,
  ): Buffer | number;
  /**
   * socketReceive that also copies a message of up to POOLED_MAX bytes into a receive pool from `offset` (which must
   * leave POOLED_MAX bytes of room: else -EINVAL, nothing received).
   */
  socketReceive(
    fd: number, type: number, meta: Int32Array, fdsOut: Int32Array, addressOut: Uint8Array, scratch: Uint8Array,
    pool: ArrayBuffer, offset: number,
  ): Buffer | number;
  /**
   * socketReceive, blocking this thread with ppoll(2) until something is there or timeoutMs (< 0: none); -ETIMEDOUT.
   */
  socketReceiveSync(
    fd: number, type: number, meta: Int32Array, fdsOut: Int32Array, addressOut: Uint8Array, scratch: Uint8Array,
    timeoutMs: number,
  ): Buffer | number;
  /** socketReceiveSync with a receive pool, as socketReceive. */
  socketReceiveSync(
    fd: number, type: number, meta: Int32Array, fdsOut: Int32Array, addressOut: Uint8Array, scratch: Uint8Array,
    timeoutMs: number, pool: ArrayBuffer, offset: number,
  ): Buffer | number;
  /**
   * recvmsg(2) with MSG_CMSG_CLOEXEC straight into target; bytes (over target's length with MSG_TRUNC). Descriptors are
   * closed (MSG_CTRUNC); meta as socketReceive. timeoutMs null: one try (-EAGAIN);
   * else blocks with ppoll(2) (< 0: no limit).
   */
  socketReceiveInto(fd: number, type: number, target: Uint8Array, meta: Int32Array, timeoutMs: number | null): number;
  /**
   * sendmmsg(2) of datas[start..] (at most SOCKET_BATCH_MAX), fds[i] as message i's SCM_RIGHTS, all to `to`; messages
   * sent (some went: how many) or -errno. timeoutMs null: one try (-EAGAIN); else blocks until all went (-ETIMEDOUT).
   */
  socketSendMany(
    fd: number, datas: Uint8Array[], fds: (Int32Array | null)[] | null, to: Uint8Array | null, start: number,
    timeoutMs: number | null,
  ): number;
  /**
   * recvmmsg(2) with MSG_CMSG_CLOEXEC of up to max messages of up to messageSize bytes: their bytes back to back.
   * meta = [count, then per message the 5 fields of socketReceive]; fds one message's after another's; addressOut
   * 108 bytes per message. timeoutMs as for socketReceiveInto (a wait is for the first message).
   */
  socketReceiveMany(
    fd: number, type: number, max: number, messageSize: number, meta: Int32Array, fdsOut: Int32Array,
    addressOut: Uint8Array, timeoutMs: number | null,
  ): Buffer | number;
  /** getsockopt(SO_PEERCRED) into out = [pid, uid, gid]. */
  socketPeerCredentials(fd: number, out: Int32Array): number;
  /** getsockname(2) (peer: getpeername) into out; the sun_path byte count. */
  socketAddress(fd: number, peer: boolean, out: Uint8Array): number;
  /** getsockopt SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN into out. */
  socketInfo(fd: number, out: Int32Array): number;
  /** setsockopt(SO_SNDBUF) when bytes > 0, then getsockopt(SO_SNDBUF). */
  socketSendBufferSize(fd: number, bytes: number): number;
  /** setsockopt(SO_PASSCRED, 1), for good: a seqpacket receiver's mark (see native/unix-socket.cc). */
  socketPassCredentials(fd: number): number;
  readonly AF_UNIX: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_SEQPACKET: number;
  /** The most descriptors one message carries (253). */
  readonly SCM_MAX_FD: number;
  readonly MSG_TRUNC: number;
  readonly MSG_CTRUNC: number;
  /** The most messages one socketSendMany or socketReceiveMany call takes (UIO_MAXIOV, 1024). */
  readonly SOCKET_BATCH_MAX: number;
  /**
   * The largest datagram or seqpacket message a sender can make here (twice net.core.wmem_max, from 256 KiB to 64 MiB).
   */
  readonly MAX_MESSAGE_SIZE: number;

  // --- semaphore (native/semaphore.cc): glibc initialises (sem_init); waits, posts and values are the addon's, on
  // glibc's layout ---
  /**
   * sem_open(3) as glibc does it, but close-on-exec throughout: create (EEXIST when taken; mode exact
   * from birth) or open /dev/shm/sem.<name>, mapped by the handle. `name` has its leading '/'.
   */
  semOpen(name: string, create: boolean, mode: number, value: number): SemHandle | number;
  /**
   * mmap(2) of its own of the pages of shared memory `fd` holding the sem_t at `offset`; sem_init(3) with pshared = 1
   * when value >= 0.
   */
  semInside(fd: number, offset: number, value: number): SemHandle | number;
  /** The handle lets go of its semaphore (sem_close or munmap once no wait uses it either). Idempotent. */
  semClose(handle: SemHandle): number;
  /** sem_unlink(3). */
  semUnlink(name: string): number;
  /** sem_trywait(3): 0, or -EAGAIN when the value is 0. -EBADF once closed, as for every sem call. */
  semTryWait(handle: SemHandle): number;
  /** sem_clockwait(3) (CLOCK_MONOTONIC) on this thread up to timeoutMs (< 0: sem_wait, no limit); 0 or -ETIMEDOUT. */
  semWaitSync(handle: SemHandle, timeoutMs: number): number;
  /**
   * sem_clockwait on its own thread, in slices; done(0 | -ETIMEDOUT | -errno). A token taken too late is posted back.
   */
  semWait(handle: SemHandle, timeoutMs: number, done: (result: number) => void): WaitHandle | number;
  /** sem_post(3) n times: n, or -errno (-EOVERFLOW at SEM_VALUE_MAX; earlier posts stay). */
  semPost(handle: SemHandle, n: number): number;
  /** sem_getvalue(3). */
  semGetValue(handle: SemHandle): number;
  readonly SEM_VALUE_MAX: number;
  /** sizeof(sem_t) and alignof(sem_t). */
  readonly SEM_SIZE: number;
  readonly SEM_ALIGN: number;
}

/** An opaque handle to a semaphore (native/semaphore.cc). @internal */
export type SemHandle = { readonly __sem: unique symbol };

/** An opaque handle to a uv_poll watcher. @internal */
export type Watcher = { readonly __watcher: unique symbol };

/** The slot indices of a channel's meta array (native/channel.cc enum Meta). @internal */
export interface ChannelMeta {
  readonly LOCK_FD: number;
  readonly LANES: number;
  readonly CAPACITY: number;
  readonly MAX_MESSAGE: number;
  readonly LANE: number;
  readonly NEEDED: number;
  readonly OFFSET: number;
  readonly SEALED: number;
  readonly END_WHEN_IDLE: number;
  readonly ENDED: number;
  readonly FAILED_CALL: number;
  readonly SIZE: number;
}

/** An opaque handle to an attached channel (native/channel.cc). @internal */
export type ChannelHandle = { readonly __channel: unique symbol };

/**
 * The hot calls of one channel (native/channel.cc), bound to it. A left-out
 * data or target argument means the Uint8Array given last time, which the
 * caller saw unchanged (same object, same byteLength). @internal
 */
export interface ChannelCalls {
  /** Keeps the channel alive as long as its calls. */
  readonly handle: ChannelHandle;
  /** One send: undefined sent, 0 full, -errno (-EMSGSIZE, -EBADMSG corrupt). */
  send(data?: Uint8Array): number | undefined;
  /**
   * The first count messages packed back to back in source (message i is lengths[i] bytes), as many as fit: how many
   * were sent, or -errno (-EMSGSIZE) for the first.
   */
  sendManyFrom(source: Uint8Array, lengths: Uint32Array, count: number): number;
  /**
   * Sends, sleeping on the lane's futex in slices while full: undefined, -ETIMEDOUT, -EOWNERDEAD (consumer gone),
   * -errno.
   */
  sendSync(timeoutMs: number, data?: Uint8Array): number | undefined;
  /**
   * One receive: a copy (target null) or the length copied into target; -EAGAIN empty, -EMSGSIZE (meta[5] = length),
   * -errno.
   */
  receive(target?: Uint8Array | null): Buffer | number;
  /**
   * The event loop's attempt: as receive (target not remembered), or -EAGAIN after announcing "asleep on the doorbell";
   * -EOWNERDEAD when a producer died.
   */
  receiveArmed(target: Uint8Array | null): Buffer | number;
  /**
   * Spins spinNs, then sleeps on the bell futex in slices: as receive, or -ETIMEDOUT, -EOWNERDEAD (a producer died).
   */
  receiveSync(spinNs: number, timeoutMs: number, target?: Uint8Array | null): Buffer | number;
  /**
   * Messages back to back into target, their lengths into lengths: how many, or -errno (-EMSGSIZE: the next one does
   * not fit an empty target).
   */
  receiveManyInto(target: Uint8Array, lengths: Uint32Array): number;
  /**
   * Copying receives copy messages of up to 4 KiB into this pool from now on (a receive then gives the offset; -ENOBUFS
   * when it is full): 0, or -EINVAL.
   */
  pool(pool: ArrayBuffer): number;
}

/** An opaque handle to a mapped mutex record (native/mutex.cc). @internal */
export type MutexHandle = { readonly __mutex: unique symbol };

/** An opaque handle to a wait running on its own thread. @internal */
export type WaitHandle = { readonly __wait: unique symbol };

/**
 * The platform-arch pairs a published package carries a prebuilt addon for (scripts/prebuild.js refuses to pack without
 * them).
 */
const PREBUILT_FOR = ['linux-x64'];

/**
 * The error for "no addon this process can load": node-gyp-build found none
 * for this system, or the one it found does not load (say, built for a newer
 * glibc). It names the system as node-gyp-build matches it, the prebuilds the
 * package ships and this copy has, and the command that builds one here.
 */
function noBinary(packageDir: string, cause: unknown): Error & { code: string } {
  const { platform, arch, versions } = process;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'not glibc';
  const prebuilds = path.join(packageDir, 'prebuilds');
  const present = readdirOrNone(prebuilds).filter((tuple) =>
    readdirOrNone(path.join(prebuilds, tuple)).some((f) => f.endsWith('.node')),
  );
  const reason = cause instanceof Error && cause.message.startsWith('No native build was found')
    ? 'none was found'
    : 'the one found does not load';
  const message =
    `posix-ipc has no native addon for ${platform}-${arch} (Node.js ${versions.node}, ABI ${versions.modules}, ` +
    `N-API ${versions.napi}, ${libc}) in ${packageDir}: ${reason}. ` +
    `Prebuilt addons ship for ${PREBUILT_FOR.join(', ')}; ` +
    `this copy has ${present.length > 0 ? present.join(', ') : 'none'}. ` +
    'Build it from source: `npm rebuild posix-ipc` (needs python3, make and a C++17 compiler).';
  return Object.assign(new Error(message, { cause }), { code: 'ERR_IPC_NO_BINARY' });
}

/**
 * A directory's entries; none when it cannot be read (no prebuilds/: a clone never built, or a package packed without
 * its prepack).
 */
function readdirOrNone(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function load(): Binding {
  // The sanitizer build (npm run test:asan) lives outside build/, so the test
  // suite can run against it without disturbing the normal build.
  const override = process.env.POSIX_IPC_ADDON;
  if (override) return require(path.resolve(override)) as Binding;
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => Binding;
  const packageDir = path.join(__dirname, '..');
  try {
    return nodeGypBuild(packageDir);
  } catch (err) {
    // node-gyp-build's own message lists the system but not what to do about it.
    throw noBinary(packageDir, err);
  }
}

/** @internal */
export const binding: Binding = load();

/**
 * posix-ipc: kernel-level IPC for Node.js on Linux.
 * @packageDocumentation
 */
export { AbortError, IpcError } from './errors';
export type { CodedError } from './errors';
export type { SyncWaitOptions, WaitOptions } from './options';
export { SharedMemory } from './shared-memory';
export type { SharedMemoryAnonymousOptions, SharedMemoryCreateOptions, SharedMemoryOpenOptions } from './shared-memory';
export { MessageQueue } from './message-queue';
export type { Message, MessageQueueAttributes, MessageQueueOptions, MessageQueueWaitOptions } from './message-queue';
export { inherited, pipe, PipeEnd } from './pipe';
export type { Direction, PipeOptions } from './pipe';
export type { StreamOptions } from './internal/descriptor';
export { spawn } from './spawn';
export type { Passable, SpawnOptions } from './spawn';
export { socketPair, UnixSocket } from './unix-socket';
export type {
  PeerCredentials, SocketPairOptions, UnixAddress, UnixConnectOptions, UnixDatagramOptions, UnixMessage,
  UnixOutgoingMessage, UnixReceiveManyOptions, UnixReceiveManySyncOptions, UnixSendOptions, UnixSendSyncOptions,
  UnixSocketSyncOptions, UnixSocketType, UnixSocketWaitOptions,
} from './unix-socket';
export { UnixSocketServer } from './unix-socket-server';
export type { UnixListenOptions } from './unix-socket-server';
export { Fifo, mkfifo } from './fifo';
export type { FifoDirection, FifoOpenWriterOptions } from './fifo';
export { FifoClient, FifoServer } from './fifo-request';
export type { FifoClientOptions, FifoHandler, FifoRequestOptions, FifoServerOptions } from './fifo-request';
export { futex } from './futex';
export type { FutexWaitOptions, FutexWaitResult, FutexWaitSyncOptions } from './futex';
export { Semaphore } from './semaphore';
export type {
  SemaphoreAcquireOptions, SemaphoreAcquireSyncOptions, SemaphoreInsideOptions, SemaphoreOpenOptions,
} from './semaphore';
export { FileLock, lockFile, lockFileSync, tryLockFile } from './file-lock';
export type {
  FileLockKind, FileLockMode, FileLockOptions, FileLockUpgradeOptions, LockFileOptions, LockFileSyncOptions,
} from './file-lock';
export { Channel } from './channel';
export type {
  ChannelCreateOptions, ChannelOpenOptions, ChannelReceiveSyncOptions, ChannelSendSyncOptions, ChannelSlot,
  ChannelWaitOptions,
} from './channel';
export { Mutex } from './mutex';
export type {
  MutexInsideOptions, MutexLockOptions, MutexLockResult, MutexLockSyncOptions, MutexOpenOptions,
} from './mutex';
export { ParentProcess, Process } from './process';
export type {
  ProcessExit, ProcessLimits, ProcessOptions, ProcessStdio, ProcessStdioEntry, Shareable, TerminateOptions,
} from './process';
export { ProcessLink } from './process-link';
export type { ProcessLinkCreateOptions } from './process-link';
export { Pool } from './pool';
export type {
  PoolMapOptions, PoolOptions, PoolRunOptions, PoolStats, WorkerDiedError, WorkerOutOfMemoryError,
} from './pool';

/**
 * posix-ipc: kernel-level IPC for Node.js on Linux.
 * @packageDocumentation
 */
export { AbortError, IpcError } from './errors';
export type { CodedError } from './errors';
export { SharedMemory } from './shared-memory';
export type { SharedMemoryAnonymousOptions, SharedMemoryCreateOptions, SharedMemoryOpenOptions } from './shared-memory';
export { MessageQueue } from './message-queue';
export type { Message, MessageQueueAttributes, MessageQueueOptions, MessageQueueWaitOptions } from './message-queue';

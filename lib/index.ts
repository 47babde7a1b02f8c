/**
 * posix-ipc: kernel-level IPC for Node.js on Linux.
 * @packageDocumentation
 */
export { IpcError } from './errors';
export type { CodedError } from './errors';
export { SharedMemory } from './shared-memory';
export type { SharedMemoryAnonymousOptions, SharedMemoryCreateOptions, SharedMemoryOpenOptions } from './shared-memory';

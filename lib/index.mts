/**
 * ESM entry point: the same exports as the CommonJS build.
 * @packageDocumentation
 */
export * from './index.js';

/**
 * The worker's side of a `Pool` (lib/pool.ts): run by a `Process` as
 * `pool-worker.js <module>`, it loads the user's module (CommonJS or ESM,
 * through `import()`) and serves tasks that come over
 * `Process.parent.channel`: `{ id, name, args }` → `{ id, ok: value }` or
 * `{ id, error }` (the error as a plain object: structured clone keeps only
 * an Error's name, message and stack). One task at a time; the parent sends
 * the next one only after this one's answer.
 * @packageDocumentation
 */
import { pathToFileURL } from 'node:url';
import { Process } from '../process';

/** A task as the parent sends it. */
export interface PoolTask {
  id: number;
  /** The export to call; undefined: the default export. */
  name?: string;
  args: unknown;
}

/** An answer: `ok` with the value, or `error`. */
export type PoolAnswer = { id: number; ok: unknown } | { id: number; error: SerializedError };

/** An error as it crosses the link: its own properties, name, message and stack. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
  /** A thrown value that was not an Error. */
  value?: unknown;
}

/** `err` as a structured-clone-safe object. */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) {
    return { name: 'Error', message: `a non-Error was thrown: ${String(err)}`, props: {}, value: safe(err) };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(err)) props[key] = safe((err as unknown as Record<string, unknown>)[key]);
  return { name: err.name, message: err.message, stack: err.stack, props };
}

/** `value` if structured clone takes it, else its string form. */
function safe(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    return String(value);
  }
}

/** The function a task names: an export, or, for a CommonJS module, a property of `module.exports`. */
function lookup(mod: Record<string, unknown>, name: string | undefined): (args: unknown) => unknown {
  const cjs = mod.default as Record<string, unknown> | undefined;
  let fn: unknown;
  if (name === undefined) {
    fn = mod.default;
    // A CommonJS module compiled from ESM (exports.default = fn).
    if (typeof fn !== 'function' && cjs !== null && typeof cjs === 'object') fn = cjs.default;
  } else {
    fn = Object.hasOwn(mod, name) ? mod[name] : undefined;
    if (fn === undefined && cjs !== null && (typeof cjs === 'object' || typeof cjs === 'function')) {
      fn = Object.hasOwn(cjs, name) ? cjs[name] : undefined;
    }
  }
  if (typeof fn !== 'function') {
    const what = name === undefined ? 'a default export' : `an export named '${name}'`;
    throw Object.assign(new TypeError(`The pool's module has no function as ${what}`), {
      code: 'ERR_IPC_NO_SUCH_TASK',
    });
  }
  return fn as (args: unknown) => unknown;
}

const parent = Process.parent;
const link = parent?.channel;
const file = process.argv[2];
if (!link || file === undefined) throw new Error('posix-ipc: pool-worker.js runs only as a Pool worker');

const loaded = import(pathToFileURL(file).href) as Promise<Record<string, unknown>>;
// A module that fails to load fails every task, with its error.
loaded.catch(() => undefined);

link.on('message', (task: PoolTask) => void serve(task));
// The pool hung up: this worker has nothing more to do, whatever the module still holds open.
link.on('close', () => setImmediate(() => process.exit(0)));
link.on('error', () => undefined);

async function serve(task: PoolTask): Promise<void> {
  let answer: PoolAnswer;
  try {
    const fn = lookup(await loaded, task.name);
    answer = { id: task.id, ok: await fn(task.args) };
  } catch (err) {
    answer = { id: task.id, error: serializeError(err) };
  }
  try {
    await link!.send(answer);
  } catch (err) {
    // A value structured clone refuses is the task's error; a closed link ends the worker anyway.
    if ((err as { code?: unknown }).code !== 'ERR_IPC_DATA_CLONE') return;
    await link!.send({ id: task.id, error: serializeError(err) }).catch(() => undefined);
  }
}

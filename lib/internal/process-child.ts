/**
 * The bootstrap of a child started by `Process`: `node [execArgv]
 * process-child.js <file> [...args]`. Before the module runs, it takes its
 * description out of the environment, asks to die with its parent (and dies
 * at once if that parent is already gone), applies the resource limits and the
 * nice value, makes `Process.parent`, sets `process.argv` to what `node file`
 * would have, and runs the module as `node file` does (CommonJS or ESM,
 * `require.main` included).
 * @packageDocumentation
 */
import { readdirSync } from 'node:fs';
import Module from 'node:module';
import { constants, setPriority } from 'node:os';
import { binding } from '../binding';
import { check, corrupt } from '../errors';
import { adoptParent, DESCRIPTION_ENV, type Description, type ProcessLimits } from '../process';

/**
 * The description, read once and checked: it comes through the environment,
 * which anyone could have set. One that is not JSON, or not the shape
 * Process writes, is `ERR_IPC_CORRUPT` and nothing runs.
 */
function takeDescription(): Description {
  const raw = process.env[DESCRIPTION_ENV];
  delete process.env[DESCRIPTION_ENV];
  if (raw === undefined) throw new Error(`posix-ipc: ${process.argv[1]} runs only as the child of a Process`);
  let d: Partial<Description>;
  try {
    d = JSON.parse(raw) as Partial<Description>;
  } catch (err) {
    throw corrupt(DESCRIPTION_ENV, `not JSON (${(err as Error).message})`);
  }
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  const record = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!record(d)) throw corrupt(DESCRIPTION_ENV, 'not a JSON object');
  const limits = (d.limits ?? {}) as Record<string, unknown>;
  const ok = int(d.parent) && (d.nice === null || int(d.nice)) && typeof d.dieWithParent === 'boolean' &&
    record(limits) && Object.values(limits).every((v) => int(v) && (v as number) >= 0) && record(d.plan);
  if (!ok) throw corrupt(DESCRIPTION_ENV, 'not the description a Process writes');
  return d as Description;
}

/** setrlimit(2), soft = hard (the child cannot raise them back); CPU's hard limit a second later (SIGKILL). */
function applyLimits(limits: ProcessLimits): void {
  const set = (resource: number, soft: number, hard = soft) =>
    check(binding.processSetLimit(resource, soft, hard), 'setrlimit');
  if (limits.memoryBytes !== undefined) set(binding.RLIMIT_DATA, limits.memoryBytes);
  if (limits.cpuSeconds !== undefined) set(binding.RLIMIT_CPU, limits.cpuSeconds, limits.cpuSeconds + 1);
  if (limits.openFiles !== undefined) set(binding.RLIMIT_NOFILE, limits.openFiles);
}

/**
 * The nice value of every thread: on Linux it is a thread's, and V8's and
 * libuv's threads already run. Threads made later inherit it from this one.
 */
function applyNice(nice: number): void {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      setPriority(Number(tid), nice);
    } catch (err) {
      // A thread that ended since the listing is no failure.
      if ((err as { code?: unknown }).code !== 'ESRCH') throw err;
    }
  }
}

const description = takeDescription();
if (description.dieWithParent) {
  // The pid read after setting it is not the parent's: the parent died
  // before, and the signal will never come. Die now, as it would have made us.
  const ppid = check(binding.processDieWithParent(constants.signals.SIGKILL), 'prctl');
  if (ppid !== description.parent) process.kill(process.pid, 'SIGKILL');
}
applyLimits(description.limits);
if (description.nice !== null) applyNice(description.nice);
adoptParent(description);
// [execPath, this file, file, ...args] becomes [execPath, file, ...args].
process.argv.splice(1, 1);
Module.runMain();

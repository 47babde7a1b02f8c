import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Pool, type PoolOptions } from '../lib';
import { fixture, onlyTheDyingTaskFails, poolsDestroyedAfterEach, runNode } from './helpers';

const cjs = fixture('pool-thread-tasks.js');
const esm = fixture('pool-tasks.mjs');

/** This process's threads now (/proc/self/task). */
function threads(): number {
  return readdirSync('/proc/self/task').length;
}

interface Where {
  pid: number;
  threadId: number;
  env: string | undefined;
  execArgv: string[];
}

/** Where each worker of `pool` runs (one broadcast). */
async function where(pool: Pool): Promise<Where[]> {
  return (await pool.broadcast(undefined, { name: 'thread' })) as Where[];
}

/** A thread pool destroyed after the test, whatever happens in it. */
const pool: (options: Omit<PoolOptions, 'runtime'>) => Pool = poolsDestroyedAfterEach({ runtime: 'thread' });

describe("Pool runtime 'thread'", () => {
  test('runs tasks in threads of this process, results in order; CommonJS and ESM', async () => {
    const p = pool({ file: cjs, size: 2 });
    const inputs = Array.from({ length: 500 }, (_, i) => i);
    expect(await Promise.all(inputs.map((i) => p.run(i)))).toEqual(inputs.map((i) => i * 2));
    const value = { list: [1, 'a', null, { deep: true }], bytes: new Uint8Array([1, 2, 3]), big: 10n ** 20n };
    expect(await p.run({ value, ms: 5 }, { name: 'echo' })).toEqual(value);
    const workers = await where(p);
    expect(workers.map((w) => w.pid)).toEqual([process.pid, process.pid]);
    expect(new Set(workers.map((w) => w.threadId)).size).toBe(2);
    expect(workers.every((w) => w.threadId > 0)).toBe(true);
    expect(p.stats).toMatchObject({ alive: 2, queued: 0, running: 0, completed: 503, failed: 0 });

    const e = pool({ file: pathToFileURL(esm), size: 1 });
    expect(await e.run(41)).toBe(42);
    await expect(e.run(1, { name: 'nothing' })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_IPC_NO_SUCH_TASK' });
  });

  test('a task that throws rejects with its name, message, code and stack; the thread keeps serving', async () => {
    const p = pool({ file: cjs, size: 1 });
    const [before] = await where(p);
    const err = await p.run('bad input', { name: 'fail' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'RangeError', message: 'bad input', code: 'E_TASK', detail: { n: 1 } });
    expect((err as Error).stack).toContain('pool-tasks.js');
    const [after] = await where(p);
    expect(after.threadId).toBe(before.threadId);
  });

  test('process.exit() in a task ends its thread only: the task rejects, the thread is replaced', async () => {
    const p = pool({ file: cjs, size: 2 });
    const before = await where(p);
    const err = await p.run('exit', { name: 'die' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IPC_WORKER_DIED', exitCode: 3, signal: null, pid: process.pid });
    expect(await Promise.all([1, 2, 3].map((i) => p.run(i)))).toEqual([2, 4, 6]);
    const after = await where(p);
    expect(after).toHaveLength(2);
    const fresh = after.filter((w) => !before.some((b) => b.threadId === w.threadId));
    expect(fresh).toHaveLength(1);
    expect(p.stats).toMatchObject({ alive: 2, failed: 1 });
  });

  test('answers of every kind come back exact and in order, compact or not', async () => {
    const p = pool({ file: cjs, size: 2 });
    const kinds = [0, -0, NaN, -Infinity, -1.5, 2 ** 53 + 2, undefined, null, true, false, '', 'ü€😀',
      'é'.repeat(5000), { a: 1 }, [1, 2], 10n, new Date(0), Buffer.from('xy')];
    const inputs = Array.from({ length: 3000 }, (_, i) => kinds[i % kinds.length]);
    const out: unknown[] = [];
    for await (const value of p.map(inputs, { name: 'same' })) out.push(value);
    expect(out).toEqual(inputs);
    for (let i = 0; i < inputs.length; i++) expect(Object.is(out[i], inputs[i]) || typeof inputs[i] === 'object').toBe(true);
    const runs = await Promise.all(kinds.map((kind) => p.run(kind, { name: 'same' })));
    expect(runs).toEqual(kinds);
    for (let i = 0; i < kinds.length; i++) expect(Object.is(runs[i], kinds[i]) || typeof kinds[i] === 'object').toBe(true);
    expect(p.stats).toMatchObject({ completed: 3000 + kinds.length, failed: 0, running: 0 });
  });

  test('a thread that exits mid-map loses none of the answers it sent: only its running place fails', async () => {
    const p = pool({ file: cjs, size: 1 });
    const k = 700;
    const inputs = Array.from({ length: 1000 }, (_, i) => ({ i, k }));
    const out: unknown[] = [];
    const err = await (async () => {
      for await (const value of p.map(inputs, { name: 'exitAt' })) out.push(value);
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IPC_WORKER_DIED', exitCode: 3, pid: process.pid });
    expect(out).toEqual(Array.from({ length: k }, (_, i) => (i % 3 === 0 ? { i } : i)));
  });

  test('a thread that exits mid-batch fails only its task; the rest of its batch runs elsewhere, each once', async () => {
    await onlyTheDyingTaskFails((env) => pool({ file: cjs, size: 2, env }), { PIPC_POOL_DIE_HOW: 'exit' }, { exitCode: 3 });
  });

  test('a task past timeoutMs or aborted has its thread terminated and replaced', async () => {
    const p = pool({ file: cjs, size: 1 });
    const [first] = await where(p);
    await expect(p.run(undefined, { name: 'spin', timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(await p.run(5)).toBe(10);
    const ac = new AbortController();
    const spinning = p.run(undefined, { name: 'spin', signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(spinning).rejects.toMatchObject({ name: 'AbortError' });
    const last = (await p.run(undefined, { name: 'thread' })) as Where;
    expect(last.threadId).not.toBe(first.threadId);
    expect(p.stats).toMatchObject({ alive: 1, failed: 2 });
  });

  test('broadcast reaches every thread once', async () => {
    const p = pool({ file: cjs, size: 3 });
    const hits = (await p.broadcast(undefined, { name: 'hit' })) as Array<{ hits: number }>;
    expect(hits).toEqual([{ pid: process.pid, hits: 1 }, { pid: process.pid, hits: 1 }, { pid: process.pid, hits: 1 }]);
  });

  test('map, size { min, max } and close(): every task runs, then no thread is left', async () => {
    // A first pool, so that whatever threads Node starts lazily (its thread pool) exist before counting.
    const warm = pool({ file: cjs, size: 1 });
    await warm.run(1);
    await warm.destroy();
    const count = threads();
    const p = pool({ file: cjs, size: { min: 0, max: 3 } });
    const results: unknown[] = [];
    for await (const r of p.map(Array.from({ length: 1000 }, (_, i) => i), { name: 'same' })) results.push(r);
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const pending = [1, 2, 3, 4].map((i) => p.run({ value: i, ms: 20 }, { name: 'echo' }));
    const closed = p.close();
    await expect(p.run(1)).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(await Promise.all(pending)).toEqual([1, 2, 3, 4]);
    await closed;
    expect(p.stats.alive).toBe(0);
    expect(threads()).toBe(count);
  });

  test('destroy() rejects what is queued or running and leaves no thread', async () => {
    const warm = pool({ file: cjs, size: 1 });
    await warm.run(1);
    await warm.destroy();
    const count = threads();
    const p = pool({ file: cjs, size: 2 });
    await where(p);
    expect(threads()).toBe(count + 2);
    const spinning = [1, 2, 3].map(() => p.run(undefined, { name: 'spin' }).catch((e: unknown) => e));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await p.destroy();
    for (const err of await Promise.all(spinning)) expect(err).toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(p.stats.alive).toBe(0);
    expect(threads()).toBe(count);
  });

  test('closed at once, before its threads have their links: nothing is left', async () => {
    const count = threads();
    const p = pool({ file: cjs, size: 2 });
    await p.close();
    expect(threads()).toBe(count);
  });

  test('a memory hog fails with ERR_IPC_WORKER_OUT_OF_MEMORY; the pool goes on', async () => {
    const memoryBytes = 128 * 2 ** 20;
    const p = pool({ file: cjs, size: 1, limits: { memoryBytes } });
    const err = await p.run(undefined, { name: 'hog' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_IPC_WORKER_OUT_OF_MEMORY', signal: null, pid: process.pid, memoryBytes,
    });
    expect(await p.run(1)).toBe(2);
    // Each call keeps 4 MiB more: the thread is replaced after answering, before it runs out.
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      await p.run(4, { name: 'keep' });
      seen.add(((await p.run(undefined, { name: 'thread' })) as Where).threadId);
    }
    expect(seen.size).toBe(2);
    expect(p.stats).toMatchObject({ alive: 1, failed: 1 });
  });

  test('a thread that dies while no descriptor can be opened is not replaced: the waiting task fails EMFILE', async () => {
    const r = await runNode('pool-emfile.js', ['died', 'thread']);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({
      died: { code: 'ERR_IPC_WORKER_DIED' }, waiting: { code: 'EMFILE' }, then: 42,
    });
  });

  test('an execArgv a thread does not take is refused at construction, with Node\'s error as the cause', () => {
    for (const execArgv of [['--title=x'], ['--no-deprecation', '--max-old-space-size=64']]) {
      let err: unknown;
      try {
        pool({ file: cjs, size: 1, execArgv });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({
        code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.execArgv'),
        cause: { code: 'ERR_WORKER_INVALID_EXEC_ARGV' },
      });
    }
  });

  test('env and execArgv become the Worker\'s', async () => {
    const p = pool({ file: cjs, size: 1, env: { ...process.env, PIPC_POOL_TEST: 'yes' }, execArgv: ['--no-deprecation'] });
    expect(await where(p)).toEqual([expect.objectContaining({ env: 'yes', execArgv: ['--no-deprecation'] })]);
  });

  test('options that cannot apply to one thread are refused before any thread starts', () => {
    const count = threads();
    const refused = (options: Partial<PoolOptions>, name: string) =>
      expect(() => new Pool({ file: cjs, size: 1, runtime: 'thread', ...options })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(name) }),
      );
    refused({ limits: { cpuSeconds: 1 } }, 'options.limits.cpuSeconds');
    refused({ limits: { openFiles: 64 } }, 'options.limits.openFiles');
    refused({ nice: 5 }, 'options.nice');
    refused({ cwd: '/' }, 'options.cwd');
    refused({ runtime: 'fiber' as 'thread' }, 'options.runtime');
    // Checked as for a process: too little memory.
    expect(() => new Pool({ file: cjs, runtime: 'thread', limits: { memoryBytes: 1 } })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(threads()).toBe(count);
  });

  test('an unref\'d idle thread pool does not keep the process alive', async () => {
    const p = pool({ file: cjs, size: 1 });
    expect(p.unref().hasRef()).toBe(false);
    expect(await p.run(2)).toBe(4);
    const r = spawnSync(process.execPath, ['-e', `
      const { Pool } = require(${JSON.stringify(require.resolve('../dist'))});
      const p = new Pool({ file: ${JSON.stringify(cjs)}, size: 2, runtime: 'thread' });
      p.run(1).then((v) => { p.unref(); console.log(v); });
    `], { encoding: 'utf8', timeout: 60_000 });
    expect(r).toMatchObject({ status: 0, signal: null, stdout: '2\n' });
  });
});

describe('what a crash takes down', () => {
  test("runtime 'thread': a task's SIGSEGV kills the whole process", async () => {
    const r = await runNode('pool-thread-crash.js', ['thread']);
    expect(r).toMatchObject({ code: null, signal: 'SIGSEGV', stdout: '' });
  });

  test("runtime 'process': the same fails one task, and the pool goes on", async () => {
    const r = await runNode('pool-thread-crash.js', ['process']);
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'ERR_IPC_WORKER_DIED', signal: 'SIGSEGV' }, after: 42 });
  });
});

/**
 * Hostile arguments to every public call of SharedMemory, Mutex, Semaphore,
 * futex, UnixSocket, socketPair, spawn, pipe, Fifo*, MessageQueue, the file locks and Process (the tables are in
 * test/fixtures/hostile-arguments.js: add a group of calls, or a value, there).
 * Each group runs in a child process, so a crash fails its test instead of
 * the run; every outcome must be a result or an error with a `code`, and a
 * refused send must have sent nothing, and no child process may be left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { leftoverObjects, runNode } from './helpers';

const GROUPS = ['shm', 'mutex', 'semaphore', 'channel', 'futex', 'socket', 'spawn', 'pipe', 'fifo', 'mqueue', 'lock', 'process', 'pool'];

/** A few documented outcomes, exactly ('<call> <= <value>': 'code:<code>' or 'ok'). */
const EXPECTED: Record<string, Record<string, string>> = {
  channel: {
    'create mode <= \'1\'': 'code:ERR_INVALID_ARG_TYPE',
    'create mode <= -1': 'code:ERR_INVALID_ARG_VALUE',
    'create mode <= 2**32+1': 'code:ERR_INVALID_ARG_VALUE',
    'tryReceiveInto(v) <= Proxy Uint8Array': 'code:ERR_INVALID_ARG_TYPE',
    'tryReceiveInto(v) <= revoked Proxy': 'code:ERR_INVALID_ARG_TYPE',
    'tryReceiveInto(v) <= detached view': 'code:ERR_INVALID_STATE',
    'trySend(v) <= Proxy Uint8Array': 'code:ERR_INVALID_ARG_TYPE',
    'trySendMany lengths <= Proxy Uint32Array': 'code:ERR_INVALID_ARG_TYPE',
    'receiveManyInto lengths <= Proxy Uint32Array': 'code:ERR_INVALID_ARG_TYPE',
    'receiveSync spinNs <= 2**53': 'code:ERR_INVALID_ARG_VALUE',
    'create(v) <= throwing Proxy': 'code:ERR_INVALID_ARG_VALUE',
    'receive options <= throwing Proxy': 'code:ERR_INVALID_ARG_VALUE',
  },
  futex: {
    'wake(a, v) <= 2**31': 'code:ERR_INVALID_ARG_VALUE',
    // The array's own `length` (2^30) is not its length (1): index 0 is in it.
    'waitSync(v) <= own length': 'ok',
    'waitSync(a, v) <= 2**31': 'code:ERR_INVALID_ARG_VALUE',
    'wait(v) <= Proxy Int32Array': 'code:ERR_INVALID_ARG_TYPE',
  },
  process: {
    "new Process(URL 'http:')": 'code:ERR_INVALID_ARG_VALUE',
    'new Process(file, v) <= revoked Proxy': 'code:ERR_INVALID_ARG_VALUE',
    'new Process(file, v) <= throwing Proxy': 'code:ERR_INVALID_ARG_VALUE',
    'new Process(file, v) <= throwing getter': 'code:ERR_INVALID_ARG_VALUE',
    'args <= Proxy array': 'code:ERR_INVALID_ARG_TYPE',
    "args: Proxy ['a']": 'code:ERR_INVALID_ARG_TYPE',
    'args: [1]': 'code:ERR_INVALID_ARG_TYPE',
    'execArgv: [1]': 'code:ERR_INVALID_ARG_TYPE',
    'env: { A: 1 }': 'code:ERR_INVALID_ARG_TYPE',
    "env: { 'A=B': 'c' }": 'code:ERR_INVALID_ARG_VALUE',
    "env: { '': 'x' }": 'code:ERR_INVALID_ARG_VALUE',
    "cwd: '/\\0'": 'code:ERR_INVALID_ARG_VALUE',
    'cwd <= \'1\'': 'code:ENOENT',
    'stdio: [2**32+1]': 'code:ERR_INVALID_ARG_VALUE',
    'stdio: 4 entries': 'code:ERR_INVALID_ARG_VALUE',
    'nice: 20': 'code:ERR_INVALID_ARG_VALUE',
    'nice <= 1.5': 'code:ERR_INVALID_ARG_VALUE',
    'dieWithParent: 1': 'code:ERR_INVALID_ARG_TYPE',
    'limits.memoryBytes: 1024': 'code:ERR_INVALID_ARG_VALUE',
    'limits.memoryBytes <= NaN': 'code:ERR_INVALID_ARG_VALUE',
    'limits.cpuSeconds: 0': 'code:ERR_INVALID_ARG_VALUE',
    'limits.openFiles <= Infinity': 'code:ERR_INVALID_ARG_VALUE',
    "kill('SIGNOPE')": 'code:ERR_INVALID_ARG_VALUE',
    'kill(65)': 'code:ERR_INVALID_ARG_VALUE',
    'kill(v) <= object': 'code:ERR_INVALID_ARG_TYPE',
    'terminate graceMs <= -1': 'code:ERR_INVALID_ARG_VALUE',
    'join timeoutMs <= -1': 'code:ERR_INVALID_ARG_VALUE',
    'join signal <= object': 'code:ERR_INVALID_ARG_TYPE',
    'kill() before start()': 'code:ERR_INVALID_STATE',
    'join() before start()': 'code:ERR_INVALID_STATE',
    'start() twice': 'code:ERR_INVALID_STATE',
  },
  pool: {
    'size: { min: 2, max: 1 }': 'code:ERR_INVALID_ARG_VALUE',
    'size: 1025': 'code:ERR_INVALID_ARG_VALUE',
    'maxQueue: 1.5': 'code:ERR_INVALID_ARG_VALUE',
    'map concurrency: 0': 'code:ERR_INVALID_ARG_VALUE',
    'limits <= revoked Proxy': 'code:ERR_INVALID_ARG_VALUE',
    'env <= throwing Proxy': 'code:ERR_INVALID_ARG_VALUE',
    'map(v) <= revoked Proxy []': 'code:ERR_INVALID_ARG_VALUE',
    "runtime 'thread', nice: 0": 'code:ERR_INVALID_ARG_VALUE',
    "runtime 'thread', cwd: '.'": 'code:ERR_INVALID_ARG_VALUE',
    "runtime 'thread', limits.cpuSeconds: 1": 'code:ERR_INVALID_ARG_VALUE',
    "runtime 'thread', limits.openFiles: 64": 'code:ERR_INVALID_ARG_VALUE',
    'runtime <= \'1\'': 'code:ERR_INVALID_ARG_VALUE',
  },
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => expect(leftoverObjects()).toEqual([]));

test.each(GROUPS)('%s: every hostile value is a coded error or a documented result; nothing crashes', async (group) => {
  const r = await runNode('hostile-arguments.js', [group], { cwd: dir });
  expect({ signal: r.signal, code: r.code, stderr: r.stderr }).toEqual({ signal: null, code: 0, stderr: '' });
  const { runs, failures, outcomes } = JSON.parse(r.stdout) as {
    runs: number;
    failures: Array<{ call: string; value: string; outcome: string }>;
    outcomes: Record<string, string>;
  };
  expect(runs).toBeGreaterThan(100);
  expect(failures).toEqual([]);
  const expected = EXPECTED[group] ?? {};
  expect(Object.fromEntries(Object.keys(expected).map((k) => [k, outcomes[k]]))).toEqual(expected);
}, 60000);

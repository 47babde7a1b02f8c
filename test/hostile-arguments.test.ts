/**
 * Hostile arguments to every public call of SharedMemory, Mutex, Semaphore,
 * futex, UnixSocket, socketPair, spawn, pipe, Fifo*, MessageQueue and the file locks (the tables are in
 * test/fixtures/hostile-arguments.js: add a group of calls, or a value, there).
 * Each group runs in a child process, so a crash fails its test instead of
 * the run; every outcome must be a result or an error with a `code`, and a
 * refused send must have sent nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { leftoverObjects, runNode } from './helpers';

const GROUPS = ['shm', 'mutex', 'semaphore', 'futex', 'socket', 'spawn', 'pipe', 'fifo', 'mqueue', 'lock'];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pipc-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => expect(leftoverObjects()).toEqual([]));

test.each(GROUPS)('%s: every hostile value is a coded error or a documented result; nothing crashes', async (group) => {
  const r = await runNode('hostile-arguments.js', [group], { cwd: dir });
  expect({ signal: r.signal, code: r.code, stderr: r.stderr }).toEqual({ signal: null, code: 0, stderr: '' });
  const { runs, failures } = JSON.parse(r.stdout) as { runs: number; failures: Array<{ call: string; value: string; outcome: string }> };
  expect(runs).toBeGreaterThan(100);
  expect(failures).toEqual([]);
}, 60000);

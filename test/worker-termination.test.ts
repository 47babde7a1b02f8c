/**
 * Workers terminated while results of their pending waits and async calls
 * are being delivered to them (native/common/callback.h, waiter.cc,
 * fd_watcher.cc). Calls into JavaScript from native callbacks must survive
 * the environment's teardown: on failure the process used to abort
 * ("FATAL ERROR: Error::Error napi_define_properties"), so every storm runs
 * in a child process (test/fixtures/worker-termination.js) and the test asks
 * that it exited 0 having printed its result line.
 */
import { leftoverObjects, runNode, threadWaitsSettled } from './helpers';

afterEach(() => {
  expect(leftoverObjects()).toEqual([]);
});

afterAll(threadWaitsSettled);

/** Runs `node worker-termination.js storm ...args`: its result line, once it exited 0 with nothing on stderr. */
async function storm(...args: string[]): Promise<Record<string, unknown>> {
  const r = await runNode('worker-termination.js', ['storm', ...args]);
  expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test('issue #12 repro: a Worker with 16 futex waits is terminated one setImmediate after they were woken, 150 times; the process survives', async () => {
  expect(await storm('futexSab', '150', 'setImmediate')).toEqual({ kind: 'futexSab', rounds: 150, leaked: 0, devShm: [] });
});

// Every kind of wait and async call the package has, each completed by this
// side (woken, posted, sent, accepted, unlocked...) at the moment the Worker
// is terminated: at once, a microtask, a setImmediate or 1 ms later, in turn.
test.each([
  ['futexSab', 'futex.wait on a SharedArrayBuffer'],
  ['futexShm', 'futex.wait on a SharedMemory'],
  ['semaphore', 'Semaphore.acquire'],
  ['mutex', 'Mutex.lock'],
  ['fileLock', 'lockFile'],
  ['mqReceive', 'MessageQueue.receive'],
  ['mqSend', 'MessageQueue.send on a full queue'],
  ['socketReceive', 'UnixSocket.receive'],
  ['socketAccept', 'UnixSocketServer.accept'],
  ['socketConnect', 'UnixSocket.connect to a full backlog'],
  ['fifoOpen', 'Fifo.openWriter waiting for a reader'],
  ['fifoRequest', 'FifoClient.request'],
  ['pipeStream', 'PipeEnd stream reads'],
  ['channelReceive', 'Channel.receive'],
  ['channelSend', 'Channel.send on a full channel'],
])('storm of Worker terminations during %s (%s): no crash, no descriptor or /dev/shm entry left', async (kind) => {
  expect(await storm(kind, '16')).toEqual({ kind, rounds: 16, leaked: 0, devShm: [] });
});

test('the wait and watcher functions of the binding refuse what is not their own handle (-EBADF), and never crash', async () => {
  const r = await runNode('worker-termination.js', ['handles']);
  expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  const EBADF = -9;
  for (const impostor of ['object', 'number', 'null', 'undefined', 'semaphore', 'look_alike']) {
    expect(out[`waitCancel(${impostor})`]).toBe(EBADF);
    expect(out[`watcherStart(${impostor})`]).toBe(EBADF);
    // Nothing to stop or close: nothing done.
    expect(out[`watcherStop(${impostor})`]).toBe(0);
    expect(out[`watcherClose(${impostor})`]).toBe(0);
  }
  // A handle of the other kind is no handle either.
  expect(out).toMatchObject({ 'waitCancel(watcher)': EBADF, 'watcherStart(wait)': EBADF, 'watcherStop(wait)': 0, 'watcherClose(wait)': 0 });
  expect(out).toMatchObject({ 'watchFd(-1)': EBADF, 'watchFd(fd, not a function)': -22, 'watcherStart(watcher, bad events)': -22 });
  // The real ones work, and a closed watcher is gone.
  expect(out).toMatchObject({ 'watcherStart(watcher)': 0, 'watcherClose(watcher)': 0, 'watcherStart(closed watcher)': EBADF, 'waitCancel(wait)': 0 });
});

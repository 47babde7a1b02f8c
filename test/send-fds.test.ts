// UnixSocket.sendFds over a plain net.Socket (lib/internal/send-fds.ts).
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { SharedMemory, socketPair, UnixSocket } from '../lib';
import { LONG, runNode, socketTestFiles } from './helpers';

const sockets = socketTestFiles();
const { sockPath } = sockets;

describe('sendFds over a plain net.Socket', () => {
  test('sendFds over a plain net.Socket: queued writes go first, never interleaved; the peer maps the memory', async () => {
    const p = sockPath();
    using shm = SharedMemory.anonymous(4096);
    const head = Buffer.alloc(2 * 1024 * 1024, 'h');
    const tail = Buffer.alloc(5000, 't');
    const done = new Promise<void>((resolve, reject) => {
      const server = createServer((conn) => {
        server.close();
        // Queued in libuv (more than the socket holds), then the descriptor, then more.
        conn.write(head);
        UnixSocket.sendFds(conn, [shm.fd], 'X')
          .then(() => new Promise<void>((r) => conn.end(tail, r)))
          .then(resolve, reject);
      });
      server.listen(p);
    });
    const child = runNode('unix-socket.js', ['netPeer', p, 'written over net']);
    await done;
    const r = await child;
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ upToFds: head.length + 1, last: 'X', fds: 1, after: tail.length });
    expect(Buffer.from(shm.buffer).toString('utf8', 0, 16)).toBe('written over net');
  });

  test('sendFds: several in a row keep their order; bad arguments fail before any syscall', async () => {
    const [a, b] = socketPair({ type: 'stream' });
    const net = a.stream();
    const files = [0, 1, 2].map((i) => {
      const f = sockets.path('order-');
      writeFileSync(f, `file ${i}`);
      return openSync(f, 'r');
    });
    await Promise.all(files.map((fd, i) => UnixSocket.sendFds(net, [fd], `${i}`)));
    const got: string[] = [];
    while (got.length < 3) {
      const m = await b.receive({ timeoutMs: LONG });
      for (const fd of m!.fds) {
        const buf = Buffer.alloc(10);
        got.push(`${m!.data.toString()}:${buf.toString('utf8', 0, readSync(fd, buf, 0, 10, 0))}`);
        closeSync(fd);
      }
    }
    expect(got).toEqual(['0:file 0', '1:file 1', '2:file 2']);
    for (const fd of files) closeSync(fd);

    await expect(UnixSocket.sendFds({} as never, [1])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(UnixSocket.sendFds(net, [])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(UnixSocket.sendFds(net, [1], '')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('at least one byte') });
    await expect(UnixSocket.sendFds(net, [1], 'x', { timeoutMs: -5 })).rejects.toMatchObject({ name: 'RangeError' });
    await new Promise((resolve) => net.on('close', resolve).destroy());
    await expect(UnixSocket.sendFds(net, [1])).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    b.close();
  });
});

'use strict';
// Node contenders of the pipe suite (run as child processes): byte streams
// between two processes, either with the blocking sync path (fs.readSync /
// fs.writeSync straight on the inherited descriptors) or with the event loop
// (PipeEnd.stream(), a net.Socket; the same code also drives a Node `net`
// Unix socket, the reference); and messages over a datagram socket
// (UnixSocket), with the event loop or with a trySend/tryReceive busy-poll.
// It mirrors pipe.c role for role: same messages (SIZE bytes, sequence
// number in the first four, checked at every message's offset in the
// stream; a datagram must also be SIZE bytes whole), same WARMUP untimed
// messages, same timing points and the same placement record.
//
// Usage: node pipe-node.js MODE ROLE IN OUT SIZE WARMUP COUNT CHUNK [BUFFER]
//   MODE     sync | sync-batch | async | async-batch | dgram | dgram-sync | dgram-spin |
//            dgram-batch | dgram-batch-sync (the batch modes hand over BATCH
//            messages per call one way; their round trips go one message at a
//            time) | dgram-into | dgram-into-sync (receiveInto: no allocation)
//   ROLE     ping | pong | produce | consume (see pipe.c)
//   IN, OUT  fd:N             a descriptor the suite placed here (spawn with fds)
//            unix-listen:P    (async) listen on the Unix socket path P, take one connection
//            unix-connect:P   (async) connect to P
//            path:P           a FIFO: sync opens it with a blocking fs.openSync
//                             (O_RDONLY for IN, O_WRONLY for OUT), async with
//                             Fifo.openReader / Fifo.openWriter, then .stream()
//            channel:NAME     (dgram) a Channel, opened by name: the channel suite's
//                             async contender runs the dgram roles on it
//            -                not used by this role
//            IN and OUT may name the same socket: it is opened once.
//   BUFFER   (async and dgram modes; default: the kernel's sizes) bytes of
//            kernel buffer each side asks for: a pipe or FIFO end sets the
//            pipe's capacity (setPipeSize), and a consumer reads into one
//            reused buffer of BUFFER bytes (stream({ onread })) instead of a
//            new 64 KiB Buffer per read; a datagram socket sets SO_SNDBUF
//            (setSendBufferSize)
// Prints one JSON line: {"rtt_ns":[...]} (ping), {"chunk_ns":[...],
// "chunk_bytes":[...]} (consume), and every role {"placement":{...}}.
//
// More channels are more endpoint kinds in ENDPOINTS (a FIFO is `path:P`);
// a channel with message boundaries is a mode (dgram, dgram-sync, dgram-spin). Endpoints
// open in the order of ROLES: ping opens OUT before IN, pong IN before OUT,
// so that blocking FIFO opens (sync) meet their partners' instead of waiting
// for each other.
//
// Why sync FIFOs are opened with fs.openSync and not Fifo.openReader/
// openWriter: a Fifo's descriptor is always O_NONBLOCK (and Node.js cannot
// clear that flag), so fs.readSync on an empty FIFO throws EAGAIN instead of
// waiting; the sync contender needs a blocking descriptor, like C's.

const fs = require('node:fs');
const net = require('node:net');
const { once } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const { awaitingRoles, blockingRoles, message, pingState, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const READ_BUFFER = 64 * 1024;
// Messages per batch in the batch modes (as BATCH in pipe.c).
const BATCH = 64;
// How long a connecting side retries while the listening side starts.
const CONNECT_MS = 10_000;


/**
 * Checks the sequence number at the start of every message in a stream of
 * `size`-byte messages, fed in pieces of any length (as in pipe.c).
 */
class Verifier {
  constructor(size) {
    this.size = size;
    this.pos = 0;
    this.header = Buffer.alloc(4);
    this.ok = true;
  }

  feed(buf, n) {
    const { size } = this;
    let i = 0;
    while (i < n) {
      const off = this.pos % size;
      let step;
      if (off === 0 && n - i >= 4) {
        if (buf.readUInt32LE(i) !== (this.pos / size) >>> 0) this.ok = false;
        step = Math.min(size, n - i);
      } else if (off < 4) {
        step = Math.min(4 - off, n - i);
        buf.copy(this.header, off, i, i + step);
        if (off + step === 4 && this.header.readUInt32LE(0) !== ((this.pos - off) / size) >>> 0) this.ok = false;
      } else {
        step = Math.min(size - off, n - i);
      }
      i += step;
      this.pos += step;
    }
  }
}

/**
 * The consumer's clock: once `startAt` bytes have arrived it starts, and each
 * time another `step` bytes have, it records the bytes and the ns since the
 * last mark (as in pipe.c).
 */
class Marks {
  constructor(startAt, step, slots, where) {
    Object.assign(this, { startAt, step, slots, where, got: 0, mark: 0, tMark: 0n, timing: false });
    this.ns = [];
    this.bytes = [];
  }

  add(n) {
    this.got += n;
    if (!this.timing) {
      if (this.got >= this.startAt) {
        this.where.start();
        this.timing = true;
        this.mark = this.got;
        this.tMark = process.hrtime.bigint();
      }
    } else if (this.got - this.mark >= this.step && this.ns.length < this.slots) {
      const t = process.hrtime.bigint();
      this.ns.push(Number(t - this.tMark));
      this.bytes.push(this.got - this.mark);
      this.mark = this.got;
      this.tMark = t;
    }
  }
}

/**
 * Where a stream endpoint opened with `onread` (a consumer given BUFFER)
 * delivers what it read: its socket -> { fn(buf, n) }, set by `listen`.
 */
const sinks = new WeakMap();

/** Calls `fn(buf, n)` with what arrives on `socket`: its 'data' events, or its onread reads. */
function listen(socket, fn) {
  const sink = sinks.get(socket);
  if (sink) sink.fn = fn;
  else socket.on('data', fn);
}

/** Writes all of `buf` to the blocking descriptor `fd`. */
function writeAll(fd, buf) {
  for (let done = 0; done < buf.length;) done += fs.writeSync(fd, buf, done, buf.length - done, null);
}

/** Writes all of `bufs` to the blocking descriptor `fd`: one writev(2), unless the kernel takes only part. */
function writevAll(fd, bufs) {
  let n = fs.writevSync(fd, bufs);
  for (const buf of bufs) {
    if (n >= buf.length) {
      n -= buf.length;
      continue;
    }
    writeAll(fd, buf.subarray(n));
    n = 0;
  }
}

/** Reads exactly `buf.length` bytes from the blocking descriptor `fd`. */
function readExact(fd, buf) {
  for (let done = 0; done < buf.length;) {
    const n = fs.readSync(fd, buf, done, buf.length - done, null);
    if (n === 0) throw new Error('EOF before the last message');
    done += n;
  }
}

/** Reads one message of `buf.length` bytes from the blocking descriptor `fd` into `buf`, and returns `buf`. */
function readMessage(fd, buf) {
  readExact(fd, buf);
  return buf;
}


/** A consumer's state: the checks, the clock, and how many bytes make all the messages. */
function consumer(size, warmup, count, chunk) {
  const where = new Placement();
  return {
    where,
    verifier: new Verifier(size),
    marks: new Marks(warmup * size, chunk * size, count / chunk, where),
    all: (warmup + count) * size,
  };
}

/** A consumer's JSON result. */
function consumed(verifier, marks, where) {
  return { chunk_ns: marks.ns, chunk_bytes: marks.bytes, verified: verifier.ok, placement: where.end() };
}

/** Counts one received datagram, which must be one whole message. */
function takeMessage(verifier, marks, data, size) {
  if (data.length !== size) throw new Error(`a message of ${data.length} bytes, expected ${size}`);
  verifier.feed(data, size);
  marks.add(size);
}

/**
 * The bytes of a received message: a UnixSocket's is `{ data, ... }`, a
 * Channel's (the channel suite's async contender, endpoint `channel:NAME`)
 * the Buffer itself.
 */
function dataOf(m) {
  return m.data ?? m;
}

/** Sends one datagram, retrying at once while the socket is full (the busy-poll). */
function sendSpin(sock, msg) {
  while (!sock.trySend(msg));
}

/** Receives one datagram, retrying at once while none is there (the busy-poll). */
function receiveSpin(sock) {
  for (;;) {
    const m = sock.tryReceive();
    if (m !== null) return m;
  }
}

/**
 * A producer that hands over its messages BATCH at a time:
 * `sendBatch(output, messages)` sends or writes them in order, and may
 * return a promise (then awaited; the messages are not reused before it
 * settles). The last batch may be shorter.
 */
function batchProducer(sendBatch) {
  return async function produce(output, size, warmup, count) {
    const batch = Array.from({ length: BATCH }, () => message(size));
    const where = new Placement();
    const total = warmup + count;
    for (let i = 0; i < total; i += BATCH) {
      const n = Math.min(BATCH, total - i);
      const messages = n === BATCH ? batch : batch.slice(0, n);
      for (let k = 0; k < n; k++) messages[k].writeUInt32LE(i + k, 0);
      // Outside the timed part, as at message `warmup` in the other modes.
      if (i <= warmup && warmup < i + n) where.start();
      const sent = sendBatch(output, messages);
      if (sent !== undefined) await sent;
    }
    return { placement: where.end() };
  };
}

/**
 * A datagram consumer that takes up to BATCH messages per call: `receiveBatch(input, size)` returns (or resolves) them.
 */
function batchConsumer(receiveBatch) {
  return async function consume(input, size, warmup, count, chunk) {
    const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
    while (marks.got < all) {
      const got = receiveBatch(input, size);
      for (const m of got instanceof Promise ? await got : got) takeMessage(verifier, marks, m.data, size);
    }
    return consumed(verifier, marks, where);
  };
}

/** Checks that a receiveInto filled `buf` exactly (`n` bytes), and returns it. */
function filled(buf, n) {
  if (n !== buf.length) throw new Error(`a message of ${n} bytes, expected ${buf.length}`);
  return buf;
}

/** Receives one datagram straight into `buf` (no allocation) and returns `buf`. */
function receiveIntoSync(sock, buf) {
  return filled(buf, sock.receiveIntoSync(buf));
}

/** The same, waiting on the event loop. */
async function receiveInto(sock, buf) {
  return filled(buf, await sock.receiveInto(buf));
}

/**
 * The roles, written out per kind of mode so that none pays for another: the
 * sync and spin loops make no promises at all (blockingRoles), the async ones
 * are driven by the streams' events, the dgram ones await every call. A sync
 * endpoint is a descriptor number, an async one a net.Socket, a dgram one a
 * UnixSocket. Each returns the JSON result of the role.
 */
const MODES = {
  sync: {
    label: 'sync',
    code: 'the sync path: fs.writeSync(end.fd, msg) / fs.readSync(end.fd, buf) on inherited(fd), blocking descriptors',

    ...blockingRoles(writeAll, readMessage),

    consume(input, size, warmup, count, chunk) {
      const buf = Buffer.alloc(Math.max(size, READ_BUFFER));
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      while (marks.got < all) {
        const n = fs.readSync(input, buf, 0, Math.min(buf.length, all - marks.got), null);
        if (n === 0) throw new Error('EOF before the last message');
        verifier.feed(buf, n);
        marks.add(n);
      }
      return consumed(verifier, marks, where);
    },
  },

  'sync-batch': {
    label: 'sync batch',
    code: `the sync path, producing ${BATCH} messages per fs.writevSync(fd, messages) (one writev(2)); round trip and consumer as in Node sync`,

    ping: (...args) => MODES.sync.ping(...args),
    pong: (...args) => MODES.sync.pong(...args),
    consume: (...args) => MODES.sync.consume(...args),
    produce: batchProducer(writevAll),
  },

  async: {
    label: 'async',
    code: 'socket.write(msg) (await drain when it returns false) / socket.on(\'data\') on end.stream(), non-blocking + epoll',

    ping(input, output, size, warmup, count) {
      const { rtt, msg, echo, where } = pingState(size, count);
      let verified = true;
      return new Promise((resolve, reject) => {
        let i = 0;
        let have = 0;
        let t0 = 0n;
        const send = () => {
          if (i === warmup) where.start();
          msg.writeUInt32LE(i, 0);
          t0 = process.hrtime.bigint();
          // One message is in flight at a time: msg is not touched again before its echo is back.
          output.write(msg);
        };
        const onData = (d) => {
          if (have + d.length > size) {
            reject(new Error('more bytes came back than one echo'));
            return;
          }
          d.copy(echo, have);
          have += d.length;
          if (have < size) return;
          const t1 = process.hrtime.bigint();
          if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
          if (echo.readUInt32LE(0) !== i) verified = false;
          have = 0;
          if (++i < warmup + count) {
            send();
            return;
          }
          input.off('data', onData);
          resolve({ rtt_ns: Array.from(rtt), verified, placement: where.end() });
        };
        input.on('data', onData);
        input.once('end', () => reject(new Error('EOF before the last echo')));
        send();
      });
    },

    pong(input, output, size, warmup, count) {
      const where = new Placement();
      const all = (warmup + count) * size;
      let got = 0;
      let started = false;
      return new Promise((resolve, reject) => {
        const onData = (d) => {
          if (!started && got >= warmup * size) {
            where.start();
            started = true;
          }
          got += d.length;
          output.write(d);
          if (got < all) return;
          input.off('data', onData);
          resolve({ placement: where.end() });
        };
        input.on('data', onData);
        input.once('end', () => reject(new Error('EOF before the last message')));
      });
    },

    async produce(output, size, warmup, count) {
      const where = new Placement();
      // A message is written when its callback runs; until then it is not reused.
      const free = [];
      for (let i = 0; i < warmup + count; i++) {
        if (i === warmup) where.start();
        const msg = free.pop() ?? message(size);
        msg.writeUInt32LE(i, 0);
        if (!output.write(msg, () => free.push(msg))) await once(output, 'drain');
      }
      return { placement: where.end() };
    },

    consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      return new Promise((resolve, reject) => {
        let done = false;
        const onData = (d, n = d.length) => {
          if (done) return;
          verifier.feed(d, n);
          marks.add(n);
          if (marks.got < all) return;
          done = true;
          resolve(consumed(verifier, marks, where));
        };
        listen(input, onData);
        input.once('end', () => reject(new Error('EOF before the last message')));
      });
    },
  },

  'async-batch': {
    label: 'async batch',
    code:
      `socket.write(msg) per message as in Node async, flushed ${BATCH} at a time: cork(), ${BATCH} writes, uncork() ` +
      '(one writev(2) per batch; the next batch once the last write\'s callback ran); round trip and consumer as in Node async',

    ping: (...args) => MODES.async.ping(...args),
    pong: (...args) => MODES.async.pong(...args),
    consume: (...args) => MODES.async.consume(...args),

    // The stream copies nothing: the batch is reused once its last write's
    // callback has run (the writes complete in order), which also bounds
    // what the stream holds to one batch.
    produce: batchProducer((output, messages) => new Promise((resolve, reject) => {
      output.cork();
      const last = messages.length - 1;
      for (let k = 0; k < last; k++) output.write(messages[k]);
      output.write(messages[last], (err) => (err ? reject(err) : resolve()));
      output.uncork();
    })),
  },

  dgram: {
    label: 'dgram async',
    code: 'await sock.send(msg) / await sock.receive() on UnixSocket.fromFd(fd), one end of a datagram socketPair; uv_poll waits',

    // Sent, or copied to wait for room: msg may be reused either way.
    ...awaitingRoles((output, msg) => output.send(msg), async (input) => dataOf(await input.receive())),

    async consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      while (marks.got < all) takeMessage(verifier, marks, dataOf(await input.receive()), size);
      return consumed(verifier, marks, where);
    },
  },

  'dgram-sync': {
    label: 'dgram sync',
    code: 'sock.sendSync(msg) / sock.receiveSync() on UnixSocket.fromFd(fd): one native call each (poll(2), then sendmsg/recvmsg)',

    ...blockingRoles((sock, msg) => sock.sendSync(msg), (sock) => sock.receiveSync().data),

    consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      while (marks.got < all) takeMessage(verifier, marks, input.receiveSync().data, size);
      return consumed(verifier, marks, where);
    },
  },

  'dgram-batch': {
    label: 'dgram batch async',
    code:
      `await sock.sendMany(${BATCH} messages) / await sock.receiveMany(${BATCH}): one sendmmsg/recvmmsg per batch, uv_poll waits; ` +
      'round trip as Node dgram async (one message in flight: nothing to batch)',

    ping: (...args) => MODES.dgram.ping(...args),
    pong: (...args) => MODES.dgram.pong(...args),

    produce: batchProducer((output, messages) => output.sendMany(messages)),
    consume: batchConsumer((input, size) => input.receiveMany(BATCH, { messageSize: size })),
  },

  'dgram-batch-sync': {
    label: 'dgram batch sync',
    code:
      `sock.sendManySync(${BATCH} messages) / sock.receiveManySync(${BATCH}): one sendmmsg/recvmmsg per batch (poll(2) when it must wait); ` +
      'round trip as Node dgram sync (one message in flight: nothing to batch)',

    ping: (...args) => MODES['dgram-sync'].ping(...args),
    pong: (...args) => MODES['dgram-sync'].pong(...args),

    produce: batchProducer((output, messages) => output.sendManySync(messages)),
    consume: batchConsumer((input, size) => input.receiveManySync(BATCH, { messageSize: size })),
  },

  'dgram-into': {
    label: 'dgram into async',
    code: 'await sock.send(msg) / await sock.receiveInto(buf): each message received straight into one reused buffer (no allocation); uv_poll waits',

    ...awaitingRoles((output, msg) => output.send(msg), receiveInto),

    async consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      const buf = Buffer.alloc(size);
      while (marks.got < all) takeMessage(verifier, marks, await receiveInto(input, buf), size);
      return consumed(verifier, marks, where);
    },
  },

  'dgram-into-sync': {
    label: 'dgram into sync',
    code: 'sock.sendSync(msg) / sock.receiveIntoSync(buf): each message received straight into one reused buffer (no allocation)',

    ...blockingRoles((sock, msg) => sock.sendSync(msg), receiveIntoSync),

    consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      const buf = Buffer.alloc(size);
      while (marks.got < all) takeMessage(verifier, marks, receiveIntoSync(input, buf), size);
      return consumed(verifier, marks, where);
    },
  },

  'dgram-spin': {
    label: 'dgram spin',
    code:
      'busy-poll: while (!sock.trySend(msg)); ' +
      'while ((m = sock.tryReceive()) === null); burns a CPU per side while it waits',

    ...blockingRoles(sendSpin, (sock) => receiveSpin(sock).data),

    consume(input, size, warmup, count, chunk) {
      const { verifier, marks, all, where } = consumer(size, warmup, count, chunk);
      while (marks.got < all) takeMessage(verifier, marks, receiveSpin(input).data, size);
      return consumed(verifier, marks, where);
    },
  },
};

/** A Unix-socket client that retries while the listening side is still starting. */
async function connect(path) {
  const deadline = Date.now() + CONNECT_MS;
  for (;;) {
    const socket = net.connect(path);
    try {
      await once(socket, 'connect');
      return socket;
    } catch (err) {
      socket.destroy();
      if (!['ENOENT', 'ECONNREFUSED'].includes(err.code) || Date.now() > deadline) throw err;
      await sleep(5);
    }
  }
}

/** A Unix-socket server's one connection; it stops listening then. */
async function accept(path) {
  const server = net.createServer();
  server.listen(path);
  const [socket] = await once(server, 'connection');
  server.close();
  return socket;
}

/**
 * What an endpoint argument opens, per mode: { io (what the role gets),
 * close() (flushes and closes) }. Required here, so that the suite module
 * can read MODES without the library.
 */
const ENDPOINTS = {
  fd: {
    sync(n) {
      const end = require('../../../dist').inherited(n);
      return { io: end.fd, close: () => end.close() };
    },
    async(n, which, tuning) {
      return sizedStream(require('../../../dist').inherited(n), tuning);
    },
    'sync-batch'(n) {
      return ENDPOINTS.fd.sync(n);
    },
    'async-batch'(n, which, tuning) {
      return ENDPOINTS.fd.async(n, which, tuning);
    },
    dgram: datagramEndpoint,
    'dgram-sync': datagramEndpoint,
    'dgram-spin': datagramEndpoint,
    'dgram-batch': datagramEndpoint,
    'dgram-batch-sync': datagramEndpoint,
    'dgram-into': datagramEndpoint,
    'dgram-into-sync': datagramEndpoint,
  },
  path: {
    sync(file, which) {
      const fd = fs.openSync(file, which === 'in' ? fs.constants.O_RDONLY : fs.constants.O_WRONLY);
      return { io: fd, close: () => fs.closeSync(fd) };
    },
    async async(file, which, tuning) {
      const { Fifo } = require('../../../dist');
      const fifo = which === 'in' ? await Fifo.openReader(file) : await Fifo.openWriter(file, { timeoutMs: CONNECT_MS });
      return sizedStream(fifo, tuning);
    },
    'sync-batch'(file, which) {
      return ENDPOINTS.path.sync(file, which);
    },
    'async-batch'(file, which, tuning) {
      return ENDPOINTS.path.async(file, which, tuning);
    },
  },
  // A Channel by name, for the channel suite: the dgram roles' await send() / receive(),
  // and dgram-into's await receiveInto(buf).
  channel: {
    dgram(name) {
      const ch = require('../../../dist').Channel.open(name);
      return { io: ch, close: () => ch.close() };
    },
    'dgram-into'(name) {
      return ENDPOINTS.channel.dgram(name);
    },
  },
  'unix-listen': { async: async (path) => streamEndpoint(await accept(path)) },
  'unix-connect': { async: async (path) => streamEndpoint(await connect(path)) },
};

/** A datagram socket the suite placed at descriptor `n`, adopted by the library; SO_SNDBUF set to BUFFER if given. */
function datagramEndpoint(n, which, { buffer }) {
  const sock = require('../../../dist').UnixSocket.fromFd(n);
  if (buffer > 0) sock.setSendBufferSize(buffer);
  return { io: sock, close: () => sock.close() };
}

/**
 * A pipe end or Fifo as a stream. With BUFFER: the pipe's capacity set to it
 * first, and a consumer's reads go into one reused buffer of BUFFER bytes
 * (onread) instead of a new Buffer per read.
 */
function sizedStream(end, { buffer, reader }) {
  if (!(buffer > 0)) return streamEndpoint(end.stream());
  end.setPipeSize(buffer);
  if (!reader) return streamEndpoint(end.stream());
  const sink = { fn: null };
  const socket = end.stream({ onread: { buffer: Buffer.allocUnsafe(buffer), callback: (n, buf) => sink.fn(buf, n) } });
  sinks.set(socket, sink);
  return streamEndpoint(socket);
}

/** A socket as an endpoint: closing ends it once everything written is flushed. */
function streamEndpoint(socket) {
  socket.on('error', (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
  return {
    io: socket,
    close: () => new Promise((resolve) => socket.end(() => resolve())).then(() => socket.destroy()),
  };
}

/** Opens an endpoint; `tuning` is { buffer (BUFFER, 0 for none), reader (the consumer's IN) }. */
async function openEndpoint(spec, mode, which, tuning) {
  const colon = spec.indexOf(':');
  const [kind, arg] = [spec.slice(0, colon), spec.slice(colon + 1)];
  const open = ENDPOINTS[kind]?.[mode];
  if (colon < 0 || !open) throw new Error(`endpoint '${spec}' is not usable in mode ${mode}`);
  if (tuning.buffer > 0 && open.length < 3) throw new Error(`BUFFER is not used in mode ${mode} with endpoint '${spec}'`);
  return open(kind === 'fd' ? Number(arg) : arg, which, tuning);
}

const ROLES = { ping: ['out', 'in'], pong: ['in', 'out'], produce: ['out'], consume: ['in'] };

async function main(argv) {
  if ((argv.length !== 8 && argv.length !== 9) || !Object.hasOwn(MODES, argv[0]) || !Object.hasOwn(ROLES, argv[1])) {
    process.stderr.write(`usage: pipe-node.js ${Object.keys(MODES).join('|')} ${Object.keys(ROLES).join('|')} IN OUT SIZE WARMUP COUNT CHUNK [BUFFER]\n`);
    return 2;
  }
  const [modeId, role, inSpec, outSpec] = argv;
  const [size, warmup, count, chunk, buffer = 0] = argv.slice(4).map(Number);
  if (!(size >= 4 && warmup >= 0 && count > 0 && chunk > 0 && count % chunk === 0 && buffer >= 0)) {
    process.stderr.write('bad arguments\n');
    return 2;
  }
  const specs = { in: inSpec, out: outSpec };
  const opened = new Map();
  try {
    const ends = {};
    for (const which of ROLES[role]) {
      const spec = specs[which];
      if (!opened.has(spec)) opened.set(spec, await openEndpoint(spec, modeId, which, { buffer, reader: role === 'consume' }));
      ends[which] = opened.get(spec).io;
    }
    const fn = MODES[modeId][role];
    const args = [size, warmup, count, chunk];
    const result = await (role === 'ping' || role === 'pong' ? fn(ends.in, ends.out, ...args) : fn(ends[ROLES[role][0]], ...args));
    for (const end of opened.values()) await end.close();
    opened.clear();
    process.stdout.write(`${JSON.stringify({ ...result, mode: modeId, role })}\n`);
    if (result.verified === false) {
      process.stderr.write('verification failed: a message arrived out of order\n');
      return 1;
    }
    return 0;
  } finally {
    for (const end of opened.values()) end.close();
  }
}

runAsScript(module, main);

module.exports = { BATCH, MODES, blockingRoles };

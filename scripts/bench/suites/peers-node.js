'use strict';
// Node's own channels as contenders of the channel suite: `process.send` to
// a forked child (serialization 'json' or 'advanced') and a worker thread's
// `postMessage`. One process (the parent) starts the other side itself, so a
// run is one command; the other side reports its placement to the parent.
// The same roles, messages, checks and timing points as channel-node.js.
//
// Usage: node peers-node.js MODE KIND SIZE WARMUP COUNT CHUNK
//   MODE  send-json       child_process.fork(), child.send(buf) / process.on('message');
//                         a Buffer goes as JSON ({ type: 'Buffer', data: [...] }) and
//                         the receiver makes a Buffer of it again
//         send-advanced   the same with serialization: 'advanced' (structured clone:
//                         a Buffer arrives as a Uint8Array)
//         worker          new Worker(), worker.postMessage(buf) / parentPort.on('message')
//                         (structured clone, a copy; in-process, two threads)
//   KIND  rtt     the parent pings, the other side echoes; prints {"rtt_ns":[...]}
//         oneway  the parent produces, the other side consumes and sends back
//                 its {"chunk_ns":[...], "chunk_bytes":[...]}
// The producer keeps at most WINDOW messages unacknowledged (the consumer
// acknowledges every ACK_EVERY): neither channel has backpressure of its own,
// and 64 KiB messages would otherwise pile up in memory.
// Prints one JSON line with both sides' placement as {"a":..., "b":...}.

const { fork } = require('node:child_process');
const { once } = require('node:events');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { message, runAsScript } = require('../lib/contender-node');
const { Placement } = require('../lib/placement-node');

const ACK_EVERY = 256;
const WINDOW = 4 * ACK_EVERY;

const MODES = {
  'send-json': { label: 'process.send json', serialization: 'json' },
  'send-advanced': { label: 'process.send advanced', serialization: 'advanced' },
  worker: { label: 'worker postMessage' },
};

/** A received message as bytes: JSON turned a Buffer into { type, data }. */
function bytesOf(m) {
  return m instanceof Uint8Array ? m : Buffer.from(m.data);
}

function seqOf(data) {
  return data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24);
}

/**
 * The other side (child process or worker thread): `port` has on('message')
 * and send(msg). It echoes (rtt) or consumes and reports (oneway), and on
 * 'done' sends its report.
 */
function otherSide(port, { kind, size, warmup, chunk }) {
  const where = new Placement();
  let i = 0;
  const ns = [];
  let t0 = 0n;
  let verified = true;
  port.on('message', (m) => {
    if (m === 'done') {
      // The parent ends this side once it has the report: closing here could lose it.
      port.send({ placement: where.end(), ...(kind === 'oneway' && { chunk_ns: ns, chunk_bytes: ns.map(() => chunk * size), verified }) });
      return;
    }
    if (i === warmup) {
      where.start();
      // Without warm-up the clock starts at the first message (else after the last warm-up one).
      if (warmup === 0) t0 = process.hrtime.bigint();
    }
    if (kind === 'rtt') {
      port.send(m);
    } else {
      const data = bytesOf(m);
      if (data.length !== size || seqOf(data) !== (i | 0)) verified = false;
      if (i + 1 === warmup) t0 = process.hrtime.bigint();
      const done = i + 1 - warmup;
      if (done > 0 && done % chunk === 0) {
        const t1 = process.hrtime.bigint();
        ns.push(Number(t1 - t0));
        t0 = t1;
      }
      if ((i + 1) % ACK_EVERY === 0) port.send(i + 1);
    }
    i++;
  });
}

/** The parent's end of the other side: { send, next() (the next message), close }. */
async function start(mode, params) {
  const queue = [];
  let waiting = null;
  const deliver = (m) => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      w(m);
    } else {
      queue.push(m);
    }
  };
  const next = () => (queue.length > 0
    ? Promise.resolve(queue.shift())
    : new Promise((resolve) => (waiting = resolve)));
  if (mode === 'worker') {
    const worker = new Worker(__filename, { workerData: params });
    worker.on('message', deliver);
    worker.on('error', (err) => {
      throw err;
    });
    await once(worker, 'online');
    return { send: (m) => worker.postMessage(m), next, close: () => worker.terminate() };
  }
  const child = fork(__filename, ['child', JSON.stringify(params)], { serialization: MODES[mode].serialization, stdio: 'inherit' });
  child.on('message', deliver);
  await next(); // 'ready'
  const exit = once(child, 'exit');
  return {
    send: (m) => child.send(m),
    next,
    close: () => {
      child.disconnect();
      return exit;
    },
  };
}

async function main(argv) {
  if (argv[0] === 'child') {
    const port = { on: (e, f) => process.on(e, f), send: (m) => process.send(m) };
    otherSide(port, JSON.parse(argv[1]));
    process.send('ready');
    return 0;
  }
  if (argv.length !== 6 || !Object.hasOwn(MODES, argv[0]) || !['rtt', 'oneway'].includes(argv[1])) {
    process.stderr.write(`usage: peers-node.js ${Object.keys(MODES).join('|')} rtt|oneway SIZE WARMUP COUNT CHUNK\n`);
    return 2;
  }
  const [mode, kind] = argv;
  const [size, warmup, count, chunk] = argv.slice(2).map(Number);
  if (!(size >= 4 && warmup >= 0 && count > 0 && chunk > 0 && count % chunk === 0)) {
    process.stderr.write('bad arguments\n');
    return 2;
  }
  const side = await start(mode, { kind, size, warmup, count, chunk });
  const msg = message(size);
  const where = new Placement();
  let result;
  let verified = true;
  if (kind === 'rtt') {
    const rtt = new Float64Array(count);
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) where.start();
      msg.writeUInt32LE(i, 0);
      const t0 = process.hrtime.bigint();
      side.send(msg);
      const echo = bytesOf(await side.next());
      const t1 = process.hrtime.bigint();
      if (i >= warmup) rtt[i - warmup] = Number(t1 - t0);
      if (echo.length !== size || seqOf(echo) !== (i | 0)) verified = false;
    }
    result = { rtt_ns: Array.from(rtt) };
  } else {
    let acked = 0;
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) where.start();
      while (i - acked >= WINDOW) acked = await side.next();
      msg.writeUInt32LE(i, 0);
      side.send(msg);
    }
    while (acked < warmup + count - ((warmup + count) % ACK_EVERY)) acked = await side.next();
  }
  const a = where.end();
  side.send('done');
  let report = await side.next();
  while (typeof report === 'number') report = await side.next();
  await side.close();
  if (kind === 'oneway') {
    result = { chunk_ns: report.chunk_ns, chunk_bytes: report.chunk_bytes };
    verified = report.verified;
  }
  process.stdout.write(`${JSON.stringify({ ...result, verified, placement: { a, b: report.placement }, mode, kind })}\n`);
  return verified ? 0 : 1;
}

if (!isMainThread) {
  otherSide({ on: (e, f) => parentPort.on(e, f), send: (m) => parentPort.postMessage(m) }, workerData);
} else {
  runAsScript(module, main);
}

module.exports = { MODES };

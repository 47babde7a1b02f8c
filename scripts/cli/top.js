'use strict';
// `posix-ipc top`: a live view of this package's Channels (in /dev/shm, and
// anonymous ones in the memfds processes hold): per
// Channel and lane, messages/s and bytes/s (from the lanes' message counts and
// tails between two samples),
// depth, producer state and whether it is attached, and whether the consumer
// sleeps. Redraws in place every interval; `q` or Ctrl-C quits and restores
// the terminal. `--once` prints a single frame (two samples an interval
// apart) for pipes and tests.

const fs = require('node:fs');
const { readChannel, lockedBytes, covers } = require('./inspect');
const format = require('./format');
const proc = require('./proc');
const decode = require('./decode');

const usage = `Usage: posix-ipc top [--interval MS] [--once]

A live view of the Channels in /dev/shm and in memfds processes hold (shown
as PID:FD), recognised by their header: for
each Channel and lane, messages/s and bytes/s (between two samples), depth,
the producer's state and whether it is attached (it holds the lane's lock),
and whether the consumer is attached and sleeping. A producer built from an
older ring.h counts no messages in the ring: its MSGS/S shows mailbox
messages only.

Keys: q quits (so does Ctrl-C).

Options:
  --interval MS        Time between two samples, in ms (default 1000, at least 50)
  --once               Print one frame (two samples an interval apart) and exit
  --help, -h           Show this text

Exit status: 0 done, 2 a usage error.
`;

const options = {
  interval: { type: 'string' },
  once: { type: 'boolean' },
};

const positionals = { min: 0, max: 0 };

const SHM = '/dev/shm';

/**
 * Where Channels may be: every file of /dev/shm but the semaphores, by name,
 * and every memfd a process holds, as PID:FD (anonymous Channels).
 */
function places() {
  const list = proc.tolerant(() => fs.readdirSync(SHM), []).sort()
    .filter((name) => !name.startsWith('sem.'))
    .map((name) => ({ label: name, path: `${SHM}/${name}` }));
  for (const p of proc.snapshot({ maps: false })) {
    for (const { fd, target } of p.fds) {
      if (target.startsWith('/memfd:')) list.push({ label: `${p.pid}:${fd}`, path: `/proc/${p.pid}/fd/${fd}` });
    }
  }
  return list;
}

/**
 * One sample of every Channel: a Map from its label to { channel (decoded),
 * locks (of its file), at (ms) }. A memfd several processes hold is sampled
 * once, under its first holder. Damaged Channels are kept (reported as
 * such); objects that vanish or refuse are skipped.
 */
function sample() {
  const found = new Map();
  const seen = new Set();
  for (const { label, path } of places()) {
    let fd;
    try {
      fd = proc.openRegular(path);
    } catch {
      continue;
    }
    if (fd === null) continue;
    try {
      const st = fs.fstatSync(fd);
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const channel = readChannel(fd, st.size);
      if (channel.kind === 'channel') found.set(label, { channel, locks: lockedBytes(st), at: performance.now() });
    } catch {
      // Truncated or removed while read: not a Channel this time.
    } finally {
      fs.closeSync(fd);
    }
  }
  return found;
}

/** A byte rate for humans: 512 B/s, 1.5 KiB/s, 20.0 MiB/s. */
function rate(bytesPerSecond) {
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
  let value = bytesPerSecond;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The rows of one frame: for each Channel of `now` (and its sample in
 * `before`), one row per lane; a damaged Channel gets one row saying why.
 */
function rows(before, now) {
  const out = [];
  for (const [name, { channel: c, locks, at }] of now) {
    if (!c.valid || c.lane.length === 0) {
      out.push([name, '-', 'DAMAGED', '-', '-', '-', '-', '-', c.problems[0] ?? '']);
      continue;
    }
    const prev = before.get(name);
    const consumer = covers(locks, 0)
      ? c.sleeping.futex || c.sleeping.doorbell ? 'sleeping' : 'awake'
      : 'detached';
    for (const lane of c.lane) {
      const old = prev?.channel.lane?.[lane.index];
      let speed = '-';
      let messages = '-';
      if (old !== undefined && prev.channel.valid && at > prev.at) {
        const moved = Number(BigInt(lane.tail) - BigInt(old.tail));
        speed = moved >= 0 ? rate((moved * 1000) / (at - prev.at)) : 'reset';
        const sent = lane.messages - old.messages + ((lane.boxSeq - old.boxSeq) >>> 0);
        messages = sent >= 0 ? String(Math.round((sent * 1000) / (at - prev.at))) : 'reset';
      }
      const attached = covers(locks, decode.laneLockByte(lane.index));
      const producer = lane.producer === 'active' && !attached ? 'active, DIED' : lane.producer;
      out.push([lane.index === 0 ? name : '', lane.index, producer, attached ? 'yes' : 'no', messages, speed, lane.depth,
        lane.index === 0 ? consumer : '', lane.deaths > 0 ? `${lane.deaths} death(s)` : '']);
    }
  }
  return out;
}

/** The text of one frame: a title, the table, and what cannot be shown. */
function frame(before, now, intervalMs) {
  const headers = ['CHANNEL', 'LANE', 'PRODUCER', 'ATTACHED', 'MSGS/S', 'BYTES/S', 'DEPTH', 'CONSUMER', 'NOTE'];
  const body = rows(before, now);
  const columns = headers.map((header, i) => ({ key: header, header, get: (row) => row[i] }));
  const lines = format.table(body, columns).trimEnd().split('\n');
  return [
    `posix-ipc top: ${now.size} Channel(s) (${SHM}, and memfds as PID:FD), sampled every ${intervalMs} ms`,
    '',
    ...(body.length > 0 ? lines : ['(no Channels)']),
  ].join('\n');
}

/** Resolves after `ms`. */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The --interval value in ms (else a UsageError). */
function parseInterval(text) {
  if (text === undefined) return 1000;
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 50 || ms > 3_600_000) {
    throw new format.UsageError(`--interval must be a whole number of ms, 50 to 3600000, not '${text}'`);
  }
  return ms;
}

/**
 * Redraws a frame every `intervalMs` on `stdout` until `q` or Ctrl-C (raw
 * mode stdin when it is a terminal; SIGINT otherwise), then restores the
 * terminal: the normal screen, the cursor, cooked mode.
 */
function live(stdout, intervalMs) {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  return new Promise((resolve) => {
    let before = sample();
    let timer = null;
    const quit = () => {
      clearTimeout(timer);
      stdin.off('data', onKey);
      process.off('SIGINT', quit);
      process.off('SIGTERM', quit);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      stdout.write('\x1b[?25h\x1b[?1049l');
      resolve(0);
    };
    const onKey = (key) => {
      const text = key.toString();
      if (text.includes('q') || text.includes('Q') || text.includes('\x03')) quit();
    };
    const tick = () => {
      const now = sample();
      const lines = frame(before, now, intervalMs).split('\n');
      stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\nq: quit\x1b[K\x1b[J`);
      before = now;
      timer = setTimeout(tick, intervalMs);
    };
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    process.on('SIGINT', quit);
    process.on('SIGTERM', quit);
    stdout.write('\x1b[?1049h\x1b[?25l\x1b[2J');
    timer = setTimeout(tick, 0);
  });
}

/** Runs `top`: one frame with --once, else the live view; 2 on a bad --interval. */
async function run({ values, stdout }) {
  const intervalMs = parseInterval(values.interval);
  if (values.once) {
    const before = sample();
    await sleep(intervalMs);
    stdout.write(`${frame(before, sample(), intervalMs)}\n`);
    return 0;
  }
  return live(stdout, intervalMs);
}

module.exports = { usage, options, positionals, run };

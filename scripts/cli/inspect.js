'use strict';
// `posix-ipc inspect <name|path>`: finds one IPC object (a /dev/shm name, a
// named semaphore, a message queue, a path, or a descriptor a process holds)
// and prints what its bytes and the kernel say about it: a Channel's header
// and lanes, a Mutex at an offset, a semaphore's value, a queue's attributes,
// and any object's size, mode, owner and holders. Bytes are decoded by
// ./decode.js, which reports foreign or damaged ones instead of trusting them.

const fs = require('node:fs');
const path = require('node:path');
const decode = require('./decode');
const format = require('./format');
const proc = require('./proc');

const usage = `Usage: posix-ipc inspect <name|path> [--offset N] [--json]

Decodes one IPC object and prints what it knows of it:
  a Channel            its header (version, lanes, capacity), each lane's head,
                       tail, depth and producer state, whether a producer and
                       the consumer are attached (their kernel locks), deaths,
                       and who sleeps
  a Mutex              at --offset N of a segment (or of a named Mutex's own
                       file, offset 0): its state and owner pid/tid
  a semaphore          its value and whether anybody waits
  a message queue      its depth and attributes, and the system's limits
  anything else        its size, mode, owner and the processes holding it

The object, by name or path:
  jobs, /jobs          /dev/shm/jobs (shared memory, a Channel, a Mutex)
  sem.jobs             the named semaphore /jobs (/dev/shm/sem.jobs)
  jobs, /jobs          the message queue /jobs, when /dev/shm has no such name
  ./file, /a/b         any file (a path with a slash past the first)
  PID:FD               descriptor FD of process PID (a memfd, say)

Options:
  --offset N           Decode the Mutex record at byte N (a multiple of 8)
  --json               Print one JSON object instead of text
  --help, -h           Show this text

Exit status: 0 decoded (foreign or damaged bytes are reported, not an
error), 1 the object does not exist or cannot be read, 2 a usage error.
`;

const options = {
  offset: { type: 'string' },
  json: { type: 'boolean' },
};

const positionals = { min: 1, max: 1 };

/**
 * Where `target` names an object: { type: 'file', path, label } or
 * { type: 'queue', name }, or null when nothing by that name exists.
 */
function locate(target) {
  const fd = /^(\d+):(\d+)$/.exec(target);
  if (fd !== null) {
    const at = `/proc/${fd[1]}/fd/${fd[2]}`;
    return exists(at) ? { type: 'file', path: at, label: `${target} (${readlink(at)})` } : null;
  }
  const bare = target.startsWith('/') ? target.slice(1) : target;
  const explicitPath = target.startsWith('.') || bare.includes('/');
  if (explicitPath) return exists(target) ? { type: 'file', path: path.resolve(target), label: target } : null;
  if (bare !== '' && exists(`/dev/shm/${bare}`)) return { type: 'file', path: `/dev/shm/${bare}`, label: `/dev/shm/${bare}` };
  return bare === '' ? null : { type: 'queue', name: `/${bare}` };
}

/** Whether `at` can be stat'ed (following links, as /proc/<pid>/fd/<n> needs). */
function exists(at) {
  try {
    fs.statSync(at);
    return true;
  } catch {
    return false;
  }
}

/** The target of the link `at`, or '?'. */
function readlink(at) {
  try {
    return fs.readlinkSync(at);
  } catch {
    return '?';
  }
}

/** The offset given with --offset: a non-negative multiple of 8 (else a UsageError). */
function parseOffset(text) {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) % 8 !== 0) {
    throw new format.UsageError(`--offset must be a non-negative multiple of 8, not '${text}'`);
  }
  return Number(text);
}

/** At most `length` bytes of `fd` from `position` (fewer at the end of the object). */
function readAt(fd, length, position) {
  const bytes = Buffer.alloc(length);
  const got = fs.readSync(fd, bytes, 0, length, position);
  return bytes.subarray(0, got);
}

/**
 * The Channel in the object open at `fd` of `size` bytes, decoded: the
 * header first, and the lanes only once the header's geometry checks out
 * against `size` (so a damaged lane count never sizes a read).
 */
function readChannel(fd, size) {
  const header = decode.decodeChannel(readAt(fd, decode.RING.HEADER_SIZE, 0), size);
  if (header.kind !== 'channel' || !header.valid) return header;
  return decode.decodeChannel(readAt(fd, decode.laneBytes(header), 0), size);
}

/**
 * The locks on the file of `st`, from /proc/locks (proc.locks()) or from
 * `list` (the locks of one open file description, proc.fdLocks()).
 */
function lockedBytes(st, list = proc.locks()) {
  const dev = proc.devString(st.dev);
  return list.filter((l) => l.dev === dev && l.inode === st.ino);
}

/** Whether one of `locks` (held, not waited for) covers `byte`. */
function covers(locks, byte) {
  return locks.some((l) => !l.blocked && l.start <= byte && byte <= l.end);
}

/** The text of `file`, or '' when it cannot be read. */
function readText(file) {
  return proc.tolerant(() => fs.readFileSync(file, 'utf8'), '');
}

/**
 * The processes holding the file of `st`, this one left out: [{ pid,
 * command, fd, locks }], one per descriptor (locks: those its open file
 * description holds) and one with fd null per process that only maps it (a
 * named semaphore or a Mutex keeps no descriptor).
 */
function holdersOf(st) {
  const dev = proc.devString(st.dev);
  const holders = [];
  for (const p of proc.snapshot({ maps: true })) {
    if (p.pid === process.pid) continue;
    let held = false;
    for (const { fd, target } of p.fds) {
      if (!target.startsWith('/')) continue;
      const other = proc.statFd(p.pid, fd);
      if (other === null || other.dev !== st.dev || other.ino !== st.ino) continue;
      holders.push({ pid: p.pid, command: p.command, fd, locks: lockedBytes(st, proc.fdLocks(p.pid, fd)) });
      held = true;
    }
    if (!held && p.maps.some((m) => m.dev === dev && m.inode === st.ino)) {
      holders.push({ pid: p.pid, command: p.command, fd: null, locks: [] });
    }
  }
  return holders;
}

/** Who holds byte `byte` of the file: the holders whose open file description locks it. */
function lockers(holders, byte) {
  return holders.filter((h) => covers(h.locks, byte)).map((h) => h.pid);
}

/**
 * Adds to a decoded Channel what the kernel attests: which lane locks and
 * the consumer lock are held (ring.h: each side holds an OFD lock on one
 * byte while attached) and by which holders, and whether each producer lives.
 */
function attest(channel, st, holders) {
  const locks = lockedBytes(st);
  channel.consumerAttached = covers(locks, 0);
  channel.consumerPids = lockers(holders, 0);
  for (const lane of channel.lane) {
    const byte = decode.laneLockByte(lane.index);
    lane.producerAttached = covers(locks, byte);
    lane.producerPids = lockers(holders, byte);
    // ACTIVE with nobody holding the lane's lock: the producer died unreported.
    lane.producerLives = lane.producer === 'active' ? lane.producerAttached : null;
  }
  channel.notes = [
    'the header records no pids: a side is attached while it holds its OFD lock (kernel-attested); ' +
      'pids come from the holders whose open file holds that lock',
    'sent: messages producers committed to the ring plus the mailbox sequence; head and tail count bytes',
  ];
}

/** The mode, owner and size of `st`, for a report. */
function fileFacts(st) {
  return {
    size: st.size,
    mode: format.mode(st.mode),
    uid: st.uid,
    gid: st.gid,
    owner: proc.userName(st.uid),
  };
}

/** The Mutex record at `offset` of the object open at `fd` of `size` bytes, decoded, with its owner's liveness. */
function readMutex(fd, size, offset) {
  if (offset + decode.MUTEX_RECORD_SIZE > size) {
    return { kind: 'unknown', problems: [`offset ${offset} leaves fewer than ${decode.MUTEX_RECORD_SIZE} bytes`] };
  }
  const mutex = decode.decodeMutex(readAt(fd, decode.MUTEX_RECORD_SIZE, offset));
  if (mutex.kind === 'mutex') mutex.ownerAlive = mutex.ownerPid !== null && proc.alive(mutex.ownerPid);
  return mutex;
}

/**
 * What the regular file open at `fd` holds: a Mutex at `offset` when one is
 * given; a semaphore for /dev/shm/sem.*; else a Channel, a Mutex (a named
 * Mutex's file, offset 0), or unknown bytes (their first 16 in hex).
 */
function decodeFile(fd, st, file, offset, holders) {
  if (offset !== undefined) return readMutex(fd, st.size, offset);
  if (file.startsWith('/dev/shm/sem.')) return decode.decodeSemaphore(readAt(fd, decode.SEM_SIZE, 0), st.size);
  const channel = readChannel(fd, st.size);
  if (channel.kind === 'channel') {
    if (channel.lane?.length > 0) attest(channel, st, holders);
    return channel;
  }
  const mutex = readMutex(fd, st.size, 0);
  return mutex.kind === 'mutex' ? mutex : { kind: 'unknown', firstBytes: readAt(fd, 16, 0).toString('hex') };
}

/**
 * Decodes the object at `where.path` (a Mutex when `offset` is given) into a
 * report: { target, path, size, mode, owner, holders, object }. Only a
 * regular file is opened (proc.openRegular): not a FIFO (its open would wait
 * for a writer), a socket, a device, nor a symbolic link outside /proc.
 */
function inspectFile(where, offset) {
  const fd = proc.openRegular(where.path);
  if (fd === null) {
    const seen = proc.statAsOpened(where.path);
    const kind = seen.isFIFO() ? 'fifo' : seen.isSocket() ? 'socket' : seen.isSymbolicLink() ? 'symlink' : 'other';
    return { target: where.label, path: where.path, ...fileFacts(seen), holders: holdersOf(seen), object: { kind } };
  }
  try {
    const st = fs.fstatSync(fd);
    const holders = holdersOf(st);
    const object = decodeFile(fd, st, where.path, offset, holders);
    return { target: where.label, path: where.path, ...fileFacts(st), holders, offset, object };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A message queue's report: its attributes (mq_getattr, through the
 * library), its mqueue file text when a mount shows it, and the limits of
 * /proc/sys/fs/mqueue.
 */
function inspectQueue(name) {
  const { MessageQueue } = require('../../dist');
  const queue = MessageQueue.open(name, { access: 'read' });
  let attributes;
  try {
    attributes = queue.attributes;
  } finally {
    queue.close();
  }
  const text = readText(`/dev/mqueue${name}`);
  const limits = {};
  for (const file of ['msg_max', 'msgsize_max', 'queues_max']) {
    const value = readText(`/proc/sys/fs/mqueue/${file}`).trim();
    limits[file] = value === '' ? null : Number(value);
  }
  return {
    target: name,
    object: {
      kind: 'queue',
      depth: attributes.currentMessages,
      maxMessages: attributes.maxMessages,
      messageSize: attributes.messageSize,
      file: text === '' ? null : decode.decodeQueueText(text),
      limits,
    },
  };
}

/** `rows` (arrays of cells) as a format.table() under `headers`, each line indented by two spaces. */
function table(headers, rows) {
  const columns = headers.map((header, i) => ({ key: header, header, get: (row) => row[i] }));
  return format.table(rows, columns).split('\n').map((line) => (line === '' ? '' : `  ${line}`)).join('\n');
}

/** "pid command" for each of `holders`, or 'none' (each command made printable: another user chose it). */
function holderList(holders) {
  if (holders.length === 0) return ' none\n';
  const line = (h) => `    ${h.pid} (${h.fd === null ? 'mapped' : `fd ${h.fd}`}) ${format.printable(h.command)}\n`;
  return `\n${holders.map(line).join('')}`;
}

/** The lines describing a decoded Channel. */
function describeChannel(c) {
  if (!c.valid && !(c.lane?.length > 0)) {
    return `Channel header (magic ${decode.RING.MAGIC.toString(16)}), DAMAGED or foreign: nothing past it was read\n` +
      c.problems.map((p) => `  problem: ${p}\n`).join('');
  }
  const sleeping = [c.sleeping.futex && 'on its futex', c.sleeping.doorbell && 'on its doorbell'].filter(Boolean);
  let out = `Channel version ${c.version}: ${c.lanes} lane(s) of ${c.capacity} bytes\n` +
    `  consumer: ${c.consumer} (generation ${c.consumerGeneration}), ` +
    `${c.consumerAttached ? `attached${c.consumerPids.length ? ` (pid ${c.consumerPids.join(', ')})` : ''}` : 'not attached'}, ` +
    `${sleeping.length ? `sleeping ${sleeping.join(' and ')}` : 'not sleeping'}\n`;
  out += table(['lane', 'producer', 'lives', 'pid', 'sent', 'head', 'tail', 'depth', 'mailbox', 'deaths', 'waits'],
    c.lane.map((l) => [l.index, `${l.producer}/${l.generation}`,
      l.producerLives === null ? '-' : l.producerLives ? 'yes' : 'NO (died)', l.producerPids.join(',') || '-',
      l.messages + l.boxSeq, l.head, l.tail, l.depth, l.mailbox === null ? '-' : `${l.mailbox} B`, l.deaths,
      l.producerWaitsForSpace ? 'for space' : '-']));
  out += c.problems.map((p) => `  problem: ${p}\n`).join('');
  out += c.notes.map((n) => `  note: ${n}\n`).join('');
  return out;
}

/** The lines describing a decoded Mutex. */
function describeMutex(m, offset) {
  const owner = m.ownerPid === null ? 'none recorded'
    : `pid ${m.ownerPid} (${m.ownerAlive ? 'alive' : 'dead'})${m.ownerTid !== null ? `, tid ${m.ownerTid}` : ''}`;
  return `Mutex at offset ${offset ?? 0}: ${m.state}\n` +
    `  owner: ${owner}${m.state === 'unlocked' ? ' (the last to lock it)' : ''}\n` +
    `  waiters: ${m.waiters ? 'somebody sleeps on it (FUTEX_WAITERS; glibc records no waiter pids)' : 'none flagged'}\n`;
}

/**
 * The text report of `inspect`. Each value another user or process chose (a
 * name, a link target, a user name, a command line) is made printable on its
 * own as the text is composed: a newline in it must not start a line of its own.
 */
function describe(r) {
  const o = r.object;
  let out = `${format.printable(r.target)}\n`;
  if (r.path !== undefined) {
    const owner = format.printable(String(r.owner));
    out += `  size ${r.size} bytes, mode ${r.mode}, owner ${owner} (${r.uid})\n  holders:${holderList(r.holders)}`;
  }
  if (o.kind === 'channel') out += describeChannel(o);
  else if (o.kind === 'mutex') out += describeMutex(o, r.offset);
  else if (o.kind === 'semaphore') {
    out += `Semaphore: value ${o.value}, ${o.waiters} waiter(s), ${o.shared ? 'process-shared' : 'process-private'}\n`;
  } else if (o.kind === 'queue') {
    out += `Message queue: ${o.depth} message(s) queued of ${o.maxMessages}, messages up to ${o.messageSize} bytes\n`;
    out += o.file === null ? '  (no mqueue mount shows its file: QSIZE/NOTIFY not read)\n'
      : `  ${o.file.bytes} bytes queued; notify ${o.file.notify}, signal ${o.file.signo}, notify pid ${o.file.notifyPid}\n`;
    out += `  limits: msg_max ${o.limits.msg_max}, msgsize_max ${o.limits.msgsize_max}, queues_max ${o.limits.queues_max}\n`;
  } else if (o.kind === 'unknown') {
    out += `Not an object this package knows${o.firstBytes ? ` (first bytes ${o.firstBytes})` : ''}\n`;
  } else {
    out += `A ${o.kind}\n`;
  }
  if (o.kind !== 'channel') out += (o.problems ?? []).map((p) => `  problem: ${p}\n`).join('');
  return out;
}

/** Runs `inspect`: 0 decoded, 1 no such object or unreadable, 2 a bad --offset. */
async function run({ values, positionals: args, stdout, stderr }) {
  const offset = parseOffset(values.offset);
  const target = args[0];
  const where = locate(target);
  if (where === null) {
    stderr.write(`posix-ipc inspect: '${format.printable(target)}' does not exist (no such name in /dev/shm, queue, path or PID:FD)\n`);
    return 1;
  }
  if (where.type === 'queue' && offset !== undefined) {
    throw new format.UsageError('--offset applies to shared memory, not to a message queue');
  }
  let report;
  try {
    report = where.type === 'queue' ? inspectQueue(where.name) : inspectFile(where, offset);
  } catch (err) {
    const why = err?.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${err?.message ?? err}`;
    stderr.write(`posix-ipc inspect: ${format.printable(`'${target}' ${why}`)}\n`);
    return 1;
  }
  if (values.json) format.writeJson(stdout, report);
  else stdout.write(describe(report));
  return 0;
}

module.exports = { usage, options, positionals, run, readChannel, lockedBytes, covers };

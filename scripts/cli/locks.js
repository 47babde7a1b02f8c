'use strict';
// `posix-ipc locks`: the wait-for graph of posix-ipc's Mutexes, Semaphores and
// file locks, from the records waiters keep (lib/internal/wait-record.ts), the
// mutexes' own owner fields and /proc/locks; cycles are flagged as deadlocks.

const fs = require('node:fs');
const path = require('node:path');
const proc = require('./proc');
const { printable, writeJson } = require('./format');
const { decodeMutex } = require('./decode');

const { openRegular, tolerant } = proc;

const usage = `Usage: posix-ipc locks [--json]

Shows who waits on whom: every process blocked on a posix-ipc Mutex,
Semaphore or file lock (lockFile), what it waits for, and who holds that.
glibc records a mutex's owner but no waiters, and a polled file lock never
shows as blocked in /proc/locks, so each waiting process of posix-ipc keeps
records of its waits in a memfd of its own (it dies with the process: a dead
waiter leaves no record). Holders come from the mutex itself (its owner
thread) and from /proc/locks. A cycle of waits is flagged as DEADLOCK.
Only processes this user may inspect are seen (all of them as root).

Options:
  --json       Print { nodes, edges, cycles } as JSON
  --help, -h   Show this text

Exit status: 0 when the graph was read, deadlock or not (a deadlock found
is not a failure of this command), 1 when it could not be read.
`;

const options = { json: { type: 'boolean' } };
const positionals = { min: 0, max: 0 };

/** The record parser, from the built package (dist/). */
function records() {
  return require(path.join(__dirname, '..', '..', 'dist', 'internal', 'wait-record.js'));
}

// ---- /proc (through proc.js) ----

/** A process's command line for people: the program and scripts by their base names ("node a.js"). */
function command(pid) {
  const args = (proc.processInfo(pid)?.command ?? '?').split(' ');
  const text = args.map((a, i) => (i === 0 || /^\/.*\.[cm]?js$/.test(a) ? path.basename(a) : a)).join(' ');
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** Whether `tid` is a live thread of process `pid`. */
function threadOf(pid, tid) {
  return tolerant(() => fs.statSync(`/proc/${pid}/task/${tid}`).isDirectory(), false);
}

/** The "dev:ino" key of what a path (or /proc/PID/fd/N) names, or null. */
function keyOf(file) {
  const st = tolerant(() => fs.statSync(file, { bigint: true }), null);
  return st === null ? null : `${st.dev}:${st.ino}`;
}

// ---- the waiters' records ----


/** Every valid record of every process: a record counts only in its own process, from a live thread. */
function readRecords(procs) {
  const { parseWaitRecords, FILE_SIZE, MEMFD_NAME } = records();
  // Only the wait-record memfd (its own name): an anonymous SharedMemory (memfd "posix-ipc") is shared with peers,
  // who could write well-formed records into it for its holder.
  const memfd = `/memfd:${MEMFD_NAME} (deleted)`;
  const out = [];
  for (const { pid, fds: open } of procs) {
    for (const { fd, target } of open) {
      if (target !== memfd) continue;
      const file = `/proc/${pid}/fd/${fd}`;
      const read = () => tolerant(() => readAtMost(file, FILE_SIZE), null);
      const first = read();
      const second = first === null ? null : read();
      if (second === null) continue;
      const found = parseWaitRecords(first, second) ?? [];
      for (const r of found) if (r.pid === pid && threadOf(pid, r.tid)) out.push(r);
    }
  }
  return out;
}

/** Up to `max` bytes from the start of `file` (never trusting its size). */
function readAtMost(file, max) {
  const fd = openRegular(file);
  if (fd === null) return null;
  try {
    const buffer = Buffer.alloc(max);
    let got = 0;
    while (got < max) {
      const n = fs.readSync(fd, buffer, got, max - got, got);
      if (n === 0) break;
      got += n;
    }
    return buffer.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- holders ----

/** Where to read an object with key `key`: /dev/shm/<name> if it is that object, else any descriptor of it. */
function locate(key, name, procs) {
  if (name !== '' && !name.slice(1).includes('/')) {
    const shm = `/dev/shm/${name.slice(1)}`;
    if (keyOf(shm) === key) return shm;
  }
  for (const { pid, fds: open } of procs) {
    for (const { fd, target } of open) {
      if (!target.startsWith('/dev/shm/') && !target.startsWith('/memfd:')) continue;
      const file = `/proc/${pid}/fd/${fd}`;
      if (keyOf(file) === key) return file;
    }
  }
  return null;
}

/**
 * Who holds the Mutex at `offset` of `file`, from its own bytes (read once,
 * decoded by decode.js): the lock word's owner tid and the pid its holder
 * recorded, believed only when that tid is a live thread of that pid. Null
 * when free or unknown; `{ pid: null }` when its owner died holding it.
 */
function mutexHolder(file, offset) {
  const bytes = tolerant(() => {
    const fd = openRegular(file);
    if (fd === null) return null;
    try {
      const b = Buffer.alloc(64);
      return fs.readSync(fd, b, 0, 64, offset) === 64 ? b : null;
    } finally {
      fs.closeSync(fd);
    }
  }, null);
  const m = bytes === null ? null : decodeMutex(bytes);
  if (m === null || m.kind !== 'mutex' || m.ownerTid === null) return m?.state === 'owner died' ? { pid: null } : null;
  const tid = m.ownerTid;
  if (m.ownerPid !== null && threadOf(m.ownerPid, tid)) return { pid: m.ownerPid, tid };
  // Not recorded yet (or scribbled): the tid's own process, if it lives.
  const status = tolerant(() => fs.readFileSync(`/proc/${tid}/status`, 'latin1'), '');
  const tgid = Number(/^Tgid:\s+(\d+)$/m.exec(status)?.[1]);
  return tgid > 0 && threadOf(tgid, tid) ? { pid: tgid, tid } : null;
}

/** A record's file as /proc/locks names it ("MM:mm:ino", dev in hex: proc.devString), or '' when it names none. */
function procLockKey(r) {
  if (r.key === '') return '';
  const [dev, ino] = r.key.split(':');
  return `${proc.devString(dev)}:${ino}`;
}

/**
 * The file locks held (waiters, "->", left out), each with its holder pids: a
 * POSIX lock names its pid in /proc/locks; an OFD lock says -1 there, so its
 * holders are the processes whose descriptor shows it (fdinfo "lock:" lines).
 */
function fileLocks(procs) {
  const lock = (l, holders) => ({ ...l, family: l.type === 'FLOCK' ? 'flock' : 'fcntl', write: l.access === 'WRITE',
    key: `${l.dev}:${l.inode}`, holders });
  const held = proc.locks().filter((l) => l.pid > 0 && !l.blocked).map((l) => lock(l, [l.pid]));
  for (const { pid, fds: open } of procs) {
    for (const { fd, target } of open) {
      if (!target.startsWith('/')) continue;
      for (const l of proc.fdLocks(pid, fd)) if (l.pid <= 0 && !l.blocked) held.push(lock(l, [pid]));
    }
  }
  return held;
}

/** Whether held lock `l` blocks record `r`'s request (same family, overlapping range, one of them exclusive). */
function blocks(l, r) {
  if (l.key !== procLockKey(r) || (l.family === 'flock') !== (r.lockKind === 'flock')) return false;
  if (!l.write && !r.exclusive) return false;
  const end = r.length === 0 ? Infinity : r.offset + r.length - 1;
  return l.start <= end && r.offset <= l.end;
}

// ---- the graph ----

/** The node id and label of the object a record names. */
function objectOf(r) {
  const where = r.key === '' ? `name:${r.name}` : r.key;
  const id = `${r.kind}:${where}@${r.offset}${r.kind === 'file-lock' ? `+${r.length}` : ''}`;
  const name = r.name !== '' ? r.name : `inode ${r.key}`;
  if (r.kind === 'file-lock') {
    const range = r.offset === 0 && r.length === 0 ? '' : ` bytes ${r.offset}..${r.length === 0 ? 'EOF' : r.offset + r.length - 1}`;
    return { id, kind: r.kind, name, offset: r.offset, length: r.length, lockKind: r.lockKind,
      label: `${r.lockKind} lock ${name}${range}` };
  }
  return { id, kind: r.kind, name, offset: r.offset, label: `${r.kind} ${name}${r.offset > 0 ? `@${r.offset}` : ''}` };
}

/** Builds { nodes, edges, cycles } from the processes' records and the holders found. */
function graph(procs) {
  const recs = readRecords(procs);
  const nodes = new Map();
  const edges = [];
  const proc = (pid) => {
    const id = `pid:${pid}`;
    if (!nodes.has(id)) nodes.set(id, { id, type: 'process', pid, command: command(pid) });
    return id;
  };
  const locks = recs.some((r) => r.kind === 'file-lock') ? fileLocks(procs) : [];
  const seen = new Set();
  for (const r of recs) {
    const object = objectOf(r);
    if (!nodes.has(object.id)) nodes.set(object.id, { type: 'object', ...object });
    edges.push({ from: proc(r.pid), to: object.id, type: r.state === 'waiting' ? 'waits' : 'holds', tid: r.tid,
      since: new Date(r.since).toISOString() });
    if (seen.has(object.id)) continue;
    seen.add(object.id);
    for (const holder of holdersOf(r, object, procs, locks)) {
      if (holder.pid === null) {
        nodes.get(object.id).ownerDied = true;
        continue;
      }
      if (edges.some((e) => e.type === 'holds' && e.to === object.id && e.from === `pid:${holder.pid}`)) continue;
      edges.push({ from: proc(holder.pid), to: object.id, type: 'holds', ...(holder.tid && { tid: holder.tid }) });
    }
  }
  return { nodes: [...nodes.values()], edges, cycles: cycles(edges) };
}

/** Who holds the object of record `r`: [{ pid, tid? }] (pid null: the owner died holding it). */
function holdersOf(r, object, procs, locks) {
  if (r.kind === 'mutex' && r.key !== '') {
    const file = locate(r.key, r.name, procs);
    const holder = file === null ? null : mutexHolder(file, r.offset);
    return holder === null ? [] : [holder];
  }
  if (r.kind === 'file-lock') {
    const pids = locks.filter((l) => blocks(l, r)).flatMap((l) => l.holders).filter((p) => p !== r.pid);
    return [...new Set(pids)].map((pid) => ({ pid }));
  }
  return []; // A semaphore has no owner: only its waiters show.
}

/** The most cycles listed, and the most steps spent looking for them: hostile records could tie many objects. */
const MAX_CYCLES = 100;
const MAX_STEPS = 100_000;

/**
 * The cycles of the wait-for graph: process P waits for an object that
 * process Q holds. Each cycle once, as node ids [P, object, Q, object, ...],
 * starting at its smallest pid; at most {@link MAX_CYCLES}. Two processes are
 * tied by one edge, through the first object found between them: records
 * (which any process writes for itself) could tie them through thousands of
 * objects, and each combination would be a cycle of its own.
 */
function cycles(edges) {
  const holdersOf = new Map(); // object id -> [pid id]
  for (const h of edges.filter((e) => e.type === 'holds')) {
    if (!holdersOf.has(h.to)) holdersOf.set(h.to, []);
    holdersOf.get(h.to).push(h.from);
  }
  const next = new Map(); // pid id -> Map(pid id -> object id)
  for (const w of edges.filter((e) => e.type === 'waits')) {
    for (const holder of holdersOf.get(w.to) ?? []) {
      if (holder === w.from) continue;
      if (!next.has(w.from)) next.set(w.from, new Map());
      if (!next.get(w.from).has(holder)) next.get(w.from).set(holder, w.to);
    }
  }
  const num = (id) => Number(id.slice(4));
  const found = [];
  let steps = 0;
  const walk = (start, at, trail, visited) => {
    for (const [to, object] of next.get(at) ?? []) {
      if (found.length >= MAX_CYCLES || ++steps > MAX_STEPS) return;
      if (to === start) found.push([...trail, object]);
      else if (num(to) > num(start) && !visited.has(to)) {
        visited.add(to);
        walk(start, to, [...trail, object, to], visited);
        visited.delete(to);
      }
    }
  };
  for (const start of [...next.keys()].sort((a, b) => num(a) - num(b))) walk(start, start, [start], new Set([start]));
  return found;
}

// ---- drawing ----

/** How long ago an ISO time was, for people. */
function ago(iso) {
  const ms = Math.max(0, Date.now() - Date.parse(iso));
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

/**
 * The graph as lines of text: one per process, then one per cycle. Commands
 * and objects' names are other processes' (an argv, a waiter's record): each
 * is made printable on its own, so that none can start a line.
 */
function draw({ nodes, edges, cycles: found }) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const who = (id) => `pid ${byId.get(id).pid} (${printable(byId.get(id).command)})`;
  const what = (id) => printable(byId.get(id).label);
  const holders = (id) => edges.filter((e) => e.type === 'holds' && e.to === id).map((e) => e.from);
  const lines = [];
  for (const p of nodes.filter((n) => n.type === 'process').sort((a, b) => a.pid - b.pid)) {
    const parts = edges.filter((e) => e.from === p.id && e.type === 'holds').map((e) => `holds ${what(e.to)}`);
    for (const w of edges.filter((e) => e.from === p.id && e.type === 'waits')) {
      const by = holders(w.to).filter((h) => h !== p.id).map(who);
      const held = byId.get(w.to).ownerDied ? ' whose holder died holding it' : by.length > 0 ? ` held by ${by.join(', ')}` : '';
      parts.push(`waits for ${what(w.to)} (for ${ago(w.since)})${held}`);
    }
    lines.push(`${who(p.id)} ${parts.join(', ')}`);
  }
  for (const cycle of found) {
    const steps = [];
    for (let i = 0; i < cycle.length; i += 2) {
      const to = cycle[(i + 2) % cycle.length];
      steps.push(`pid ${byId.get(cycle[i]).pid} waits for ${what(cycle[i + 1])} held by pid ${byId.get(to).pid}`);
    }
    lines.push(`DEADLOCK: ${steps.join('; ')}`);
  }
  if (found.length >= MAX_CYCLES) lines.push(`(the first ${MAX_CYCLES} cycles found; there may be more)`);
  if (lines.length === 0) lines.push('No process waits on a posix-ipc Mutex, Semaphore or file lock.');
  return `${lines.join('\n')}\n`;
}

/** The processes this user may look into, each with its descriptors. */
function processes() {
  return proc.pids().map((pid) => ({ pid, fds: proc.descriptors(pid) })).filter((p) => p.fds.length > 0);
}

async function run({ values, stdout, stderr }) {
  let g;
  try {
    g = graph(processes());
  } catch (err) {
    stderr.write(`posix-ipc locks: ${printable(String(err.message))}\n`);
    return 1;
  }
  if (values.json) writeJson(stdout, g);
  else stdout.write(draw(g));
  return 0;
}

module.exports = { usage, options, positionals, run, graph, cycles, draw, processes, MAX_CYCLES };

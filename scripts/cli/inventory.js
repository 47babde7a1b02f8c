'use strict';
// Builds the inventory of IPC objects that `ls` prints and `rm` checks: one
// pass over /proc (descriptors, shared mappings, locks, Unix sockets) joined
// with /dev/shm and the mqueue filesystem, each object with its holders.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const proc = require('./proc');

// The first word of a Channel segment (include/posix-ipc/ring.h PIPC_RING_MAGIC), little-endian.
const RING_MAGIC = 0x52435049;
const RING_HEADER_SIZE = 256;

// Every kind, in the order ls prints them.
const KINDS = ['channel', 'shm', 'semaphore', 'mqueue', 'memfd', 'fifo', 'socket', 'lock'];

// The prefixes of this package's names (test/helpers.ts uniqueName, the tour's and the library's own).
const PREFIXES = ['pipc-', 'posix-ipc-'];

/** A key for one file: `MM:mm:inode` (dev as /proc/locks and maps print it). */
function keyOf(dev, inode) {
  return `${dev}:${inode}`;
}

/** Whether the first bytes of a file (opened at `file`) are a Channel header's magic; false when unreadable. */
function isChannel(file, size) {
  if (typeof size === 'number' && size < RING_HEADER_SIZE) return false;
  return proc.tolerant(() => {
    const fd = proc.openRegular(file);
    if (fd === null) return false;
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === RING_MAGIC;
    } finally {
      fs.closeSync(fd);
    }
  }, false);
}

/**
 * Every file the processes hold open or map shared, by key: `{ key, target,
 * stat, holders: Map pid -> command, fds: [{ pid, fd }], maps: [{ pid, start, end }] }`.
 * Descriptors of devices (other than /dev/shm), of /proc, and of sockets,
 * pipes and anonymous inodes are not stat'ed (sockets are matched by inode).
 */
function heldFiles(snapshot) {
  const files = new Map();
  const entry = (key, target) => {
    if (!files.has(key)) files.set(key, { key, target, stat: null, holders: new Map(), fds: [], maps: [] });
    return files.get(key);
  };
  for (const p of snapshot) {
    for (const { fd, target } of p.fds) {
      if (!target.startsWith('/') || target.startsWith('/proc/') || (target.startsWith('/dev/') && !target.startsWith('/dev/shm/'))) continue;
      const stat = proc.statFd(p.pid, fd);
      if (stat === null) continue;
      const e = entry(keyOf(proc.devString(stat.dev), stat.ino), target);
      e.stat ??= stat;
      e.holders.set(p.pid, p.command);
      e.fds.push({ pid: p.pid, fd });
    }
    for (const m of p.maps) {
      const e = entry(keyOf(m.dev, m.inode), m.path);
      e.holders.set(p.pid, p.command);
      e.maps.push({ pid: p.pid, start: m.start, end: m.end });
    }
  }
  return files;
}

/** Holders `[{ pid, command }]`, by pid, from a Map pid -> command (this process left out). */
function holderList(map) {
  const others = [...map].filter(([pid]) => pid !== process.pid).sort((a, b) => a[0] - b[0]);
  return others.map(([pid, command]) => ({ pid, command }));
}

/** How a descriptor's target is named in the inventory: `memfd:NAME` for a memfd, else the target. */
function displayName(target) {
  return target.startsWith('/memfd:') ? `memfd:${target.slice(7).replace(/ \(deleted\)$/, '')}` : target;
}

/** One row of the inventory, with every field present (null when unknown). */
function row(kind, name, filePath, stat, holders, extra = {}) {
  return {
    kind,
    name,
    path: filePath,
    size: stat ? stat.size : null,
    mode: stat ? (stat.mode & 0o7777).toString(8).padStart(4, '0') : null,
    uid: stat ? stat.uid : null,
    owner: stat ? proc.userName(stat.uid) : null,
    holders,
    creatorAlive: null,
    ...extra,
  };
}

/** A file a process holds can be opened again through its descriptor or, for a mapping only, /proc/PID/map_files. */
function reopenPath(file) {
  if (file.fds.length > 0) return `/proc/${file.fds[0].pid}/fd/${file.fds[0].fd}`;
  const m = file.maps[0];
  return m ? `/proc/${m.pid}/map_files/${m.start}-${m.end}` : null;
}

/** The objects of /dev/shm: shm segments, Channels and named semaphores (`sem.NAME`). */
function devShm(files, claimed) {
  const rows = [];
  for (const entry of proc.tolerant(() => fs.readdirSync('/dev/shm'), [])) {
    const file = path.join('/dev/shm', entry);
    const stat = proc.tolerant(() => fs.lstatSync(file), null);
    if (stat === null || !stat.isFile()) continue;
    const key = keyOf(proc.devString(stat.dev), stat.ino);
    claimed.add(key);
    const holders = holderList(files.get(key)?.holders ?? new Map());
    if (entry.startsWith('sem.')) rows.push(row('semaphore', `/${entry.slice(4)}`, file, stat, holders));
    else rows.push(row(isChannel(file, stat.size) ? 'channel' : 'shm', `/${entry}`, file, stat, holders, { key }));
  }
  return rows;
}

/**
 * The queues of an mqueue filesystem: `[{ name, stat, qsize }]` from a
 * mounted one (`dir`), or from a private mount made in a private mount
 * namespace (root only). Null when none can be seen.
 */
function mqueueEntries(dir) {
  if (dir) {
    return proc.tolerant(() => fs.readdirSync(dir), []).map((name) => {
      const file = path.join(dir, name);
      const stat = proc.tolerant(() => fs.statSync(file), null);
      const text = proc.tolerant(() => fs.readFileSync(file, 'utf8'), '');
      return { name, file, stat, qsize: Number(/QSIZE:(\d+)/.exec(text)?.[1] ?? NaN) };
    }).filter((q) => q.stat !== null);
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const list = `const fs = require('fs'), path = require('path'); const d = process.argv[1];
    console.log(JSON.stringify(fs.readdirSync(d).map((name) => { const s = fs.statSync(path.join(d, name));
    return { name, dev: s.dev, ino: s.ino, mode: s.mode, uid: s.uid, text: fs.readFileSync(path.join(d, name), 'utf8') }; })));`;
  const script = 'd=$(mktemp -d) && mount -t mqueue none "$d" && "$0" -e "$1" "$d"; s=$?; umount "$d" 2>/dev/null; rmdir "$d"; exit $s';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, list], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout).map((q) => ({
    name: q.name,
    file: null,
    stat: { dev: q.dev, ino: q.ino, mode: q.mode, uid: q.uid, size: Number(/QSIZE:(\d+)/.exec(q.text)?.[1] ?? NaN) },
    qsize: Number(/QSIZE:(\d+)/.exec(q.text)?.[1] ?? NaN),
  }));
}

/** The message queues (rows), and whether they could be seen at all. */
function mqueues(files, claimed) {
  const mount = proc.mounts().find((m) => m.fsType === 'mqueue');
  const entries = mqueueEntries(mount?.mountPoint);
  if (entries === null) return { rows: [], visible: false };
  const rows = entries.map((q) => {
    const key = keyOf(proc.devString(q.stat.dev), q.stat.ino);
    claimed.add(key);
    const stat = { ...q.stat, size: q.qsize };
    return row('mqueue', `/${q.name}`, q.file, stat, holderList(files.get(key)?.holders ?? new Map()));
  });
  return { rows, visible: true };
}

/**
 * What the processes hold that no directory listed: memfds (and Channels in
 * them), unlinked shm segments, FIFOs, and queues when no mqueue filesystem
 * could be listed (a descriptor's target `/NAME` that is no file of `/`).
 */
function heldOnly(files, claimed, queuesVisible) {
  const rows = [];
  for (const file of files.values()) {
    if (claimed.has(file.key)) continue;
    const t = file.target;
    const stat = file.stat ?? proc.tolerant(() => fs.statSync(reopenPath(file)), null);
    const holders = holderList(file.holders);
    if (holders.length === 0) continue;
    if (t.startsWith('/memfd:')) {
      const name = displayName(t);
      const kind = isChannel(reopenPath(file), stat?.size) ? 'channel' : 'memfd';
      rows.push(row(kind, name, reopenPath(file), stat, holders, { key: file.key }));
    } else if (t.startsWith('/dev/shm/') && t.endsWith(' (deleted)')) {
      // An unlinked segment, or a semaphore glibc's sem_open is still making (sem.XXXXXX, linked next).
      const entry = t.slice(9);
      const kind = entry.startsWith('sem.') ? 'semaphore' : 'shm';
      rows.push(row(kind, `/${kind === 'semaphore' ? entry.slice(4) : entry}`, reopenPath(file), stat, holders, { key: file.key }));
    } else if (stat?.isFIFO?.()) {
      rows.push(row('fifo', t, t, stat, holders));
    } else if (!queuesVisible && /^\/[^/]+$/.test(t) && file.fds.length > 0 && !fs.existsSync(t)) {
      rows.push(row('mqueue', t, null, stat, holders));
    }
  }
  return rows;
}

/** The bound Unix sockets (by path or abstract name), each with the processes holding it. */
function sockets(snapshot) {
  const byInode = new Map();
  for (const p of snapshot) {
    for (const { target } of p.fds) {
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m) continue;
      if (!byInode.has(m[1])) byInode.set(m[1], new Map());
      byInode.get(m[1]).set(p.pid, p.command);
    }
  }
  const rows = [];
  for (const s of proc.unixSockets()) {
    if (s.path === null) continue;
    const stat = s.path.startsWith('/') ? proc.tolerant(() => fs.lstatSync(s.path), null) : null;
    const holders = holderList(byInode.get(String(s.inode)) ?? new Map());
    const socket = { type: s.type, listening: s.listening, inode: s.inode };
    const r = row('socket', s.path, s.path.startsWith('/') ? s.path : null, stat, holders, { socket });
    r.size = null;
    rows.push(r);
  }
  return rows;
}

/**
 * The file locks of /proc/locks, each named by a path a holder has open when
 * there is one (else `dev:inode`). An OFD lock records no pid: its holders are
 * the processes with a descriptor whose fdinfo shows that lock.
 */
function fileLocks(files, snapshotByPid) {
  const rows = [];
  for (const lock of proc.locks()) {
    const file = files.get(keyOf(lock.dev, lock.inode));
    let holders = new Map();
    if (lock.pid > 0) holders.set(lock.pid, snapshotByPid.get(lock.pid)?.command ?? '?');
    else if (file) {
      for (const { pid, fd } of file.fds) {
        const same = (l) => l.type === lock.type && l.start === lock.start && l.end === lock.end &&
          l.blocked === lock.blocked;
        if (proc.fdLocks(pid, fd).some(same)) holders.set(pid, file.holders.get(pid));
      }
    }
    const name = file ? displayName(file.target) : `${lock.dev}:${lock.inode}`;
    const detail = { type: lock.type, access: lock.access, start: lock.start, end: lock.end, blocked: lock.blocked };
    const extra = { lock: detail, key: keyOf(lock.dev, lock.inode) };
    const r = row('lock', name, file ? file.target : null, file?.stat ?? null, holderList(holders), extra);
    r.size = null;
    rows.push(r);
  }
  return rows;
}

/**
 * The whole inventory: `{ rows, notes }`. Each row is `{ kind, name, path,
 * size, mode, uid, owner, holders: [{ pid, command }], creatorAlive }` (kind
 * one of KINDS; mode four octal digits; creatorAlive true/false for a
 * Channel: whether a consumer or producer still holds its liveness lock, as
 * the kernel attests; null for the rest), plus `lock` ({ type, access, start,
 * end, blocked }) for a lock and `socket` ({ type, listening, inode }) for a
 * socket. notes: what could not be seen, for stderr.
 */
function inventory() {
  const snapshot = proc.snapshot({ maps: true });
  const byPid = new Map(snapshot.map((p) => [p.pid, p]));
  const files = heldFiles(snapshot);
  const claimed = new Set();
  const notes = [];
  const shm = devShm(files, claimed);
  const queues = mqueues(files, claimed);
  if (!queues.visible) {
    notes.push('message queues are not listed: no mqueue filesystem is mounted and making one needs root ' +
      '(mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue); queues held open are shown');
  }
  const locks = fileLocks(files, byPid);
  const rows = [...shm, ...queues.rows, ...heldOnly(files, claimed, queues.visible), ...sockets(snapshot), ...locks];
  for (const r of rows) {
    if (r.kind === 'channel') r.creatorAlive = locks.some((l) => l.key === r.key);
  }
  for (const r of rows) delete r.key;
  const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  rows.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || byName(a, b));
  return { rows, notes };
}

/** Whether a row is this package's: a Channel, or a name with one of the package's prefixes. */
function isOurs(r) {
  const base = r.name.replace(/^\//, '').replace(/^.*\//, '');
  return r.kind === 'channel' || PREFIXES.some((p) => base.startsWith(p));
}

module.exports = { KINDS, PREFIXES, RING_MAGIC, inventory, isOurs };

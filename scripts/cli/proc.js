'use strict';
// Reads the kernel's process tables in /proc for every posix-ipc command:
// processes, their descriptors and shared mappings, /proc/locks,
// /proc/net/unix, the mounts, and whether a pid lives. A process that
// vanishes or refuses (EACCES, ENOENT, ESRCH, EPERM) is skipped, never thrown.

const fs = require('node:fs');

// Errors that mean "this process (or descriptor) is gone or not ours to read".
const SKIPPED = new Set(['EACCES', 'ENOENT', 'ESRCH', 'EPERM', 'EINVAL', 'ENOTDIR']);

/** The result of fn(), or `fallback` when it fails with one of the SKIPPED errors. */
function tolerant(fn, fallback) {
  try {
    return fn();
  } catch (err) {
    if (SKIPPED.has(err?.code)) return fallback;
    throw err;
  }
}

/** The kernel's links naming a file a process has: /proc/PID/fd/N and /proc/PID/map_files/RANGE. */
const PROCESS_FILE_LINK = /^\/proc\/(?:\d+|self)\/(?:fd|map_files)\/[^/]+$/;

/** Linux's O_PATH (Node does not export it): a descriptor naming a file that is not opened (no driver's open runs). */
const O_PATH = 0o10000000;

/**
 * Opens `file` for reading only if it is a regular file, never opening anything else (this command often runs as
 * root, over names other users chose): the path is first taken with O_PATH, so a device's or a FIFO's open never
 * runs, checked with fstat, and only then opened for reading through /proc/self/fd. A /proc/PID/fd or map_files
 * link is followed (the kernel's, naming the file a process has); any other symbolic link is not (a name in a
 * world-writable directory such as /dev/shm could point anywhere). The descriptor, or null when `file` is not a
 * regular file; throws what open throws (ENOENT, EACCES: callers are tolerant).
 */
function openRegular(file) {
  const handle = fs.openSync(file, O_PATH | (PROCESS_FILE_LINK.test(file) ? 0 : fs.constants.O_NOFOLLOW));
  try {
    if (!fs.fstatSync(handle).isFile()) return null;
    return fs.openSync(`/proc/self/fd/${handle}`, fs.constants.O_RDONLY | fs.constants.O_NOCTTY);
  } finally {
    fs.closeSync(handle);
  }
}

/** `file`'s stat, following links as openRegular does: a /proc/PID/fd or map_files link, never another one. */
function statAsOpened(file) {
  return PROCESS_FILE_LINK.test(file) ? fs.statSync(file) : fs.lstatSync(file);
}

/** The pids of /proc, as numbers, ascending. */
function pids() {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/**
 * One process: `{ pid, ppid, uid, command }` (uid: the real uid; command: the
 * command line joined with spaces, or `[comm]` for a kernel thread), or null
 * when it vanished or cannot be read.
 */
function processInfo(pid) {
  const status = tolerant(() => fs.readFileSync(`/proc/${pid}/status`, 'utf8'), null);
  if (status === null) return null;
  const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
  const cmdline = tolerant(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '');
  const args = cmdline.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
  const command = args.length > 0 ? args.join(' ') : `[${field('Name')}]`;
  return { pid, ppid: Number(field('PPid')) || 0, uid: Number(field('Uid').split(/\s+/)[0]), command };
}

/** Every process: an array of processInfo() objects, vanished ones left out. */
function processes() {
  return pids().map(processInfo).filter((p) => p !== null);
}

/**
 * A process's open descriptors: an array of `{ fd, target }` (target: the
 * link text, e.g. `/dev/shm/x`, `socket:[123]`, `/memfd:x (deleted)`);
 * empty when the process vanished or refused.
 */
function descriptors(pid) {
  const names = tolerant(() => fs.readdirSync(`/proc/${pid}/fd`), []);
  const out = [];
  for (const name of names) {
    const target = tolerant(() => fs.readlinkSync(`/proc/${pid}/fd/${name}`), null);
    if (target !== null) out.push({ fd: Number(name), target });
  }
  return out;
}

/**
 * A process's mappings of files: an array of `{ start, end, perms, shared,
 * dev, inode, path }` (start, end: hex strings; dev: `MM:mm` in hex as in
 * /proc/locks; inode: a number; shared: the `s` flag of perms). Anonymous
 * mappings (inode 0) are left out; empty when the process vanished or refused.
 */
function mappings(pid) {
  const text = tolerant(() => fs.readFileSync(`/proc/${pid}/maps`, 'utf8'), '');
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (!m || m[5] === '0') continue;
    out.push({ start: m[1], end: m[2], perms: m[3], shared: m[3][3] === 's', dev: m[4], inode: Number(m[5]), path: m[6] });
  }
  return out;
}

/** The `lock:` lines of /proc/PID/fdinfo/FD, parsed as locks() does; empty when unreadable. */
function fdLocks(pid, fd) {
  const text = tolerant(() => fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'), '');
  return text.split('\n').filter((l) => l.startsWith('lock:')).map((l) => parseLock(l.slice(5).trim())).filter(Boolean);
}

/**
 * `fs.statSync` of what a process's descriptor refers to (works for deleted
 * files and memfds), or null when it vanished or refused.
 */
function statFd(pid, fd) {
  return tolerant(() => fs.statSync(`/proc/${pid}/fd/${fd}`), null);
}

/** A stat's `dev` as /proc/locks and /proc/PID/maps print it: `MM:mm` in hex, two digits at least. */
function devString(dev) {
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & 0xffffff00n);
  const hex = (n) => n.toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}`;
}

/**
 * One line of /proc/locks (without its `N:` id), as `{ type, mode, access,
 * pid, dev, inode, start, end, blocked }`: type POSIX, FLOCK, OFDLCK,
 * LEASE..., access READ/WRITE, pid -1 when the kernel records none (OFD
 * locks), dev `MM:mm` hex, end a number or Infinity (EOF), blocked true for a
 * waiter (`->`). Null for a line it does not understand.
 */
function parseLock(text) {
  const m = /^(\d+:\s+)?(->\s+)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+:[0-9a-f]+):(\d+)\s+(\d+)\s+(\d+|EOF)/.exec(text);
  if (!m) return null;
  return {
    type: m[3], mode: m[4], access: m[5], pid: Number(m[6]),
    dev: m[7], inode: Number(m[8]), start: Number(m[9]), end: m[10] === 'EOF' ? Infinity : Number(m[10]),
    blocked: m[2] !== undefined,
  };
}

/** Every lock of /proc/locks: an array of parseLock() objects, each with its `id` (the line's number). */
function locks() {
  const text = tolerant(() => fs.readFileSync('/proc/locks', 'utf8'), '');
  const out = [];
  for (const line of text.split('\n')) {
    const lock = parseLock(line);
    if (lock) out.push({ id: Number(line.split(':')[0]), ...lock });
  }
  return out;
}

/**
 * Every Unix socket of this network namespace, from /proc/net/unix: an array
 * of `{ inode, type, state, listening, path }` (type stream/dgram/seqpacket;
 * path null when unbound, `@name` for an abstract one).
 */
function unixSockets() {
  const text = tolerant(() => fs.readFileSync('/proc/net/unix', 'utf8'), '');
  const types = { 1: 'stream', 2: 'dgram', 5: 'seqpacket' };
  const out = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    out.push({
      inode: Number(f[6]),
      type: types[parseInt(f[4], 16)] ?? `type ${parseInt(f[4], 16)}`,
      state: parseInt(f[5], 16),
      listening: (parseInt(f[3], 16) & 0x10000) !== 0,
      path: f.length > 7 ? f.slice(7).join(' ') : null,
    });
  }
  return out;
}

/**
 * The mounts this process sees, from /proc/self/mountinfo: an array of
 * `{ mountPoint, fsType, source, options }` (octal escapes decoded).
 */
function mounts() {
  const text = tolerant(() => fs.readFileSync('/proc/self/mountinfo', 'utf8'), '');
  const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const out = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (right === undefined) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    out.push({ mountPoint: unescape(l[4]), fsType: r[0], source: unescape(r[1]), options: r[2] ?? '' });
  }
  return out;
}

/** Whether `pid` is a live process (a zombie is not: it has exited). */
function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err?.code !== 'EPERM') return false;
  }
  const stat = tolerant(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), null);
  if (stat === null) return true; // Alive (kill said so) in a pid namespace /proc does not show.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/**
 * One pass over /proc: every process (processInfo()) with its `fds`
 * (descriptors()) and, when `maps` is true, its `maps` (mappings(), shared
 * ones only). What a process refuses to show is empty, not an error.
 */
function snapshot({ maps = true } = {}) {
  return processes().map((p) => ({
    ...p,
    fds: descriptors(p.pid),
    maps: maps ? mappings(p.pid).filter((m) => m.shared) : [],
  }));
}

let passwd = null;

/** The user name of a uid from /etc/passwd, or the uid as a string. */
function userName(uid) {
  if (passwd === null) {
    passwd = new Map();
    const text = tolerant(() => fs.readFileSync('/etc/passwd', 'utf8'), '');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && !passwd.has(Number(f[2]))) passwd.set(Number(f[2]), f[0]);
    }
  }
  return passwd.get(uid) ?? String(uid);
}

module.exports = {
  tolerant, openRegular, statAsOpened, pids, processInfo, processes, descriptors, mappings, fdLocks, statFd, devString,
  parseLock, locks, unixSockets, mounts, alive, snapshot, userName,
};

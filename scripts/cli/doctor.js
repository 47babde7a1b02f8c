'use strict';
// `posix-ipc doctor`: checks what this machine gives IPC (the /dev/shm size,
// the message-queue limits, the resource limits, the kernel features the
// package uses, probed for real) and prints one line per check, ok / warn /
// fail, with the measured value and, for each problem, the command that fixes it.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { printable, size: bytes, writeJson } = require('./format');

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const MiB = 1024 * 1024;
const TMPFS_MAGIC = 0x01021994;
/** The init IPC namespace's inode (PROC_IPC_INIT_INO in the kernel's proc_ns.h). */
const INIT_IPC_INO = 0xefffffff;
/** N-API version the addon is built for (binding.gyp's NAPI_VERSION). */
const NAPI_NEEDED = 8;

const usage = `Usage: posix-ipc doctor [options]

Checks what this machine gives IPC, one line per check: ok, warn or fail, the
measured value, and for each problem the command that fixes it.

  /dev/shm          size, use, and whether it is a tmpfs (the container 64 MiB trap)
  mqueue            the mqueue filesystem, fs.mqueue msg_max, msgsize_max, queues_max
  limits            RLIMIT_MSGQUEUE, RLIMIT_NOFILE, fs.pipe-max-size
  kernel features   pidfd_open, memfd_create with seals, OFD locks, futex, robust
                    mutexes: each probed for real through the addon
  the rest          the IPC namespace, the kernel release, the addon (prebuild or
                    local build), Node and N-API versions

Options:
  --json             One JSON object: { ok, checks: [{ id, status, value, detail, fix }] }
  --help, -h         Show this text

Exit status: 0 nothing failed (warnings do not fail), 1 a check failed,
2 a usage error.
`;

const options = {
  json: { type: 'boolean' },
};

const positionals = { min: 0, max: 0 };

/** One check's result: `fix` only for a problem, `detail` optional. */
function result(id, title, status, value, { detail = null, fix = null } = {}) {
  return { id, title, status, value, detail, fix: status === 'ok' ? null : fix };
}

/** A file's text, or null when it cannot be read. */
function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** A /proc/sys number, or null. */
function readNumber(file) {
  const text = readText(file);
  if (text === null) return null;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : null;
}

/** The mounts of this process's mount namespace: { point, type, options } from /proc/self/mountinfo. */
function mounts() {
  const text = readText('/proc/self/mountinfo') ?? '';
  return text.split('\n').filter(Boolean).map((line) => {
    const [left, right = ''] = line.split(' - ');
    const fields = left.split(' ');
    const [type] = right.split(' ');
    return { point: fields[4]?.replace(/\\040/g, ' '), type, options: fields[5] };
  });
}

/** The soft and hard values of one line of /proc/self/limits ('Max msgqueue size'), or null. */
function limit(name) {
  const text = readText('/proc/self/limits') ?? '';
  const line = text.split('\n').find((l) => l.startsWith(name));
  if (!line) return null;
  const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
  const parse = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: parse(soft), hard: parse(hard) };
}

/** `unlimited` or the number. */
function showLimit(n) {
  return n === Infinity ? 'unlimited' : String(n);
}

/** /dev/shm: there, a tmpfs, big enough, not full. */
function checkDevShm() {
  const title = '/dev/shm';
  let st;
  try {
    st = fs.statfsSync('/dev/shm');
  } catch (err) {
    return result('dev-shm', title, 'fail', `missing (${err.code})`, {
      detail: 'shm_open(3) creates its objects in /dev/shm: SharedMemory, Semaphore, Mutex and Channel by name all fail',
      fix: 'mkdir -p /dev/shm && mount -t tmpfs -o size=1G,mode=1777 tmpfs /dev/shm',
    });
  }
  const size = st.blocks * st.bsize;
  const used = (st.blocks - st.bfree) * st.bsize;
  const value = `${bytes(size)}, ${bytes(used)} used (${size > 0 ? Math.round((100 * used) / size) : 0}%)`;
  const fix = 'docker run --shm-size=1g ... (a container), or: mount -o remount,size=1G /dev/shm';
  if (st.type !== TMPFS_MAGIC) {
    return result('dev-shm', title, 'warn', `${value}, not a tmpfs (filesystem 0x${st.type.toString(16)})`, {
      detail: 'shared memory there is written to a disk',
      fix: 'mount -t tmpfs -o size=1G,mode=1777 tmpfs /dev/shm',
    });
  }
  if (size < 64 * MiB) {
    return result('dev-shm', title, 'fail', value, { detail: 'smaller than even a container\'s 64 MiB default', fix });
  }
  if (size < 256 * MiB) {
    return result('dev-shm', title, 'warn', value, {
      detail: 'below 256 MiB (a container\'s default is 64 MiB): a large segment fails with SIGBUS or ENOSPC',
      fix,
    });
  }
  if (used > 0.9 * size) {
    return result('dev-shm', title, 'warn', value, {
      detail: 'over 90% used: leftovers of crashed processes?',
      fix: 'posix-ipc rm --orphans --dry-run (then without --dry-run), or a larger /dev/shm: mount -o remount,size=2G /dev/shm',
    });
  }
  return result('dev-shm', title, 'ok', `${value}, tmpfs`);
}

/** The mqueue filesystem: mounted somewhere (queues work without it, but cannot be listed). */
function checkMqueueMount() {
  const mq = mounts().filter((m) => m.type === 'mqueue').map((m) => m.point);
  if (mq.length > 0) return result('mqueue-mount', 'mqueue filesystem', 'ok', `mounted at ${mq.join(', ')}`);
  return result('mqueue-mount', 'mqueue filesystem', 'warn', 'not mounted', {
    detail: 'message queues work, but only a mounted mqueue filesystem shows them as files (posix-ipc ls mounts one privately)',
    fix: 'mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue',
  });
}

/** One fs.mqueue sysctl against the least the package's own defaults need. */
function checkMqueueSysctl(name, least, advice, detail) {
  const n = readNumber(`/proc/sys/fs/mqueue/${name}`);
  const id = `mq-${name.replace(/_/g, '-')}`;
  const title = `fs.mqueue.${name}`;
  if (n === null) return result(id, title, 'warn', 'unreadable', { detail: 'no POSIX message queues in this kernel?' });
  if (n < least) return result(id, title, 'warn', String(n), { detail, fix: `sysctl -w fs.mqueue.${name}=${advice}` });
  return result(id, title, 'ok', String(n));
}

/** RLIMIT_MSGQUEUE: room for at least one queue of the default attributes. */
function checkMsgqueueLimit() {
  const title = 'RLIMIT_MSGQUEUE';
  const lim = limit('Max msgqueue size');
  if (lim === null) return result('rlimit-msgqueue', title, 'warn', 'unreadable (/proc/self/limits)');
  // mq_open(3) charges a queue's maxmsg * (msgsize + a pointer) against it:
  // a queue of the kernel's default attributes must fit.
  const maxmsg = readNumber('/proc/sys/fs/mqueue/msg_default') ?? 10;
  const msgsize = readNumber('/proc/sys/fs/mqueue/msgsize_default') ?? 8192;
  const one = maxmsg * (msgsize + 8);
  const value = `${showLimit(lim.soft)} bytes (hard ${showLimit(lim.hard)})`;
  const fix = 'ulimit -q 819200 (or unlimited; the hard limit: prlimit --msgqueue=unlimited --pid $$, or msgqueue in /etc/security/limits.conf)';
  if (lim.soft < one) {
    return result('rlimit-msgqueue', title, 'fail', value, {
      detail: `mq_open fails (EMFILE): one queue of the default attributes needs ${one} bytes`,
      fix,
    });
  }
  if (lim.soft < 819200) {
    return result('rlimit-msgqueue', title, 'warn', value, { detail: 'below the kernel default of 819200 bytes', fix });
  }
  return result('rlimit-msgqueue', title, 'ok', value);
}

/** RLIMIT_NOFILE: every object holds a descriptor. */
function checkNofile() {
  const title = 'RLIMIT_NOFILE';
  const lim = limit('Max open files');
  if (lim === null) return result('rlimit-nofile', title, 'warn', 'unreadable (/proc/self/limits)');
  const value = `${showLimit(lim.soft)} (hard ${showLimit(lim.hard)})`;
  if (lim.soft < 1024) {
    return result('rlimit-nofile', title, 'warn', value, { detail: 'each open object holds a descriptor', fix: 'ulimit -n 65536' });
  }
  return result('rlimit-nofile', title, 'ok', value);
}

/** fs.pipe-max-size: how far PipeEnd.setPipeSize can go unprivileged. */
function checkPipeMax() {
  const n = readNumber('/proc/sys/fs/pipe-max-size');
  const title = 'fs.pipe-max-size';
  if (n === null) return result('pipe-max-size', title, 'warn', 'unreadable');
  if (n < MiB) {
    return result('pipe-max-size', title, 'warn', bytes(n), {
      detail: 'below the kernel default of 1 MiB: setPipeSize() beyond it fails with EPERM',
      fix: 'sysctl -w fs.pipe-max-size=1048576',
    });
  }
  return result('pipe-max-size', title, 'ok', bytes(n));
}

/** The library, or the reason it does not load. */
function loadLibrary() {
  try {
    return { lib: require(DIST), binding: require(path.join(DIST, 'binding')).binding, error: null };
  } catch (err) {
    return { lib: null, binding: null, error: String(err.message).split('\n')[0] };
  }
}

/** A probe's result from `probe()` (returns the value; throws a failure), or 'not probed' without the library. */
function feature(id, title, loaded, probe, fix) {
  if (loaded.lib === null) {
    return result(id, title, 'warn', 'not probed', { detail: `the library does not load: ${loaded.error}` });
  }
  try {
    return result(id, title, 'ok', probe(loaded));
  } catch (err) {
    return result(id, title, 'fail', `unavailable (${err.code ?? err.message})`, { detail: err.message, fix });
  }
}

/** A thrown error from a negative errno of the raw binding. */
function errnoError(r, syscall) {
  const [code] = require('node:util').getSystemErrorMap().get(r) ?? [`errno ${-r}`];
  return Object.assign(new Error(`${code}: ${syscall}`), { code });
}

/** pidfd_open(2) of this process, through the addon (Process's own call). */
function probePidfd({ binding }) {
  const fd = binding.pidfdOpen(process.pid);
  if (fd < 0) throw errnoError(fd, 'pidfd_open');
  binding.close(fd);
  return 'pidfd_open works';
}

/** memfd_create(2) with a size seal, through SharedMemory.anonymous. */
function probeMemfd({ lib }) {
  const shm = lib.SharedMemory.anonymous(4096, { seal: true });
  shm.close();
  return 'memfd_create + F_SEAL_SHRINK/GROW/SEAL work';
}

/** An OFD lock (fcntl F_OFD_SETLK) on a temporary file, through tryLockFile. */
function probeOfd({ lib }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'posix-ipc-doctor-'));
  try {
    const file = path.join(dir, 'lock');
    const lock = lib.tryLockFile(file, { kind: 'ofd', create: true });
    if (lock === null) throw new Error('the lock of a fresh file was refused');
    // A second open file description of the same process must conflict: that is what OFD means.
    const second = lib.tryLockFile(file, { kind: 'ofd' });
    lock.close();
    if (second !== null) {
      second.close();
      throw new Error('a second open file description got the same lock: not OFD semantics');
    }
    return 'F_OFD_SETLK works, per open file description';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** futex(2) wait and wake through the addon's futex. */
function probeFutex({ lib }) {
  const word = new Int32Array(new SharedArrayBuffer(4));
  const other = lib.futex.waitSync(word, 0, 1, { timeoutMs: 0 });
  const timed = lib.futex.waitSync(word, 0, 0, { timeoutMs: 1 });
  const woken = lib.futex.wake(word, 0, 1);
  if (other !== 'not-equal' || timed !== 'timed-out' || woken !== 0) {
    throw new Error(`unexpected results: ${other}, ${timed}, ${woken} woken`);
  }
  return 'FUTEX_WAIT/FUTEX_WAKE work';
}

/**
 * A robust mutex whose owner dies holding it: a child locks a Mutex in a
 * memfd it inherited and exits; this process's lock must then say ownerDied.
 */
async function probeRobust(loaded) {
  const title = 'robust mutexes';
  if (loaded.lib === null) return feature('robust-mutex', title, loaded);
  const { SharedMemory, Mutex, spawn } = loaded.lib;
  let shm;
  let mutex;
  try {
    shm = SharedMemory.anonymous(Mutex.SIZE);
    mutex = Mutex.inside(shm, 0, { init: true });
    const code = `const { SharedMemory, Mutex } = require(${JSON.stringify(DIST)});
      const m = Mutex.inside(SharedMemory.fromFd(3), 0); m.lockSync({ timeoutMs: 5000 }); process.exit(0);`;
    const child = spawn(process.execPath, ['-e', code], { fds: { 3: shm }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const status = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
    if (status !== 0) throw new Error(`the child that locks failed (${status}): ${stderr.trim().split('\n').pop()}`);
    const { ownerDied } = mutex.lockSync({ timeoutMs: 5000 });
    if (!ownerDied) throw new Error('the lock of a dead owner was taken without EOWNERDEAD');
    mutex.markConsistent();
    mutex.unlock();
    return result('robust-mutex', title, 'ok', 'EOWNERDEAD when the owner dies');
  } catch (err) {
    return result('robust-mutex', title, 'fail', `unavailable (${err.code ?? 'error'})`, {
      detail: err.message,
      fix: 'a glibc with robust mutexes and a kernel with set_robust_list(2) (every Linux >= 2.6.17 with glibc)',
    });
  } finally {
    mutex?.close();
    shm?.close();
  }
}

/** The IPC namespace: its inode, and whether it is the init namespace's. */
function checkNamespace() {
  const title = 'IPC namespace';
  let own;
  try {
    own = fs.readlinkSync('/proc/self/ns/ipc');
  } catch (err) {
    return result('ipc-namespace', title, 'warn', `unreadable (${err.code})`);
  }
  const ino = Number(/\[(\d+)\]/.exec(own)?.[1]);
  let init;
  try {
    init = fs.readlinkSync('/proc/1/ns/ipc') === own ? 'the same as pid 1\'s' : 'not pid 1\'s (a container?)';
  } catch {
    init = `pid 1's unreadable; ${ino === INIT_IPC_INO ? 'the init namespace\'s inode' : 'not the init namespace\'s inode'}`;
  }
  const where = ino === INIT_IPC_INO ? 'the host\'s (init) namespace' : 'a namespace of its own: other containers do not see its objects';
  return result('ipc-namespace', title, 'ok', `${own}, ${init}`, { detail: where });
}

/** The kernel release. */
function checkKernel() {
  return result('kernel', 'kernel', 'ok', `${os.type()} ${os.release()} ${os.arch()}`);
}

/** Where the addon comes from: node-gyp-build's resolution (prebuilds/ or build/), or POSIX_IPC_ADDON. */
function checkAddon() {
  const title = 'addon';
  if (process.env.POSIX_IPC_ADDON) {
    return result('addon', title, 'ok', `POSIX_IPC_ADDON=${process.env.POSIX_IPC_ADDON}`, { detail: 'set by the environment' });
  }
  let file;
  try {
    file = require('node-gyp-build').path(ROOT);
  } catch (err) {
    return result('addon', title, 'fail', 'none for this system', {
      detail: String(err.message).split('\n')[0],
      fix: 'npm rebuild posix-ipc (needs a C++ compiler, make and python3)',
    });
  }
  const rel = path.relative(ROOT, file);
  const from = rel.startsWith('prebuilds') ? 'prebuild' : rel.startsWith(path.join('build', 'Release')) ? 'local build' : 'other build';
  return result('addon', title, 'ok', `${from}: ${rel}`);
}

/** Node's version and N-API version against the addon's NAPI_VERSION. */
function checkNode() {
  const napi = Number(process.versions.napi);
  const value = `node ${process.version}, N-API ${process.versions.napi}`;
  if (!(napi >= NAPI_NEEDED)) {
    return result('node', 'Node.js', 'fail', value, { detail: `the addon needs N-API ${NAPI_NEEDED}`, fix: 'install Node.js >= 18.18' });
  }
  return result('node', 'Node.js', 'ok', value);
}

/** Every check, in the order printed. */
async function checks() {
  const loaded = loadLibrary();
  return [
    checkDevShm(),
    checkMqueueMount(),
    checkMqueueSysctl('msg_max', 64, 1024, 'a queue holds at most this many messages: a burst fills it (EAGAIN)'),
    checkMqueueSysctl('msgsize_max', 8192, 65536, 'the largest message a queue may hold'),
    checkMqueueSysctl('queues_max', 256, 1024, 'the number of queues all users together may have'),
    checkMsgqueueLimit(),
    checkPipeMax(),
    checkNofile(),
    feature('pidfd', 'pidfd_open', loaded, probePidfd, 'Linux >= 5.3; in a container, a seccomp profile that allows pidfd_open'),
    feature('memfd-seals', 'memfd seals', loaded, probeMemfd, 'Linux >= 3.17 (memfd_create) with file sealing'),
    feature('ofd-locks', 'OFD locks', loaded, probeOfd, 'Linux >= 3.15, and a filesystem of os.tmpdir() that supports locks'),
    feature('futex', 'futex', loaded, probeFutex, 'a kernel with futex(2) (CONFIG_FUTEX)'),
    await probeRobust(loaded),
    checkNamespace(),
    checkKernel(),
    checkAddon(),
    checkNode(),
  ];
}

/**
 * One line per check: `ok    /dev/shm          64 MiB...`, then the detail and
 * fix indented. Each field is made printable: a value may hold a mount point
 * or an error another process wrote, and must not start a line of its own.
 */
function render(list) {
  const width = Math.max(...list.map((c) => c.title.length));
  const lines = [];
  for (const c of list) {
    lines.push(`${c.status.padEnd(5)} ${c.title.padEnd(width)}  ${printable(String(c.value))}`);
    if (c.status !== 'ok' && c.detail) lines.push(`${' '.repeat(width + 8)}${printable(String(c.detail))}`);
    if (c.fix) lines.push(`${' '.repeat(width + 8)}fix: ${printable(String(c.fix))}`);
  }
  const count = (s) => list.filter((c) => c.status === s).length;
  lines.push('', `${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail`);
  return `${lines.join('\n')}\n`;
}

/** Runs the checks; exit status 1 when one failed. */
async function run({ values, stdout }) {
  const list = await checks();
  const ok = list.every((c) => c.status !== 'fail');
  if (values.json) writeJson(stdout, { ok, checks: list });
  else stdout.write(render(list));
  return ok ? 0 : 1;
}

module.exports = { usage, options, positionals, run };

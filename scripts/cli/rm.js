'use strict';
// The `rm` command: removes IPC objects by name (shm segments, semaphores,
// message queues, FIFOs and socket files), refusing what a live process
// holds unless --force; `rm --orphans` removes this package's objects that
// nobody holds.

const fs = require('node:fs');
const path = require('node:path');
const { inventory, isOurs } = require('./inventory');
const proc = require('./proc');
const format = require('./format');

const usage = `Usage: posix-ipc rm [options] <name>...
       posix-ipc rm --orphans [--dry-run]

Removes IPC objects by name: a shared-memory segment or Channel ('/jobs',
'jobs' or '/dev/shm/jobs'), a named semaphore ('sem.jobs', or its name when
no segment has it), a message queue ('/jobs' when neither of those exists),
or a FIFO or Unix socket file by its path ('./x.fifo', '/run/app.sock').
Anything else is left alone. An object that a live process holds open or
mapped is refused (and who holds it is said) unless --force; holders keep
what they have open, only the name goes.

--orphans removes this package's objects (Channels, and names starting with
pipc- or posix-ipc-) in /dev/shm and the mqueue filesystem that no live
process holds and whose Channel has no live side attached; it prints each.

Options:
  --force            Remove even what a live process holds
  --orphans          Remove this package's orphaned objects
  --dry-run          Print what would be removed; remove nothing
  --help, -h         Show this text

Exit status: 0 all removed, 1 something was refused or could not be
removed (each says why), 2 a usage error.
`;

const options = {
  force: { type: 'boolean' },
  orphans: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
};

const positionals = { min: 0, max: Infinity };

/** The object a name means: `{ kind, name, path }` (path null for a queue outside any mount), or an error string. */
function resolve(arg, rows) {
  if (arg.startsWith('/dev/shm/')) {
    const entry = arg.slice(9);
    if (entry.includes('/') || entry === '') return `'${arg}' is not an object of /dev/shm`;
    if (entry.startsWith('sem.')) return { kind: 'semaphore', name: `/${entry.slice(4)}`, path: arg };
    const channel = rows.some((r) => r.kind === 'channel' && r.path === arg);
    return { kind: channel ? 'channel' : 'shm', name: `/${entry}`, path: arg };
  }
  const bare = arg.replace(/^\//, '');
  if (bare.includes('/') || arg.startsWith('.')) {
    const stat = proc.tolerant(() => fs.lstatSync(arg), null);
    if (stat === null) return `no such file: ${arg}`;
    if (stat.isFIFO()) return { kind: 'fifo', name: path.resolve(arg), path: arg };
    if (stat.isSocket()) return { kind: 'socket', name: path.resolve(arg), path: arg };
    return `'${arg}' is neither a FIFO nor a socket: rm removes only IPC objects`;
  }
  if (bare === '' || bare === '.' || bare === '..') return `'${arg}' is not a name`;
  if (fs.existsSync(`/dev/shm/${bare}`)) return resolve(`/dev/shm/${bare}`, rows);
  if (fs.existsSync(`/dev/shm/sem.${bare}`)) return resolve(`/dev/shm/sem.${bare}`, rows);
  const queue = rows.find((r) => r.kind === 'mqueue' && r.name === `/${bare}`);
  return { kind: 'mqueue', name: `/${bare}`, path: queue?.path ?? null, known: queue !== undefined };
}

/** The inventory rows that are this object (a segment may also be a Channel). */
function rowsOf(target, rows) {
  if (target.kind === 'fifo' || target.kind === 'socket') return rows.filter((r) => r.kind === target.kind && r.name === target.name);
  if (target.kind === 'mqueue') return rows.filter((r) => r.kind === 'mqueue' && r.name === target.name);
  return rows.filter((r) => r.path === target.path && r.kind !== 'lock');
}

/** The live holders of an object, from its rows: [{ pid, command }], each pid once. */
function liveHolders(target, rows) {
  const seen = new Map();
  for (const r of rowsOf(target, rows)) for (const h of r.holders) if (proc.alive(h.pid)) seen.set(h.pid, h);
  return [...seen.values()];
}

/** Removes one object's name; throws what the kernel said. */
function unlink(target) {
  if (target.kind !== 'mqueue' || target.path !== null) {
    fs.unlinkSync(target.path);
    return;
  }
  // No mqueue filesystem mounted: mq_unlink(3), through the library.
  require('../../dist').MessageQueue.unlink(target.name);
}

/** What an object is called in messages: `shm /jobs`, `fifo /tmp/x.fifo`. */
function describe(target) {
  // Names in /dev/shm are other users' choice: no terminal escapes from them.
  return format.printable(`${target.kind} ${target.name}`);
}

/** `rm <name>...`: each name removed, or refused with the reason; 1 when any was not removed. */
function removeNamed(names, values, rows, stdout, stderr) {
  let failed = false;
  for (const arg of names) {
    const target = resolve(arg, rows);
    if (typeof target === 'string') {
      stderr.write(`posix-ipc: ${format.printable(target)}\n`);
      failed = true;
      continue;
    }
    const holders = liveHolders(target, rows);
    if (holders.length > 0 && !values.force) {
      const who = format.printable(holders.map((h) => `${h.pid} (${format.shortCommand(h.command)})`).join(', '));
      stderr.write(`posix-ipc: not removing ${describe(target)}: held by ${who}; --force removes its name anyway\n`);
      failed = true;
      continue;
    }
    if (!remove(target, values['dry-run'], stdout, stderr, `no such object: ${arg}`)) failed = true;
  }
  return failed ? 1 : 0;
}

/**
 * Removes `target` and says so (with --dry-run, says it would): false when it could not. A target gone
 * already (ENOENT) is the error `missing`, or, when `missing` is null, was removed by someone else meanwhile.
 */
function remove(target, dryRun, stdout, stderr, missing) {
  if (dryRun) {
    stdout.write(`would remove ${describe(target)}\n`);
    return true;
  }
  try {
    unlink(target);
    stdout.write(`removed ${describe(target)}\n`);
    return true;
  } catch (err) {
    if (err?.code === 'ENOENT' && missing === null) return true;
    // An error's message names the path: an orphan's name is another user's choice.
    const reason = err?.code === 'ENOENT' ? missing : `cannot remove ${describe(target)}: ${err?.message ?? err}`;
    stderr.write(`posix-ipc: ${format.printable(reason)}\n`);
    return false;
  }
}

/** The orphans: this package's named objects with no live holder and no live side attached. */
function orphans(rows) {
  const named = new Set(['shm', 'channel', 'semaphore', 'mqueue']);
  const unheld = (r) => r.creatorAlive !== true && !r.holders.some((h) => proc.alive(h.pid));
  return rows.filter((r) => named.has(r.kind) && isOurs(r) && unheld(r));
}

/** `rm --orphans`: removes (or with --dry-run, lists) each orphan; 1 when one could not be removed. */
function removeOrphans(values, rows, stdout, stderr) {
  const found = orphans(rows);
  if (found.length === 0) stdout.write('no orphans found\n');
  let failed = false;
  for (const r of found) {
    const target = { kind: r.kind, name: r.name, path: r.path };
    if (!remove(target, values['dry-run'], stdout, stderr, null)) failed = true;
  }
  return failed ? 1 : 0;
}

/** Removes the objects named, or the orphans. */
async function run({ values, positionals: names, stdout, stderr }) {
  if (values.orphans && names.length > 0) throw new format.UsageError('--orphans takes no names');
  if (values.orphans && values.force) throw new format.UsageError('--orphans removes only what nobody holds: no --force');
  if (!values.orphans && names.length === 0) throw new format.UsageError("'rm' needs a name, or --orphans");
  const { rows } = inventory();
  if (values.orphans) return removeOrphans(values, rows, stdout, stderr);
  return removeNamed(names, values, rows, stdout, stderr);
}

module.exports = { usage, options, positionals, run };

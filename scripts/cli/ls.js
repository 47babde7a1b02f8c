'use strict';
// The `ls` command: prints the inventory of IPC objects (scripts/cli/inventory.js)
// as a table or JSON, filtered by kind and by holding process.

const { inventory, KINDS } = require('./inventory');
const format = require('./format');

const usage = `Usage: posix-ipc ls [options]

Lists every IPC object on this machine that it can see: POSIX shared memory
and named semaphores (/dev/shm), message queues (the mqueue filesystem),
memfds and unlinked segments held open, FIFOs and bound Unix sockets, file
locks (POSIX, flock, OFD), and posix-ipc Channels (recognised by their
header), each with the processes that hold it.

Columns: kind, name, size, mode, owner, holders (pid and command), alive
(a Channel: whether a consumer or producer is still attached, as the kernel
attests through its liveness locks; '-' for the rest).

Kinds: ${KINDS.join(', ')}

Options:
  --json             An array of objects: kind, name, path, size, mode, uid,
                     owner, holders [{ pid, command }], creatorAlive (and lock
                     or socket details for those kinds)
  --kind K           Only objects of kind K (repeatable)
  --pid P            Only objects that process P holds
  --output COLS      The columns to print, comma-separated, in that order
                     (${'kind,name,size,mode,owner,holders,alive'})
  --help, -h         Show this text

Processes of other users that /proc does not show are skipped. Message
queues need an mqueue mount, or root (ls mounts one privately).
Exit status: 0 listed (also when nothing is found), 2 a usage error.
`;

const options = {
  json: { type: 'boolean' },
  kind: { type: 'string', multiple: true },
  pid: { type: 'string' },
  output: { type: 'string' },
};

const positionals = { min: 0, max: 0 };

// The table's columns; --output chooses among their keys.
const columns = [
  { key: 'kind', header: 'KIND', get: (r) => r.kind },
  { key: 'name', header: 'NAME', shrink: true, get: (r) => (r.lock ? `${r.name} (${lockText(r.lock)})` : r.name) },
  { key: 'size', header: 'SIZE', get: (r) => format.size(r.size), right: true },
  { key: 'mode', header: 'MODE', get: (r) => r.mode ?? '-' },
  { key: 'owner', header: 'OWNER', get: (r) => r.owner ?? '-' },
  { key: 'holders', header: 'HOLDERS', get: (r) => format.holders(r.holders) },
  { key: 'alive', header: 'ALIVE', get: (r) => (r.creatorAlive === null ? '-' : r.creatorAlive ? 'yes' : 'no') },
];

/** A lock in a few words: `OFDLCK WRITE 0-0`, `POSIX READ 10-EOF`, `waits` for a blocked one. */
function lockText(lock) {
  const end = lock.end === Infinity ? 'EOF' : lock.end;
  return `${lock.blocked ? 'waits ' : ''}${lock.type} ${lock.access} ${lock.start}-${end}`;
}

/** The rows the filters keep: of the kinds named (all when none), held by `pid` when given. */
function filter(rows, kinds, pid) {
  const held = (r) => pid === null || r.holders.some((h) => h.pid === pid);
  return rows.filter((r) => (kinds.length === 0 || kinds.includes(r.kind)) && held(r));
}

/** Checks the options and returns `{ kinds, pid }`; throws a UsageError for a bad kind or pid. */
function checked(values) {
  const kinds = (values.kind ?? []).flatMap((k) => k.split(','));
  const bad = kinds.find((k) => !KINDS.includes(k));
  if (bad !== undefined) throw new format.UsageError(`unknown kind '${bad}' (kinds: ${KINDS.join(', ')})`);
  if (values.pid !== undefined && !/^[1-9]\d*$/.test(values.pid)) throw new format.UsageError(`--pid needs a process id, not '${values.pid}'`);
  if (values.output !== undefined) format.selectColumns(columns, values.output);
  return { kinds, pid: values.pid === undefined ? null : Number(values.pid) };
}

/** Lists the objects; notes on what could not be seen go to stderr. */
async function run({ values, stdout, stderr }) {
  const { kinds, pid } = checked(values);
  const { rows, notes } = inventory();
  const wantsQueues = kinds.length === 0 || kinds.includes('mqueue');
  for (const note of notes) if (wantsQueues) stderr.write(`posix-ipc: ${note}\n`);
  const kept = filter(rows, kinds, pid);
  if (values.json) format.writeJson(stdout, kept);
  else format.writeTable(stdout, kept, columns, values.output);
  return 0;
}

module.exports = { usage, options, positionals, run };

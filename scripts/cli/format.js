'use strict';
// Prints what a posix-ipc command found: a table in aligned columns (the
// --output option chooses and orders them), or JSON (--json); and the small
// renderings every command shares (sizes, modes, holders).

/** A usage error found by a command's run(): the dispatcher prints it with the command's usage and exits 2. */
class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The columns `--output` names (a comma-separated string, or an array of
 * them when the option is repeatable), in that order; all of `columns` when
 * `output` is undefined. A column is `{ key, header, get(row) -> string, right? }`.
 * Throws a UsageError naming an unknown column and the known ones.
 */
function selectColumns(columns, output) {
  if (output === undefined) return columns;
  const keys = [].concat(output).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (keys.length === 0) throw new UsageError('--output needs at least one column');
  return keys.map((key) => {
    const column = columns.find((c) => c.key === key);
    if (!column) throw new UsageError(`unknown column '${key}' (columns: ${columns.map((c) => c.key).join(', ')})`);
    return column;
  });
}

/** The least a `shrink` column is narrowed to. */
const MIN_SHRUNK = 16;

/**
 * The rows as a table: a header line, then one line per row, each column as
 * wide as its widest cell, two spaces between columns, the last one unpadded.
 * `right: true` aligns a column's cells to the right (numbers). With
 * `maxWidth` (a terminal's columns), a `shrink: true` column (a name, which
 * anyone can make 255 characters long) is narrowed until the lines fit, its
 * long cells cut in the middle (`/pipc-aaa…aaa-end`), never below 16.
 */
function table(rows, columns, maxWidth = Infinity) {
  const cells = rows.map((row) => columns.map((c) => printable(String(c.get(row) ?? '-'))));
  const headers = columns.map((c) => c.header);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const total = widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1);
  const at = columns.findIndex((c) => c.shrink);
  if (total > maxWidth && at >= 0 && widths[at] > MIN_SHRUNK) {
    widths[at] = Math.max(MIN_SHRUNK, headers[at].length, widths[at] - (total - maxWidth));
    for (const r of cells) r[at] = middleCut(r[at], widths[at]);
  }
  const pad = (v, i) => (columns[i].right ? v.padStart(widths[i]) : v.padEnd(widths[i]));
  const line = (values) => values.map(pad).join('  ').trimEnd();
  return [line(headers), ...cells.map(line)].join('\n') + '\n';
}

/**
 * A cell made safe for a terminal: control characters (a newline in a file
 * name or a command line, an escape sequence) become `\xNN`. Names come from
 * other users and processes: they must not redraw the screen or split a row.
 */
function printable(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `text` in at most `width` characters: its start and end, an ellipsis between. */
function middleCut(text, width) {
  if (text.length <= width) return text;
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * Writes `rows` to `stream` as a table of the columns `output` chooses (see
 * selectColumns), fitted to the terminal's width when `stream` is one.
 */
function writeTable(stream, rows, columns, output) {
  const maxWidth = stream.isTTY && stream.columns > 0 ? stream.columns : Infinity;
  stream.write(table(rows, selectColumns(columns, output), maxWidth));
}

/** Writes `value` to `stream` as JSON, two-space indented, with a final newline. */
function writeJson(stream, value) {
  stream.write(`${JSON.stringify(value, (_, v) => (v === Infinity ? 'EOF' : typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** A byte count for people: `512`, `4.0K`, `1.5M`, `2.0G` (powers of 1024, as ls -h); `-` when unknown. */
function size(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '-';
  const units = ['K', 'M', 'G', 'T'];
  let n = bytes;
  let unit = '';
  for (const u of units) {
    if (n < 1024) break;
    n /= 1024;
    unit = u;
  }
  return unit === '' ? String(bytes) : `${n < 10 ? n.toFixed(1) : Math.round(n)}${unit}`;
}

/** The permission bits of a stat `mode` as four octal digits (`0600`), or null when unknown. */
function mode(statMode) {
  return typeof statMode === 'number' ? (statMode & 0o7777).toString(8).padStart(4, '0') : null;
}

/** Holders `[{ pid, command }]` in one cell: `123 node x.js, 456 sleep` (each command cut to its first word's name). */
function holders(list) {
  if (!list || list.length === 0) return '-';
  return list.map((h) => `${h.pid} ${shortCommand(h.command)}`).join(', ');
}

/**
 * A command line in a few words: the program and its first argument without
 * their directories (`/usr/bin/node /x/y/server.js --port 1` -> `node server.js --port 1`),
 * at most 32 characters.
 */
function shortCommand(command) {
  const words = String(command ?? '').split(' ');
  const text = words.map((w, i) => (i < 2 && w.includes('/') ? w.slice(w.lastIndexOf('/') + 1) : w)).join(' ');
  return text.length > 32 ? `${text.slice(0, 31)}…` : text;
}

module.exports = {
  UsageError, selectColumns, printable, table, writeTable, writeJson, size, mode, holders, shortCommand,
};

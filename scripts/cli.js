#!/usr/bin/env node
'use strict';
// The posix-ipc command: the table of its commands, and the dispatcher that
// parses a command line, loads the one module it names (scripts/cli/<name>.js,
// only when that command runs) and runs it. Exit status: 0 done, 1 failed,
// 2 a usage error (unknown command or option, a missing argument).

const { parseArgs } = require('node:util');
const { printable, UsageError } = require('./cli/format');

// Every command, in the order `posix-ipc help` lists them. A command's module
// exports `usage`, `options` (parseArgs), `positionals` ({ min, max }) and
// `async run({ values, positionals, stdout, stderr })` returning the exit code.
const commands = [
  { name: 'tour', summary: 'A guided tour of Linux IPC with real processes and numbers measured on this machine', file: './cli/tour' },
  { name: 'ls', summary: 'List every IPC object on the machine: kind, size, mode, owner, holders', file: './cli/ls' },
  { name: 'inspect', summary: "Decode one object: a Channel's lanes, a Mutex's owner, a semaphore's value", file: './cli/inspect' },
  { name: 'rm', summary: "Remove objects by name, or this package's orphans (--orphans)", file: './cli/rm' },
  { name: 'doctor', summary: 'Check the limits and mounts IPC depends on, and say how to fix each problem', file: './cli/doctor' },
  { name: 'locks', summary: 'Who holds and who waits on which lock, with deadlocks flagged', file: './cli/locks' },
  { name: 'top', summary: 'A live view of Channels: messages/s, bytes/s, depth, producer and consumer per lane (q quits)', file: './cli/top' },
  { name: 'bench', summary: 'Run the benchmark suites, with a progress bar, the table and the chart', file: './cli/bench' },
  { name: 'help', summary: "Show this text, or a command's (also --help, -h)", file: null },
];


/** The text of `posix-ipc help`: every command of the table, and the tour's chapters. */
function mainUsage() {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  const chapters = require('./tour').chapterNames;
  const indent = ' '.repeat(width + 2);
  lines.splice(1, 0, `${indent}(chapters: ${chapters.slice(0, 4).join(', ')},`, `${indent}${chapters.slice(4).join(', ')})`);
  return `Usage: posix-ipc <command> [options] [arguments]

Commands:
${lines.join('\n')}

Options:
  --help, -h    Show this text; after a command, that command's usage
  --version, -v Print the version of posix-ipc

Run 'posix-ipc <command> --help' for a command's options.
Exit status: 0 done, 1 failed, 2 a usage error.
`;
}

/** Writes `posix-ipc: message`, then the usage text, to stderr; returns 2. */
function usageError(message, text) {
  process.stderr.write(`posix-ipc: ${message}\n\n${text ?? mainUsage()}`);
  return 2;
}

/**
 * A command's module, or null (after saying why on stderr) when it is not
 * there: a command whose module is not built or shipped breaks nothing else.
 */
function load(command) {
  const file = command.file;
  try {
    return require(file);
  } catch (err) {
    if (err?.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes(file.slice(2))) throw err;
    process.stderr.write(`posix-ipc: the '${command.name}' command is not available in this copy of posix-ipc\n`);
    return null;
  }
}

/** parseArgs's error message in our words: `unknown option '--x'`, `option '--kind' needs a value`. */
function parseError(err) {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const missing = /^Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(err.message);
  if (missing) return `option '${missing[1]}' needs a value`;
  const noValue = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(err.message);
  if (noValue) return `option '${noValue[1]}' takes no value`;
  return err.message.charAt(0).toLowerCase() + err.message.slice(1);
}

/** Runs one command with the arguments after its name; resolves with the exit code. */
async function runCommand(command, args) {
  const mod = load(command);
  if (mod === null) return 1;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...mod.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    if (!String(err?.code).startsWith('ERR_PARSE_ARGS')) throw err;
    return usageError(parseError(err), mod.usage);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(mod.usage);
    return 0;
  }
  delete values.help;
  const { min = 0, max = Infinity } = mod.positionals ?? {};
  if (positionals.length < min) return usageError(`'${command.name}' needs ${min === 1 ? 'an argument' : `${min} arguments`}`, mod.usage);
  if (positionals.length > max) return usageError(`unexpected argument '${positionals[max]}'`, mod.usage);
  try {
    return await mod.run({ values, positionals, stdout: process.stdout, stderr: process.stderr });
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message, mod.usage);
    throw err;
  }
}

/** `help [command]`, `--help [command]`: the main usage, or one command's. */
function help(rest) {
  if (rest.length > 1) return usageError(`unexpected argument '${rest[1]}'`);
  if (rest.length === 0) {
    process.stdout.write(mainUsage());
    return 0;
  }
  const command = commands.find((c) => c.name === rest[0] && c.file !== null);
  if (rest[0] === 'help') {
    process.stdout.write(mainUsage());
    return 0;
  }
  if (command === undefined) return usageError(`no help for '${rest[0]}': there is no such command`);
  const mod = load(command);
  if (mod === null) return 1;
  process.stdout.write(mod.usage);
  return 0;
}

/** Parses argv (without node and the script) and runs what it asks; resolves with the exit code. */
async function main(argv) {
  const [first, ...rest] = argv;
  if (first === undefined) return help([]);
  if (first === '--version' || first === '-v') {
    if (rest.length > 0) return usageError(`unexpected argument '${rest[0]}'`);
    process.stdout.write(`${require('../package.json').version}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') return help(rest);
  if (first.startsWith('-')) return usageError(`unknown option '${first.split('=')[0]}'`);
  const command = commands.find((c) => c.name === first);
  if (command === undefined) return usageError(`unknown command '${first}'`);
  return runCommand(command, rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = code;
    },
    (err) => {
      // Not a failure the command reported itself: it could not run at all.
      process.stderr.write(`posix-ipc: ${printable(String(err?.message ?? err))}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { commands, main };

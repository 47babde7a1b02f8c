#!/usr/bin/env node
'use strict';
// The posix-ipc command. `npm start` runs `posix-ipc tour`. Exit status: 0
// done, 1 something failed (a chapter of the tour), 2 a usage error.

const { parseArgs } = require('node:util');
const tour = require('./tour');

const usage = `Usage: posix-ipc <command>

Commands:
  tour [chapter...]  A guided tour of Linux IPC with real processes and numbers
                     measured on this machine. Chapters, in order:
                     ${tour.chapterNames.slice(0, 4).join(', ')},
                     ${tour.chapterNames.slice(4).join(', ')}
  help [command]     Show this text, or a command's (also --help, -h)

Options:
  --version, -v      Print the version of posix-ipc
`;

const tourUsage = `Usage: posix-ipc tour [options] [chapter...]

Runs the tour: every chapter, or only those named (in the tour's order).
On a terminal it pauses before each chapter until you press Enter.

Chapters:
${tour.chapters.map((c, i) => `  ${String(i + 1).padStart(2)}. ${c.name.padEnd(15)}${c.title}`).join('\n')}

Options:
  --no-pause         Run straight through (also when stdin or stdout is not a terminal)
  --help, -h         Show this text

Exit status: 0 every chapter ran, 1 a chapter failed (it says why, and the
tour goes on), 2 a usage error; 130 when interrupted with Ctrl-C.
`;

function usageError(message, text = usage) {
  process.stderr.write(`posix-ipc: ${message}\n\n${text}`);
  process.exitCode = 2;
}

const options = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  'no-pause': { type: 'boolean' },
};

function main(argv) {
  // strict: false, so that an unknown option is reported here, in our words.
  const { tokens } = parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const flags = new Set();
  const words = [];
  for (const token of tokens) {
    if (token.kind === 'positional') words.push(token.value);
    else if (token.kind === 'option') {
      if (!(token.name in options)) return usageError(`unknown option '${token.rawName}'`);
      if (token.value !== undefined) return usageError(`option '${token.rawName}' takes no value`);
      flags.add(token.name);
    }
  }
  const [command, ...rest] = words;

  if (flags.has('version')) {
    if (words.length > 0) return usageError(`unexpected argument '${words[0]}'`);
    process.stdout.write(`${require('../package.json').version}\n`);
    return undefined;
  }
  if (command === 'help' || command === undefined) {
    if (flags.has('no-pause')) return usageError("'--no-pause' is an option of 'tour'");
    if (rest.length > 1) return usageError(`unexpected argument '${rest[1]}'`);
    if (rest[0] === undefined) return void process.stdout.write(usage);
    if (rest[0] === 'tour') return void process.stdout.write(tourUsage);
    return usageError(`no help for '${rest[0]}': there is no such command`);
  }
  if (command !== 'tour') return usageError(`unknown command '${command}'`);
  if (flags.has('help')) return void process.stdout.write(tourUsage);
  const unknown = rest.find((name) => !tour.chapterNames.includes(name));
  if (unknown !== undefined) return usageError(`unknown chapter '${unknown}'`, tourUsage);

  const pause = !flags.has('no-pause') && process.stdin.isTTY === true && process.stdout.isTTY === true;
  return tour.run({ only: rest, pause }).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err) => {
      // Not a chapter's failure (those are reported and survived): the tour
      // could not start, for instance without a build of the library.
      process.stderr.write(`posix-ipc: ${err?.message ?? err}\n`);
      process.exitCode = 1;
    },
  );
}

main(process.argv.slice(2));

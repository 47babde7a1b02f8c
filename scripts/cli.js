#!/usr/bin/env node
'use strict';
// The posix-ipc command. `npm start` runs `posix-ipc tour`.

const tour = require('./tour');

const usage = `Usage: posix-ipc <command>

Commands:
  tour [chapter]   A guided tour of Linux IPC with real processes and numbers
                   measured on this machine. Chapters, in order:
                   ${tour.chapterNames.join(', ')}
  help             Show this text (also --help, -h)
`;

function fail(message) {
  process.stderr.write(`posix-ipc: ${message}\n\n${usage}`);
  process.exitCode = 2;
}

const [command, ...args] = process.argv.slice(2);
if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(usage);
} else if (command !== 'tour') {
  fail(`unknown command '${command}'`);
} else if (args.length > 1) {
  fail(`tour takes at most one chapter, got: ${args.join(' ')}`);
} else if (args.length === 1 && !tour.chapterNames.includes(args[0])) {
  fail(`unknown chapter '${args[0]}'`);
} else {
  tour.run(args[0]).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

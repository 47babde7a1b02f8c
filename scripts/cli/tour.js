'use strict';
// The `tour` command: runs the student tour (scripts/tour/), every chapter or
// the ones named, pausing between chapters on a terminal.

const tour = require('../tour');

const usage = `Usage: posix-ipc tour [options] [chapter...]

Runs the tour: every chapter, or only those named (in the tour's order).
On a terminal it pauses between chapters until you press Enter.

Chapters:
${tour.chapters.map((c, i) => `  ${String(i + 1).padStart(2)}. ${c.name.padEnd(15)}${c.title}`).join('\n')}

Options:
  --no-pause         Run straight through (also when stdin or stdout is not a terminal)
  --help, -h         Show this text

Exit status: 0 every chapter ran, 1 a chapter failed (it says why, and the
tour goes on), 2 a usage error; 130 when interrupted with Ctrl-C.
`;

const options = { 'no-pause': { type: 'boolean' } };

const positionals = { min: 0, max: Infinity };

/** Runs the chapters named (all when none); 1 when one failed or the tour could not start. */
async function run({ values, positionals: names, stderr }) {
  const unknown = names.find((name) => !tour.chapterNames.includes(name));
  if (unknown !== undefined) {
    stderr.write(`posix-ipc: unknown chapter '${unknown}'\n\n${usage}`);
    return 2;
  }
  const pause = !values['no-pause'] && process.stdin.isTTY === true && process.stdout.isTTY === true;
  try {
    return (await tour.run({ only: names, pause })) ? 0 : 1;
  } catch (err) {
    // Not a chapter's failure (those are reported and survived): the tour
    // could not start, for instance without a build of the library.
    stderr.write(`posix-ipc: ${err?.message ?? err}\n`);
    return 1;
  }
}

module.exports = { usage, options, positionals, run };

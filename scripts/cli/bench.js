'use strict';
// `posix-ipc bench`: runs the bench suites (scripts/bench/index.js) with a
// progress bar on a terminal, then prints their tables and where the JSON
// results and the SVG chart went.

const path = require('node:path');

const { runBench, suites } = require('../bench');
const { parseOptions, UsageError: BenchUsageError } = require('../bench/lib/options');
const { UsageError } = require('./format');

const usage = `Usage: posix-ipc bench [options]

Runs the benchmark suites: each contender in fresh processes, the contenders
of a suite interleaved over several repetitions, then one table per suite.
The JSON results and an SVG chart (one bar per contender, log scale) go to
bench-results/ in the current directory. A suite that needs a package this
installation lacks (the pool suite compares with piscina, tinypool and
workerpool) is skipped with a line saying so; suites with a C contender need
a C compiler (cc, or $CC).

Options:
  --suite ID         Run only this suite (repeatable): ${suites.map((s) => s.id).join(', ')}
  --quick            Small sizes and few iterations: seconds per suite
  --reps N           Interleaved repetitions per suite (default 5; 3 with --quick)
  --json PATH        Write the JSON results to PATH only (the chart to PATH's .svg)
  --help, -h         Show this text

Exit status: 0 done, 1 a suite failed or cleanup was incomplete, 2 a usage error.
`;

const options = {
  suite: { type: 'string', multiple: true },
  quick: { type: 'boolean' },
  reps: { type: 'string' },
  json: { type: 'string' },
};

const positionals = { min: 0, max: 0 };

/** The bench's own argv for these values, so its parser checks them once, with its messages. */
function benchArgv(values) {
  return [
    ...(values.suite ?? []).flatMap((id) => ['--suite', id]),
    ...(values.quick ? ['--quick'] : []),
    ...(values.reps !== undefined ? ['--reps', values.reps] : []),
    ...(values.json !== undefined ? ['--json', values.json] : []),
  ];
}

/** `[#######.............]` for `done` of `total`, `width` characters inside. */
function bar(done, total, width) {
  const full = total > 0 ? Math.round((width * done) / total) : 0;
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/**
 * The progress reporter: on a terminal one line redrawn in place (suite i of
 * n, a bar of its contender runs, the one running now); elsewhere a plain
 * line per contender run.
 */
function progressTo(stderr) {
  if (!stderr.isTTY) {
    return (text, step) => {
      if (step) stderr.write(`bench: [${step.suiteIndex + 1}/${step.suiteCount}] ${step.step + 1}/${step.steps} ${text}\n`);
    };
  }
  return (text, step) => {
    if (!step) return void stderr.write('\r\x1b[K');
    const head = `[${step.suiteIndex + 1}/${step.suiteCount}] ${step.suite} ${bar(step.step, step.steps, 20)} ${step.step}/${step.steps} `;
    const rest = text.slice(text.indexOf(':') + 2);
    const room = Math.max(0, (stderr.columns || 80) - head.length - 1);
    stderr.write(`\r\x1b[K${head}${rest.slice(0, room)}`);
  };
}

/** Runs the chosen suites; prints the tables, then the chart's path. */
async function run({ values, stdout, stderr }) {
  let opts;
  try {
    opts = parseOptions(benchArgv(values), suites.map((s) => s.id));
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    throw new UsageError(err.message);
  }
  const { status, files } = await runBench(opts, {
    stdout, stderr, progress: progressTo(stderr), resultsDir: path.resolve('bench-results'),
  });
  const charts = files.filter((f) => f.endsWith('.svg'));
  if (charts.length > 0) stdout.write(`chart: ${charts[0]}\n`);
  return status;
}

module.exports = { usage, options, positionals, run };

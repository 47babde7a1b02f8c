'use strict';
// `npm run bench`: runs every suite in suites/ with all its contenders
// interleaved, prints one table per suite, and writes the results as JSON.
//
//   node scripts/bench/index.js [--reps N] [--quick] [--json PATH] [--suite ID]
//
// Layout: lib/harness.js interleaves contenders and computes statistics,
// lib/stats.js holds the statistics, lib/table.js the printing, lib/report.js
// the JSON output, lib/placement.js the machine facts, lib/placement-node.js
// where contender processes ran, lib/pair-contender.js runs the cases of a
// contender made of processes, lib/child.js runs contender processes and
// compiles C ones, lib/resources.js cleans up, lib/peers.js knows which
// suites need packages that are only devDependencies. `posix-ipc bench`
// (scripts/cli/bench.js) calls runBench with a progress bar of its own.

const fs = require('node:fs');
const path = require('node:path');

const { parseOptions, usage, UsageError } = require('./lib/options');
const suites = require('./suites');

const DIST = path.join(__dirname, '..', '..', 'dist');

/**
 * Runs the suites of `opts` (parseOptions' result): prints the tables to
 * `stdout`, warnings and failures to `stderr`, writes the JSON and its chart,
 * and resolves with { status, files }: the exit status (0, or 1 when the
 * library does not load or cleanup was incomplete) and the files written (each
 * JSON file and its .svg chart). `progress(text, step)` hears of each contender run:
 * step is { suite, suiteIndex, suiteCount, step, steps } (steps of that
 * suite). Suites whose peer packages are missing (lib/peers.js) are skipped,
 * with a line on stderr saying which. `resultsDir` replaces bench-results/ at
 * the repository root when there is no --json.
 */
async function runBench(opts, { stdout, stderr, progress = () => {}, resultsDir } = {}) {
  const fail = (message) => {
    stderr.write(`bench: ${message}\n`);
    return 1;
  };
  try {
    require(DIST);
  } catch (err) {
    const status = fail(
      `cannot load the library from ${DIST}: ${err.message.split('\n')[0]}\n` +
        'Build it first: npx tsc -p tsconfig.build.json (and npx node-gyp rebuild when build/ is missing).',
    );
    return { status, files: [] };
  }

  const resources = require('./lib/resources');
  const placement = require('./lib/placement');
  const { runSuite } = require('./lib/harness');
  const { renderSuite } = require('./lib/table');
  const { writeResults } = require('./lib/report');
  const { missingPeers } = require('./lib/peers');
  resources.install();

  if (opts.reps < 3) stderr.write(`bench: warning: ${opts.reps} rep(s); ranges need at least 3\n`);

  const chosen = [];
  for (const suite of suites.filter((s) => opts.suites.includes(s.id))) {
    const missing = missingPeers(suite.id);
    if (missing.length === 0) chosen.push(suite);
    else stderr.write(`bench: skipping suite ${suite.id}: it needs ${missing.join(', ')}, not installed (npm install ${missing.join(' ')})\n`);
  }

  const startedAt = new Date();
  const where = placement.start();
  const results = [];
  for (const [suiteIndex, suite] of chosen.entries()) {
    const hear = (text, step) => progress(text, { suite: suite.id, suiteIndex, suiteCount: chosen.length, ...step });
    results.push(await runSuite(suite, { reps: opts.reps, quick: opts.quick, progress: hear }));
  }
  progress('', null);
  const finishedAt = new Date();
  const place = placement.finish(where, results);

  // Clean up now rather than at exit, so the report can say that it worked.
  const tmpDir = resources.tempDirPath();
  resources.cleanup();
  const leftovers = resources.leftoverShm();
  const leftoverMq = resources.leftoverMq();
  const tmpDirRemoved = tmpDir === null || !fs.existsSync(tmpDir);

  const pkg = require('../../package.json');
  const report = {
    schema: 1,
    tool: `${pkg.name} bench`,
    version: pkg.version,
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt - startedAt,
    options: { reps: opts.reps, quick: opts.quick, suites: chosen.map((s) => s.id) },
    placement: place,
    cleanup: { shmPrefix: resources.SHM_PREFIX, leftoverShm: leftovers, leftoverMq, tmpDir, tmpDirRemoved },
    suites: results,
  };

  const out = [
    `${report.tool} ${pkg.version}: ${startedAt.toISOString()}, node ${process.version}, linux ${place.kernel}, ${place.cc ?? 'no C compiler'}`,
    placement.render(place),
    '',
  ];
  for (const r of results) out.push(renderSuite(r), '');
  const files = writeResults(report, { json: opts.json, startedAt, dir: resultsDir });
  out.push(`results: ${files.join(', ')} (${((finishedAt - startedAt) / 1000).toFixed(1)} s)`);
  stdout.write(`${out.join('\n')}\n`);

  if (leftovers.length > 0 || leftoverMq.length > 0 || !tmpDirRemoved) {
    const what = [...leftovers.map((n) => `/dev/shm/${n}`), ...leftoverMq.map((n) => `message queue ${n}`), ...(tmpDirRemoved ? [] : [tmpDir])];
    return { status: fail(`cleanup incomplete: ${what.join(', ')}`), files };
  }
  return { status: 0, files };
}

/** `npm run bench`: options from argv, progress on a terminal only, in place. */
async function main(argv) {
  const suiteIds = suites.map((s) => s.id);
  let opts;
  try {
    opts = parseOptions(argv, suiteIds);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${usage(suiteIds)}`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(usage(suiteIds));
    return 0;
  }
  const progress = process.stderr.isTTY ? (msg) => process.stderr.write(`\r\x1b[K${msg}`) : () => {};
  const { status } = await runBench(opts, { stdout: process.stdout, stderr: process.stderr, progress });
  return status;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (err) => {
      process.stderr.write(`bench: ${err.stack || String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { runBench, suites };

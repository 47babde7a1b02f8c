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
// compiles C ones, lib/resources.js cleans up.

const fs = require('node:fs');
const path = require('node:path');

const { parseOptions, usage, UsageError } = require('./lib/options');
const suites = require('./suites');

const DIST = path.join(__dirname, '..', '..', 'dist');

function fail(message, status) {
  process.stderr.write(`bench: ${message}\n`);
  process.exitCode = status;
}

async function main(argv) {
  const suiteIds = suites.map((s) => s.id);
  let opts;
  try {
    opts = parseOptions(argv, suiteIds);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${usage(suiteIds)}`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(usage(suiteIds));
    return;
  }
  try {
    require(DIST);
  } catch (err) {
    fail(
      `cannot load the library from ${DIST}: ${err.message.split('\n')[0]}\n` +
        'Build it first: npx tsc -p tsconfig.build.json (and npx node-gyp rebuild when build/ is missing).',
      1,
    );
    return;
  }

  const resources = require('./lib/resources');
  const placement = require('./lib/placement');
  const { runSuite } = require('./lib/harness');
  const { renderSuite } = require('./lib/table');
  const { writeResults } = require('./lib/report');
  resources.install();

  const progress = process.stderr.isTTY ? (msg) => process.stderr.write(`\r\x1b[K${msg}`) : () => {};
  if (opts.reps < 3) process.stderr.write(`bench: warning: ${opts.reps} rep(s); ranges need at least 3\n`);

  const startedAt = new Date();
  const where = placement.start();
  const results = [];
  for (const suite of suites.filter((s) => opts.suites.includes(s.id))) {
    results.push(await runSuite(suite, { reps: opts.reps, quick: opts.quick, progress }));
  }
  progress('');
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
    options: { reps: opts.reps, quick: opts.quick, suites: opts.suites },
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
  const files = writeResults(report, { json: opts.json, startedAt });
  out.push(`results: ${files.join(', ')} (${((finishedAt - startedAt) / 1000).toFixed(1)} s)`);
  process.stdout.write(`${out.join('\n')}\n`);

  if (leftovers.length > 0 || leftoverMq.length > 0 || !tmpDirRemoved) {
    const what = [...leftovers.map((n) => `/dev/shm/${n}`), ...leftoverMq.map((n) => `message queue ${n}`), ...(tmpDirRemoved ? [] : [tmpDir])];
    fail(`cleanup incomplete: ${what.join(', ')}`, 1);
  }
}

main(process.argv.slice(2)).catch((err) => fail(err.stack || String(err), 1));

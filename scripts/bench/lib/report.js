'use strict';
// Writing results as JSON, and next to each JSON file the SVG chart of the
// run (lib/chart.js, same name ending in .svg). Without --json a run goes to
// bench-results/bench-<timestamp>.json and bench-results/latest.json at the
// repository root (bench-results/ is gitignored); with --json PATH only to
// PATH (and PATH's .svg).

const fs = require('node:fs');
const path = require('node:path');

const { renderChart } = require('./chart');

const RESULTS_DIR = path.join(__dirname, '..', '..', '..', 'bench-results');

/** `2025-01-31T12-34-56-789Z`: an ISO time that is safe in a file name. */
function stamp(date) {
  return date.toISOString().replace(/[:.]/g, '-');
}

function writeAtomically(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** The chart's file for a JSON file: `x.json` -> `x.svg`, anything else gets `.svg` added. */
function chartPath(file) {
  return file.endsWith('.json') ? `${file.slice(0, -'.json'.length)}.svg` : `${file}.svg`;
}

/** Writes `result` and its chart (without `json`, into `dir`); returns the paths written. */
function writeResults(result, { json = null, startedAt, dir = RESULTS_DIR }) {
  const text = `${JSON.stringify(result, null, 2)}\n`;
  const svg = renderChart(result);
  const files = json !== null ? [path.resolve(json)] : [path.join(dir, `bench-${stamp(startedAt)}.json`), path.join(dir, 'latest.json')];
  const written = [];
  for (const file of files) {
    writeAtomically(file, text);
    writeAtomically(chartPath(file), svg);
    written.push(file, chartPath(file));
  }
  return written;
}

module.exports = { writeResults, chartPath, RESULTS_DIR };

'use strict';
// Writing results as JSON. Without --json a run goes to
// bench-results/bench-<timestamp>.json and bench-results/latest.json at the
// repository root (bench-results/ is gitignored); with --json PATH only to PATH.

const fs = require('node:fs');
const path = require('node:path');

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

/** Writes `result`; returns the paths written. */
function writeResults(result, { json = null, startedAt }) {
  const text = `${JSON.stringify(result, null, 2)}\n`;
  if (json !== null) {
    const file = path.resolve(json);
    writeAtomically(file, text);
    return [file];
  }
  const file = path.join(RESULTS_DIR, `bench-${stamp(startedAt)}.json`);
  const latest = path.join(RESULTS_DIR, 'latest.json');
  writeAtomically(file, text);
  writeAtomically(latest, text);
  return [file, latest];
}

module.exports = { writeResults, RESULTS_DIR };

'use strict';
// Which suites need packages that are only devDependencies of this package
// (an installed posix-ipc has none of them): the bench skips such a suite,
// saying why, and runs the others.

const fs = require('node:fs');
const path = require('node:path');

/** Suite id -> the packages its contenders load (suites/pool-node.js: piscina, tinypool, workerpool). */
const PEERS = {
  pool: ['piscina', 'tinypool', 'workerpool'],
};

/**
 * Whether `name` is installed where a contender script in suites/ would find
 * it. Looks for its package.json along Node's search path rather than
 * require.resolve(name): an ES-module-only package (tinypool) has no entry
 * that require() resolves.
 */
function installed(name) {
  // suites/ and lib/ share every node_modules directory above scripts/bench.
  const dirs = require.resolve.paths(name) ?? [];
  return dirs.some((dir) => fs.existsSync(path.join(dir, name, 'package.json')));
}

/** The packages suite `id` needs that are not installed (empty when it can run). */
function missingPeers(id) {
  return (PEERS[id] ?? []).filter((name) => !installed(name));
}

module.exports = { missingPeers, PEERS };

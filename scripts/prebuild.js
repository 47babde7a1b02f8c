#!/usr/bin/env node
'use strict';
/**
 * Builds the prebuilt addon that the package ships: prebuilds/<platform>-<arch>/,
 * made by prebuildify (one N-API build serves every Node.js version), stripped,
 * then loaded in a child to prove it works.
 *
 *   node scripts/prebuild.js          npm run prebuild: build for this machine
 *   node scripts/prebuild.js --pack   npm's prepack: the same, and refuse to pack
 *                                     unless prebuilds/linux-x64 is there
 *
 * Packing always builds afresh rather than trusting a prebuilds/ left from an
 * earlier run, which may come from older sources: a release must never go out
 * without a prebuild, nor with a stale one. Where the build cannot run (no
 * python3, make, C++ compiler or strip), it says what is missing and exits 1,
 * which stops `npm pack` and `npm publish` before a tarball is made.
 *
 * prepack runs only for `npm pack` and `npm publish`, never for `npm install`
 * or `npm ci` of a clone (those run `install` and `prepare`), so development
 * and CI pay nothing for it.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const here = `${process.platform}-${process.arch}`;
/** The prebuilds the README promises: a package without one of them is not released. */
const promised = ['linux-x64'];
const packing = process.argv.includes('--pack');

/** Stops with a message that says what happened, why, and what to do; npm shows stderr. */
function refuse(problem, why, fix) {
  process.stderr.write(`\nposix-ipc: ${problem}${packing ? ', so the package is not packed' : ''}:\n  ${why}\n  ${fix}\n\n`);
  process.exit(1);
}
const cannot = `cannot build the prebuilt addon for ${here}`;

/** Whether `command` is an executable file in a directory of PATH (or is a path to one). */
function reachable(command) {
  const candidates = command.includes('/') ? [command] : (process.env.PATH || '').split(':').filter(Boolean).map((dir) => path.join(dir, command));
  return candidates.some((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** The first word of a command variable such as CXX="ccache g++" is what must exist. */
function firstWord(value) {
  return value.trim().split(/\s+/)[0];
}

// What node-gyp needs, checked first so a missing tool is named in one line
// instead of surfacing as a stack of node-gyp errors.
const missing = [];
const python = process.env.PYTHON || process.env.npm_config_python;
if (python ? !reachable(python) : !reachable('python3')) missing.push(python ? `python (${python})` : 'python3');
if (!reachable('make')) missing.push('make');
const cxx = process.env.CXX ? [firstWord(process.env.CXX)] : ['c++', 'g++', 'clang++'];
if (!cxx.some(reachable)) missing.push(process.env.CXX ? `a C++ compiler (CXX=${process.env.CXX})` : 'a C++ compiler (c++, g++ or clang++)');
const stripBin = process.env.PREBUILD_STRIP_BIN || 'strip';
if (!reachable(stripBin)) missing.push(stripBin);
if (missing.length > 0) {
  refuse(cannot, `not found on PATH: ${missing.join(', ')}.`, 'Install them (e.g. apt-get install python3 make g++ binutils) and run it again.');
}

// node-gyp builds against the running Node's own headers when they are
// installed beside it (as .ci/run does), instead of downloading them.
const env = { ...process.env };
const headers = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
if (!env.npm_config_nodedir && fs.existsSync(path.join(headers, 'node_api.h'))) {
  env.npm_config_nodedir = path.dirname(path.dirname(headers));
}

const started = Date.now();
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
// stdout is npm's for `npm pack --json`: build chatter goes to stderr.
const build = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--target=${process.versions.node}`], {
  cwd: root,
  env,
  stdio: ['ignore', 2, 2],
});
if (build.status !== 0) {
  refuse(cannot, `prebuildify (node-gyp) failed: ${build.error ? build.error.message : `exit status ${build.status ?? build.signal}`}; its output is above.`, 'Fix the build, then run it again.');
}

// The file prebuildify just wrote must load: an addon that cannot be opened is
// no better than none.
const dir = path.join(root, 'prebuilds', here);
const fresh = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => f.endsWith('.node') && fs.statSync(path.join(dir, f)).mtimeMs >= started - 1000);
if (fresh.length !== 1) refuse(cannot, `expected one new .node file in prebuilds/${here}, found ${fresh.length ? fresh.join(', ') : 'none'}.`, 'Look at the build output above.');
const addon = path.join(dir, fresh[0]);
const probe = spawnSync(process.execPath, ['-e', 'const m = { exports: {} }; process.dlopen(m, process.argv[1]); if (typeof m.exports.shmOpen !== "function") process.exit(3);', addon], {
  stdio: ['ignore', 'ignore', 'pipe'],
  encoding: 'utf8',
});
if (probe.status !== 0) refuse(cannot, `the new prebuild ${path.relative(root, addon)} does not load: ${probe.stderr.trim() || `exit status ${probe.status}`}.`, 'Look at the build output above.');
process.stderr.write(`posix-ipc: built ${path.relative(root, addon)} (${fs.statSync(addon).size} bytes)\n`);

if (packing) {
  const absent = promised.filter((tuple) => !fs.existsSync(path.join(root, 'prebuilds', tuple)) || !fs.readdirSync(path.join(root, 'prebuilds', tuple)).some((f) => f.endsWith('.node')));
  if (absent.length > 0) {
    refuse(`prebuilds/ has no addon for ${absent.join(', ')}`, `the README promises a prebuilt addon for ${promised.join(', ')}.`, `Pack on ${absent.join(', ')}, or copy prebuilds/${absent[0]}/ from a build there first.`);
  }
}

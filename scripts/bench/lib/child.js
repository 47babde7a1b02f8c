'use strict';
// Running contenders as child processes, and building the C ones.
//
// The protocol is one JSON object on the child's last line of stdout; a child
// reports failure with a non-zero exit status and a message on stderr. Every
// contender, C or Node, runs in a fresh process of its own, so each one starts
// from the same state: nothing mapped, no warm heap, no JIT history.

const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');

const resources = require('./resources');

const CHILD_TIMEOUT_MS = 120_000;
const DIST = path.join(__dirname, '..', '..', '..', 'dist');

/**
 * Runs `file args...` to completion and resolves with the JSON object on the
 * last line of its stdout. Rejects on a non-zero exit, a signal, a timeout or
 * output that is not JSON. Aborting `signal` kills the child (for contenders
 * that run as a pair of processes: when one fails, the other would wait
 * forever for it).
 *
 * `fds` places descriptors in the child, `{ 3: end, 4: 17 }` (a number or
 * anything with an `fd`, e.g. a PipeEnd or a UnixSocket): the child is then
 * started with the library's spawn, which passes exactly those (and stdio)
 * and nothing else of this process.
 */
function runJson(file, args, { label = path.basename(file), timeoutMs = CHILD_TIMEOUT_MS, signal, fds } = {}) {
  return new Promise((resolve, reject) => {
    const options = { stdio: ['ignore', 'pipe', 'pipe'], signal };
    // Required here, so that --help and usage errors work without a built library.
    const child = fds && Object.keys(fds).length > 0
      ? require(DIST).spawn(file, args, { ...options, fds })
      : spawn(file, args, options);
    resources.trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${label}: ${err.message}`));
    });
    child.on('close', (code, how) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${label} ${how ? `was killed by ${how}` : `exited with status ${code}`}${stderr ? `:\n${stderr.trimEnd()}` : ''}`));
        return;
      }
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${label} printed no JSON result; stdout was:\n${stdout}`));
      }
    });
  });
}

/**
 * Runs the processes of one contender run together: `start(signal)` starts
 * them and returns their promises (runJson's). Resolves with all results;
 * when one fails, `signal` aborts, which kills the others (a side whose peer
 * is gone would wait forever), and the first failure is thrown.
 */
async function runTogether(start) {
  const abort = new AbortController();
  try {
    const sides = start(abort.signal).map((p) =>
      p.catch((err) => {
        abort.abort();
        throw err;
      }),
    );
    return await Promise.all(sides);
  } finally {
    abort.abort();
  }
}

/** The compiler: $CC, else `cc`. */
function compiler() {
  return process.env.CC || 'cc';
}

let compilerVersion;

/** First line of `cc --version`, or null when there is no compiler. */
function compilerInfo() {
  if (compilerVersion === undefined) {
    try {
      const out = execFileSync(compiler(), ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      compilerVersion = out.split('\n')[0].trim();
    } catch {
      compilerVersion = null;
    }
  }
  return compilerVersion;
}

const CFLAGS = ['-O2', '-std=c11', '-Wall', '-Wextra', '-D_GNU_SOURCE'];
const LDLIBS = ['-lrt'];

/**
 * Compiles one C source file into this run's temporary directory with the
 * system compiler (`cc -O2 ... -lrt`, `-iquote` each of `includeDirs`: only
 * `#include "..."` looks there, so a header of ours cannot shadow a system one such as <mqueue.h>)
 * and returns the executable's path.
 */
function compileC(source, name = path.basename(source, '.c'), includeDirs = []) {
  const out = path.join(resources.tempDir(), name);
  const args = [...CFLAGS, ...includeDirs.flatMap((dir) => ['-iquote', dir]), '-o', out, source, ...LDLIBS];
  try {
    execFileSync(compiler(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const detail = err.code === 'ENOENT' ? `'${compiler()}' not found (set CC to a C compiler)` : String(err.stderr || err.message).trimEnd();
    throw new Error(`compiling ${path.basename(source)} failed: ${detail}`);
  }
  return out;
}

/** The command line compileC uses, for the report. */
function compileCommand(source) {
  return [compiler(), ...CFLAGS, '-o', '<tmp>/' + path.basename(source, '.c'), path.basename(source), ...LDLIBS].join(' ');
}

module.exports = { runJson, runTogether, compileC, compileCommand, compilerInfo };

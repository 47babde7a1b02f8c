'use strict';
// Everything a bench run creates outside its own memory, and its removal:
// shared-memory and message-queue names, one temporary directory (compiled C
// contenders), and child processes. Cleanup runs on normal exit, on an uncaught error, and on
// SIGINT/SIGTERM/SIGHUP, so an interrupted run leaves nothing in /dev/shm or
// the temp dir.
//
// Contenders unlink their shared-memory object as soon as it is mapped; the
// parent unlinks every name it handed out once more at exit, in case a child
// died between shm_open and shm_unlink.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SHM_PREFIX = `/posix-ipc-bench-${process.pid}-`;

const names = new Set();
const mqNames = new Set();
const mqNamesHandedOut = new Set();
const children = new Set();
let tmpDir = null;
let installed = false;
let counter = 0;

/** A fresh object name, `/posix-ipc-bench-<pid>-<parts>-<n>`, unlinked at exit. */
function shmName(...parts) {
  const name = `${SHM_PREFIX}${[...parts, counter++].join('-')}`;
  names.add(name);
  return name;
}

/**
 * A fresh message-queue name, `/posix-ipc-bench-<pid>-<parts>-<n>`, unlinked
 * at exit (suites unlink their queues after each run; this is the safety net).
 */
function mqName(...parts) {
  const name = `${SHM_PREFIX}${[...parts, counter++].join('-')}`;
  mqNames.add(name);
  mqNamesHandedOut.add(name);
  return name;
}

/** This run's temporary directory (created on first use, removed at exit). */
function tempDir() {
  if (tmpDir === null) tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `posix-ipc-bench-${process.pid}-`));
  return tmpDir;
}

/** The temporary directory's path, or null when none was made. */
function tempDirPath() {
  return tmpDir;
}

/** Registers a running child so an interrupted run kills it. */
function trackChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Entries of /dev/shm that this run made and that still exist. */
function leftoverShm() {
  const prefix = SHM_PREFIX.slice(1);
  try {
    return fs.readdirSync('/dev/shm').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * Message queues this run named that still exist. There may be no mqueue
 * filesystem to list, so each name is tried with mq_open.
 */
function leftoverMq() {
  const { MessageQueue } = require('../../../dist');
  return [...mqNamesHandedOut].filter((name) => {
    try {
      MessageQueue.open(name).close();
      return true;
    } catch (err) {
      return err.code !== 'ENOENT';
    }
  });
}

/** Removes everything this run created. Synchronous and idempotent. */
function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  // Required here, not at load time, so that --help and usage errors work
  // without a built library.
  const { SharedMemory, MessageQueue } = require('../../../dist');
  for (const [set, unlink] of [[names, (n) => SharedMemory.unlink(n)], [mqNames, (n) => MessageQueue.unlink(n)]]) {
    for (const name of set) {
      try {
        unlink(name);
      } catch (err) {
        if (err.code !== 'ENOENT') process.stderr.write(`bench: could not unlink ${name}: ${err.message}\n`);
      }
    }
    set.clear();
  }
  if (tmpDir !== null) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    tmpDir = null;
  }
}

/** Installs the exit and signal handlers (once). */
function install() {
  if (installed) return;
  installed = true;
  process.on('exit', cleanup);
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const [signal, number] of Object.entries(signals)) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      cleanup();
      process.exit(128 + number);
    });
  }
}

module.exports = {
  SHM_PREFIX, shmName, mqName, tempDir, tempDirPath, trackChild, leftoverShm, leftoverMq, cleanup, install,
};

'use strict';
// The tasks of the pool suite, one module that every contender's workers run
// (Pool, piscina and tinypool load it directly; workerpool and the fork loop
// through their own tiny worker modules), so the work is the same everywhere:
// `empty` does nothing, `echo` returns its argument (a Buffer, plain or over
// SharedMemory) as it came.

/** An empty task: what a round trip costs with no work in it. */
function empty() {
  return null;
}

/** Returns its argument: the bytes go to the worker and back. */
function echo(buf) {
  return buf;
}

module.exports = { empty, echo };

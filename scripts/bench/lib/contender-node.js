'use strict';
// What every Node contender script shares: its messages (as the C contenders
// make them: `size` bytes of 0x5a, the sequence number in the first four) and
// how it runs as a child process.

/** A message of `size` bytes; the caller writes its sequence number at offset 0. */
function message(size) {
  return Buffer.alloc(size, 0x5a);
}

/** Whether `data` is message `seq`: `size` bytes, its sequence number first. */
function isMessage(data, size, seq) {
  return data.length === size && data.readUInt32LE(0) === seq >>> 0;
}

/**
 * Prints a role's JSON line (`result` and `extra`, e.g. the mode and role)
 * and returns the exit status: 1 when the messages failed their checks.
 */
function printResult(result, extra) {
  process.stdout.write(`${JSON.stringify({ ...result, ...extra })}\n`);
  if (result.verified !== false) return 0;
  process.stderr.write('verification failed: a message arrived out of order or with the wrong size\n');
  return 1;
}

/** Runs `main(argv)` when `mod` is the entry point; its result is the exit code. */
function runAsScript(mod, main) {
  if (require.main !== mod) return;
  main(process.argv.slice(2)).then(
    (status) => (process.exitCode = status),
    (err) => {
      process.stderr.write(`${err.stack || err}\n`);
      process.exitCode = 1;
    },
  );
}

module.exports = { isMessage, message, printResult, runAsScript };

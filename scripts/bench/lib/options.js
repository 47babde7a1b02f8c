'use strict';
// Command-line options of `npm run bench` (node scripts/bench/index.js).

const USAGE = `Usage: node scripts/bench/index.js [options]

  --reps N        Interleaved repetitions per suite (default 5; 3 with --quick).
  --quick         Small sizes and few iterations: the whole run takes seconds.
  --json PATH     Write the JSON results to PATH only (default: both
                  bench-results/bench-<timestamp>.json and bench-results/latest.json).
  --suite ID      Run only this suite (repeatable). Suites: SUITES.
  -h, --help      Print this text.
`;

class UsageError extends Error {}

/** The usage text, with the known suite ids filled in. */
function usage(suiteIds) {
  return USAGE.replace('SUITES', suiteIds.join(', '));
}

/**
 * Parses argv (without node and the script). Accepts `--opt value` and
 * `--opt=value`. Throws UsageError for anything it does not know.
 */
function parseOptions(argv, suiteIds) {
  const opts = { reps: null, quick: false, json: null, suites: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const value = () => {
      if (eq !== -1) return arg.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--reps': {
        const text = value();
        const n = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
          throw new UsageError(`--reps must be a positive integer, got '${text}'`);
        }
        opts.reps = n;
        break;
      }
      case '--quick':
        if (eq !== -1) throw new UsageError('--quick takes no value');
        opts.quick = true;
        break;
      case '--json': {
        const p = value();
        if (p === '') throw new UsageError('--json needs a path');
        opts.json = p;
        break;
      }
      case '--suite': {
        const id = value();
        if (!suiteIds.includes(id)) throw new UsageError(`unknown suite '${id}' (known: ${suiteIds.join(', ')})`);
        opts.suites.push(id);
        break;
      }
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        throw new UsageError(`unknown option '${arg}'`);
    }
  }
  if (opts.reps === null) opts.reps = opts.quick ? 3 : 5;
  if (opts.suites.length === 0) opts.suites = suiteIds.slice();
  return opts;
}

module.exports = { parseOptions, usage, UsageError };

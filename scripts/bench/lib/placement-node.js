'use strict';
// Where a contender process ran during its timed part, and what the suites
// make of it. The record is the same from C (suites/bench.h prints it) and
// from Node (Placement below): the CPU at the start and at the end of the
// timed part, CPU migrations and voluntary context switches (sleeps) during
// it, from /proc/self/sched; -1 where the kernel does not say.
//
//   { cpuStart, cpuEnd, migrations, voluntarySwitches }
//
// Loaded by the Node contender processes (Placement) and by the suites
// (placementOf, placementNote); it needs neither the library nor the harness.
// (lib/placement.js is the other kind of placement: the machine's CPUs and noise.)

const fs = require('node:fs');

const { median } = require('./stats');

/** /proc/self/sched counters (CPU migrations, voluntary context switches). */
function schedCounts() {
  const counts = { migrations: -1, voluntary: -1 };
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/sched', 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s*:\s*(-?\d+)/.exec(line);
    if (m?.[1] === 'se.nr_migrations') counts.migrations = Number(m[2]);
    if (m?.[1] === 'nr_voluntary_switches') counts.voluntary = Number(m[2]);
  }
  return counts;
}

/** The CPU this process runs on now (field 39 of /proc/self/stat). */
function currentCpu() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  // The command name (field 2) may hold spaces; count fields after its ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[36]);
}

/** Where a role ran during its timed part: start() and end() are called outside the timed code. */
class Placement {
  start() {
    this.before = schedCounts();
    this.cpuStart = currentCpu();
  }

  end() {
    const cpuEnd = currentCpu();
    const after = schedCounts();
    const delta = (k) => (after[k] < 0 || this.before[k] < 0 ? -1 : after[k] - this.before[k]);
    return { cpuStart: this.cpuStart, cpuEnd, migrations: delta('migrations'), voluntarySwitches: delta('voluntary') };
  }
}

/**
 * Where the two processes of one run were: 'same' CPU or 'split' over two
 * when neither migrated during its timed part, else 'moved'.
 */
function placementOf({ a, b }) {
  const stayed = (p) => p.migrations === 0 && p.cpuStart === p.cpuEnd;
  if (!stayed(a) || !stayed(b)) return 'moved';
  return a.cpuEnd === b.cpuEnd ? 'same' : 'split';
}

/**
 * One part of a contender's note about where its processes ran, over its
 * runs so far, for one case: how many runs had both sides on the same CPU,
 * split over two CPUs or moving (with the per-rep sequence, to compare with
 * the other contenders of the same rep, and the migrations of a moved run),
 * and the median sleeps (voluntary context switches) per message of each
 * side. `pairs` holds one { a, b } record pair per run (with `lineRttNs`,
 * [before, after], when the suite probed the placement around it); `sides`
 * names them ('ping/pong').
 */
function placementNote(label, pairs, perMessage, sides) {
  const kinds = pairs.map(placementOf);
  const tally = ['same', 'split', 'moved'].map((k) => `${k} ${kinds.filter((x) => x === k).length}`).join(', ');
  // A moved run shows its migrations (a+b): 1+0 is not 40+40.
  const byRep = kinds.map((k, i) => (k === 'moved' ? `moved(${pairs[i].a.migrations}+${pairs[i].b.migrations})` : k));
  const sleeps = (side) => median(pairs.map((p) => p[side].voluntarySwitches / perMessage)).toFixed(2);
  // Pinned pairs of the channel suite: a cache line's round trip between their CPUs before/after each run.
  const bounce = pairs.every((p) => p.lineRttNs) ? `, cache-line round trip between the CPUs before/after (ns, by rep): ${pairs.map((p) => p.lineRttNs.join('/')).join(' ')}` : '';
  return `${label}: ${tally} (by rep: ${byRep.join(' ')}), sleeps per message ${sides} ${sleeps('a')}/${sleeps('b')}${bounce}`;
}

module.exports = { Placement, placementOf, placementNote };

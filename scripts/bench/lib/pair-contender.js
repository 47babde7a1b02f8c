'use strict';
// The contender of a suite whose cases run in fresh child processes (mq,
// pipe, channel, sync): per rep it runs each case once (usually two
// processes, a ping/pong or produce/consume pair), checks the side that
// verifies the messages, turns that side's times into the case's samples,
// and keeps where the processes ran for the contender's note. A suite gives
// it a table of cases (roundTrip, oneWay, solo below) and `pair`, how to
// start one case's processes.

const { runJson } = require('./child');
const { placementNote } = require('./placement-node');

/** A round trip case: ping/pong, one sample per round trip in µs, ping verifies. */
function roundTrip(id, label, count) {
  return {
    id,
    kind: 'rtt',
    roles: ['ping', 'pong'],
    verify: 0,
    samples: ([ping]) => ping.rtt_ns.map((ns) => ns / 1000),
    placement: { label, count, sides: 'ping/pong' },
  };
}

/**
 * A one-way case: produce/consume, the consumer verifies; one sample per
 * chunk, `per` bytes per unit (the message size for msg/s, 1e6 for MB/s) per second.
 */
function oneWay(id, label, count, per) {
  return {
    id,
    kind: 'oneway',
    roles: ['produce', 'consume'],
    verify: 1,
    samples: ([, consumer]) => consumer.chunk_ns.map((ns, i) => (consumer.chunk_bytes[i] / per / ns) * 1e9),
    placement: { label, count, sides: 'producer/consumer' },
  };
}

/** A case run by one process (`samples` from its result), with no verification and no placement. */
function solo(id, samples) {
  return { id, kind: 'solo', roles: ['solo'], verify: null, samples: ([out]) => samples(out), placement: null };
}

/** `command(role, ...args)` of a side: runs `file` with `prefix`, the role and the numbers (all strings). */
function commandOf(file, ...prefix) {
  return (role, ...args) => [file, [...prefix, role, ...args]];
}

/**
 * Starts case `c`'s processes, one per role, and returns their promises: side
 * i runs `command(role, ...ends(i), ...numbers)` (the numbers as strings,
 * by default the case's own) with the descriptors `fds(i)`.
 */
function startRoles(c, { label, command, ends, numbers = c.numbers, fds = () => undefined }, signal) {
  return c.roles.map((role, i) => {
    const [file, args] = command(role, ...ends(i), ...numbers.map(String));
    return runJson(file, args, { label: `${label} ${role}`, fds: fds(i), signal });
  });
}

/**
 * A contender. `spec`: id, label, group, baseline, versus, `code` (its note
 * before any run); `where` ('unpinned', or the CPUs it is pinned to) and
 * `separator` (between the cases' placement parts) shape the note.
 * `pair(c)` starts case `c`'s processes (`c.roles`) and resolves with their
 * results [a, b] and, optionally, the placement record of the run (by
 * default { a, b } of the two results' `placement`). The per-run samples stay
 * in `results` for comparisons between contenders.
 */
function pairContender(spec, cases, pair) {
  const { id, label, group, baseline = false, versus, code, where = 'unpinned', separator = '; ' } = spec;
  const runs = [];
  const results = [];
  const placed = cases.filter((c) => c.placement !== null);
  return {
    id,
    label,
    group,
    baseline,
    ...(versus && { versus }),
    code,
    results,
    get note() {
      if (runs.length === 0) return code;
      const parts = placed.map(({ id: caseId, placement: { label: what, count, sides } }) =>
        placementNote(what, runs.map((r) => r[caseId]), count, sides));
      return `${code}\n    placement (${where}) ${parts.join(separator)}`;
    },
    async run() {
      const result = {};
      const placements = {};
      for (const c of cases) {
        const [a, b, placement = { a: a.placement, b: b?.placement }] = await pair(c);
        if (c.verify !== null && [a, b][c.verify].verified !== true) {
          throw new Error(`${label} ${c.roles[c.verify]} ${c.id}: messages arrived out of order or with the wrong size`);
        }
        result[c.id] = c.samples([a, b]);
        if (c.placement !== null) placements[c.id] = placement;
      }
      runs.push(placements);
      results.push(result);
      return result;
    },
  };
}

module.exports = { commandOf, pairContender, roundTrip, oneWay, solo, startRoles };

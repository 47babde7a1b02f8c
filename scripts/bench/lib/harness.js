'use strict';
// The interleaving harness. A suite hands it contenders; the harness runs
// every contender once per repetition, back to back, alternating the order
// between repetitions (rep 0: C, Node...; rep 1: ...Node, C), so slow drift
// of the machine (turbo, neighbours, page cache) hits all contenders alike.
// It then turns the samples into rows with statistics and ratios to the
// suite's baseline, marks the best contender of each group, and checks the
// suite's goal.
//
// A suite module exports:
//   id, title           'shm-copy', 'SharedMemory bulk copy bandwidth'
//   unit, higherIsBetter 'GB/s', true
//   cases               [{ id: 'in', label: 'into shm' }, ...]: what one contender run measures;
//                       a case may set its own unit and higherIsBetter (a suite that
//                       measures both latency and throughput)
//   goal (optional)     { group: 'Node', ratio: 0.8 }: the group's best vs the baseline, per case;
//                       or { contender: 'node-sync', ...} for one contender, `cases: [ids]` to
//                       limit it, or an array of such goals. `ratio` reads in the case's own
//                       direction: contender/baseline >= ratio when higher is better, and
//                       contender/baseline <= ratio (e.g. 1.5: at most 1.5x the time) when
//                       lower is better. `versus: id` takes the ratio against that
//                       contender instead (paired per rep, like the rows' ratios);
//                       `value` instead of `ratio` is an absolute bar for the p50, in the
//                       case's unit and direction ({ contender, cases, value: 20e6 }:
//                       at least 20 million msg/s).
//   params({ quick })   -> plain object of sizes/iterations (goes into the JSON)
//   prepare(params)     -> [{ id, label, group, baseline?, versus?, note?, run(rep) }]
//                          exactly one contender has baseline: true; run(rep)
//                          resolves with { <caseId>: number[] (samples in `unit`) };
//                          `versus` names another contender to take the ratios
//                          against instead of the baseline (like for like: a Node
//                          contender next to the C one that uses the same channel)
//   describe(params)    -> one line for the table heading (optional)

const stats = require('./stats');

/**
 * Runs one suite for `reps` interleaved repetitions; returns its result
 * object. `progress(text, { step, steps })` is called before each contender
 * run (step counts from 0).
 */
async function runSuite(suite, { reps, quick, progress = () => {} }) {
  const params = suite.params({ quick });
  const cases = suite.cases.map((c) => ({ unit: suite.unit, higherIsBetter: suite.higherIsBetter, ...c }));
  const contenders = await suite.prepare(params);
  const baselines = contenders.filter((c) => c.baseline);
  if (baselines.length !== 1) throw new Error(`suite ${suite.id}: needs exactly one baseline contender`);
  const baseline = baselines[0];
  const byId = new Map(contenders.map((c) => [c.id, c]));
  for (const c of contenders) {
    if (c.versus === undefined) continue;
    if (c.baseline || c.versus === c.id || !byId.has(c.versus)) {
      throw new Error(`suite ${suite.id}: contender ${c.id} has versus '${c.versus}', which is not another contender${c.baseline ? ' (the baseline takes none)' : ''}`);
    }
  }
  /** The contender whose p50s `c`'s ratios are taken against (null for the baseline). */
  const againstOf = (c) => (c === baseline ? null : (byId.get(c.versus) ?? baseline));

  const runs = new Map(contenders.map((c) => [c.id, []]));
  const orders = [];
  const started = Date.now();
  const steps = reps * contenders.length;
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? contenders : [...contenders].reverse();
    orders.push(order.map((c) => c.id));
    for (const [i, c] of order.entries()) {
      progress(`${suite.id}: rep ${rep + 1}/${reps}, ${c.label}`, { step: rep * contenders.length + i, steps });
      const result = await c.run(rep);
      for (const { id } of cases) {
        const samples = result[id];
        if (!Array.isArray(samples) || samples.length === 0 || !samples.every(Number.isFinite)) {
          throw new Error(`suite ${suite.id}: contender ${c.id} gave no valid samples for case '${id}'`);
        }
      }
      runs.get(c.id).push(result);
    }
  }

  const rows = [];
  for (const { id: caseId, higherIsBetter } of cases) {
    const summaries = new Map(contenders.map((c) => [
      c.id,
      runs.get(c.id).map((r) => ({ ...stats.summarize(r[caseId], higherIsBetter), samples: r[caseId] })),
    ]));
    const caseRows = contenders.map((c) => {
      const cReps = summaries.get(c.id);
      const against = againstOf(c);
      const againstReps = against === null ? null : summaries.get(against.id);
      return {
        case: caseId,
        contender: c.id,
        label: c.label,
        group: c.group,
        baseline: c === baseline,
        versus: against === null ? null : against.id,
        best: false,
        ...stats.aggregate(cReps),
        ratio: against === null ? null : stats.ratios(cReps, againstReps, higherIsBetter),
        // For a time (lower is better) also contender / baseline: "1.4x C's time".
        ...(!higherIsBetter && { timeRatio: against === null ? null : stats.ratios(cReps, againstReps, true) }),
        reps: cReps,
      };
    });
    // The best of each group is the one a headline compares: by the paired
    // ratio (the steadier measure on a noisy machine) when every member is
    // compared with the same contender, else by p50 (in the baseline's own
    // group, and where members have different versus).
    const groups = new Set(caseRows.map((r) => r.group));
    for (const group of groups) {
      const members = caseRows.filter((r) => r.group === group);
      const paired = members.every((r) => r.ratio && r.versus === members[0].versus);
      const score = paired ? (r) => r.ratio.p50 : (r) => (higherIsBetter ? r.p50 : -r.p50);
      members.reduce((best, r) => (score(r) > score(best) ? r : best)).best = true;
    }
    rows.push(...caseRows);
  }

  const goals = suite.goal ? [suite.goal].flat().map((g) => evaluateGoal(g, cases, rows, baseline, byId)) : [];
  const goal = Array.isArray(suite.goal) ? goals : (goals[0] ?? null);

  return {
    id: suite.id,
    title: suite.title,
    description: suite.describe ? suite.describe(params, reps) : suite.title,
    unit: suite.unit,
    higherIsBetter: suite.higherIsBetter,
    params,
    reps,
    durationMs: Date.now() - started,
    order: orders,
    baseline: baseline.id,
    contenders: contenders.map(({ id, label, group, baseline: b = false, versus = null, note = null }) => ({
      id, label, group, baseline: b, versus, note,
    })),
    cases,
    rows,
    goal,
  };
}

/**
 * One goal: the best contender of `group` (or the one `contender`) against
 * the baseline (or the goal's `versus`, else the contender's versus), in each
 * of its cases. For a lower-is-better case the reported ratio is
 * contender / other (the row's timeRatio), so it reads as "1.4x C's round
 * trip". A goal with `value` compares the p50 itself with that bar.
 */
function evaluateGoal(spec, cases, rows, baseline, byId) {
  const { group = null, contender = null, ratio, value } = spec;
  if (spec.versus !== undefined && !byId.has(spec.versus)) throw new Error(`goal ${JSON.stringify(spec)}: versus names no contender`);
  const goalCases = spec.cases ? cases.filter((c) => spec.cases.includes(c.id)) : cases;
  const results = goalCases.map(({ id, higherIsBetter }) => {
    const row = rows.find((r) =>
      r.case === id && (contender !== null ? r.contender === contender : r.group === group && r.best));
    if (!row || (!row.ratio && value === undefined && spec.versus === undefined)) throw new Error(`goal ${JSON.stringify(spec)}: no contender row for case '${id}'`);
    if (value !== undefined) {
      return {
        case: id, contender: row.contender, value: row.p50, met: higherIsBetter ? row.p50 >= value : row.p50 <= value,
      };
    }
    let v;
    if (spec.versus !== undefined) {
      const other = rows.find((r) => r.case === id && r.contender === spec.versus);
      // contender / other for both directions: ">= 0.3x" for rates, "<= 1.5x" for times.
      v = stats.median(row.reps.map((rep, i) => rep.p50 / other.reps[i].p50));
    } else {
      v = higherIsBetter ? row.ratio.p50 : row.timeRatio.p50;
    }
    return { case: id, contender: row.contender, ratio: v, met: higherIsBetter ? v >= ratio : v <= ratio };
  });
  const who = contender !== null ? rows.find((r) => r.contender === contender).label : group;
  const versus = spec.versus ?? (contender !== null ? byId.get(contender)?.versus : undefined);
  const against = versus !== undefined ? byId.get(versus).label : baseline.group;
  const direction = goalCases.every((c) => c.higherIsBetter) ? '>=' : goalCases.every((c) => !c.higherIsBetter) ? '<=' : '>=/<=';
  const bar = value !== undefined ? `${value}` : `${ratio}x ${against}`;
  return {
    group: group ?? rows.find((r) => r.contender === contender).group,
    ...(contender !== null && { contender }),
    ...(spec.cases && { cases: spec.cases }),
    ...(value !== undefined ? { value } : { ratio, against }),
    ...(spec.versus !== undefined && { versus: spec.versus }),
    direction,
    text: `${who} ${direction} ${bar}` + (contender !== null ? '' : ` (best ${group} contender${value !== undefined ? '' : ', median of per-rep ratios'})`),
    results,
    met: results.every((r) => r.met),
  };
}

module.exports = { runSuite };

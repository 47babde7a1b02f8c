'use strict';
// Statistics over samples and repetitions.
//
// Within one repetition a contender produces many samples (e.g. one GB/s value
// per copy); it is summarised by its median (p50) and its tails (p99, p99.9).
// Across repetitions the reported p50 is the median of the per-rep p50s, p99
// and p99.9 the medians of the per-rep ones, and min/max the range of the
// per-rep p50s: on a
// noisy machine the range across reps is the honest error bar.
//
// "p99" (and "p99.9") is always the bad tail: for a higher-is-better unit
// (GB/s) it is the value that 99 % of samples beat, for a lower-is-better unit
// (ns) the value that 99 % of samples stay under. With fewer than 1000
// samples p99.9 is close to the worst sample.

/** Linear-interpolated percentile of an ascending array, p in [0, 100]. */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

function median(values) {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Summary of one repetition's samples. */
function summarize(samples, higherIsBetter) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, higherIsBetter ? 1 : 99),
    p999: percentile(sorted, higherIsBetter ? 0.1 : 99.9),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
  };
}

/** Combines per-rep summaries: median p50, p99 and p99.9, range of the p50s. */
function aggregate(reps) {
  const p50s = reps.map((r) => r.p50);
  return {
    p50: median(p50s),
    p99: median(reps.map((r) => r.p99)),
    p999: median(reps.map((r) => r.p999)),
    min: Math.min(...p50s),
    max: Math.max(...p50s),
  };
}

/**
 * Ratios of a contender to the baseline, paired per repetition (both ran
 * back to back in the same rep, so they saw the same machine weather). For a
 * higher-is-better unit the ratio is contender / baseline, else baseline /
 * contender, so > 1 always means "better than the baseline".
 */
function ratios(reps, baselineReps, higherIsBetter) {
  const perRep = reps.map((r, i) => (higherIsBetter ? r.p50 / baselineReps[i].p50 : baselineReps[i].p50 / r.p50));
  return { p50: median(perRep), min: Math.min(...perRep), max: Math.max(...perRep), perRep };
}

module.exports = { percentile, median, summarize, aggregate, ratios };

'use strict';
// Plain-text tables for the terminal.

/** A number with about three significant digits. */
function num(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(2);
}

/** A ratio such as `0.97x`. */
function times(v) {
  return `${v.toFixed(2)}x`;
}

/**
 * Lays out rows of strings under headers. `align` holds 'l' or 'r' per
 * column (default: first two left, the rest right).
 */
function formatTable(headers, rows, align = headers.map((_, i) => (i < 2 ? 'l' : 'r'))) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The table of one suite result (see harness.js), with its goal line. */
function renderSuite(result) {
  const caseLabel = new Map(result.cases.map((c) => [c.id, c.label]));
  const base = result.contenders.find((c) => c.baseline);
  const headers = ['case', 'contender', `p50 ${result.unit}`, `p99 ${result.unit}`, 'rep p50 min..max', `vs ${base.group}`, `vs ${base.group} min..max`];
  const rows = result.rows.map((r) => [
    caseLabel.get(r.case),
    `${r.best && !r.baseline ? '* ' : '  '}${r.label}${r.baseline ? ' (baseline)' : ''}`,
    num(r.p50),
    num(r.p99),
    `${num(r.min)}..${num(r.max)}`,
    r.ratio ? times(r.ratio.p50) : '1',
    r.ratio ? `${times(r.ratio.min)}..${times(r.ratio.max)}` : '',
  ]);
  const out = [`${result.id}: ${result.description}`, formatTable(headers, rows)];
  const notes = [];
  if (result.rows.some((r) => r.best && !r.baseline)) notes.push('* best of its group in that case');
  notes.push(`p99 is the slow tail${result.higherIsBetter ? ' (99% of samples were faster)' : ''}`);
  notes.push(`vs ${base.group}: ratio to the baseline's p50 in the same rep (>1 is better), median over reps`);
  out.push(notes.join('; '));
  for (const c of result.contenders) if (c.note) out.push(`  ${c.label}: ${c.note}`);
  if (result.goal) {
    const g = result.goal;
    const parts = g.results.map((r) => `${caseLabel.get(r.case)} ${times(r.ratio)} ${r.met ? 'met' : 'NOT met'}`);
    out.push(`goal: ${g.group} >= ${g.ratio}x ${base.group}: ${parts.join(', ')}`);
  }
  return out.join('\n');
}

module.exports = { num, times, formatTable, renderSuite };

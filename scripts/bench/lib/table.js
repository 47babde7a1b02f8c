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

/**
 * The table of one suite result (see harness.js), with its goal lines. When
 * the cases have different units, each case label carries its unit; when a
 * case is a time (lower is better) a column shows contender / baseline.
 */
function renderSuite(result) {
  const caseOf = new Map(result.cases.map((c) => [c.id, c]));
  const units = new Set(result.cases.map((c) => c.unit));
  const mixed = units.size > 1;
  const caseLabel = (id) => (mixed ? `${caseOf.get(id).label} (${caseOf.get(id).unit})` : caseOf.get(id).label);
  const unit = mixed ? '' : ` ${[...units][0]}`;
  const anyTime = result.rows.some((r) => r.timeRatio !== undefined);
  const base = result.contenders.find((c) => c.baseline);
  const labelOf = (id) => result.contenders.find((c) => c.id === id)?.label ?? id;
  // A row compared with another contender than the baseline names it.
  const versusOf = (r) => (r.versus && r.versus !== base.id ? ` (vs ${labelOf(r.versus)})` : '');
  const headers = ['case', 'contender', `p50${unit}`, `p99${unit}`, `p99.9${unit}`, 'rep p50 min..max', `vs ${base.group}`, `vs ${base.group} min..max`];
  if (anyTime) headers.push(`time / ${base.group}`);
  const rows = result.rows.map((r) => {
    const cells = [
      caseLabel(r.case),
      `${r.best && !r.baseline ? '* ' : '  '}${r.label}${r.baseline ? ' (baseline)' : versusOf(r)}`,
      num(r.p50),
      num(r.p99),
      num(r.p999),
      `${num(r.min)}..${num(r.max)}`,
      r.ratio ? times(r.ratio.p50) : '1',
      r.ratio ? `${times(r.ratio.min)}..${times(r.ratio.max)}` : '',
    ];
    if (anyTime) cells.push(r.timeRatio ? times(r.timeRatio.p50) : r.timeRatio === null ? '1' : '');
    return cells;
  });
  const out = [`${result.id}: ${result.description}`, formatTable(headers, rows)];
  const notes = [];
  if (result.rows.some((r) => r.best && !r.baseline)) notes.push('* best of its group in that case');
  const higher = result.cases.some((c) => c.higherIsBetter);
  notes.push(`p99 and p99.9 are the slow tail${higher ? ` (${mixed ? 'for rates, ' : ''}99% / 99.9% of samples were faster)` : ''}`);
  const named = result.rows.some((r) => versusOf(r) !== '');
  notes.push(`vs ${base.group}: ratio to the baseline's p50${named ? ' (or to the contender named in "(vs ...)")' : ''} in the same rep (>1 is better), median over reps`);
  if (anyTime) notes.push(`time / ${base.group}: contender's time over the baseline's${named ? ' (or that contender\'s)' : ''} (<1 is better), median over reps`);
  out.push(notes.join('; '));
  for (const c of result.contenders) if (c.note) out.push(`  ${c.label}: ${c.note}`);
  for (const g of [result.goal ?? []].flat()) {
    const who = g.contender ? result.contenders.find((c) => c.id === g.contender).label : g.group;
    if (g.value !== undefined) {
      const parts = g.results.map((r) => `${caseLabel(r.case)} ${num(r.value)} ${r.met ? 'met' : 'NOT met'}`);
      out.push(`goal: ${who} ${g.direction} ${num(g.value)}: ${parts.join(', ')}`);
      continue;
    }
    const parts = g.results.map((r) => `${caseLabel(r.case)} ${times(r.ratio)} ${r.met ? 'met' : 'NOT met'}`);
    out.push(`goal: ${who} ${g.direction ?? '>='} ${g.ratio}x ${g.against ?? base.group}: ${parts.join(', ')}`);
  }
  return out.join('\n');
}

module.exports = { num, times, formatTable, renderSuite };

'use strict';
// An SVG chart of a run, without dependencies: one panel per suite and case,
// one horizontal bar per contender, its p50 on a logarithmic scale (the
// contenders of one case can be 1000x apart), with the value and the per-rep
// range written next to it. The baseline's bar is dark, the best of each
// group is marked with '*', as in the table.

const { num } = require('./table');

const WIDTH = 960;
const LABEL = 300;
const VALUE = 170;
const ROW = 18;
const TITLE = 30;
const GAP = 14;
const BAR = WIDTH - LABEL - VALUE - 20;

/** Text safe inside SVG. */
function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One panel: the rows of one case of one suite, from y; returns [svg, height]. */
function panel(suite, c, y) {
  const rows = suite.rows.filter((r) => r.case === c.id && r.p50 > 0);
  const values = rows.flatMap((r) => [r.p50, r.min, r.max]).filter((v) => v > 0);
  // Decades around the values, so that every bar has a visible length.
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const decades = Math.max(1, Math.log10(hi / lo));
  const x = (v) => LABEL + (BAR * Math.log10(v / lo)) / decades;
  const out = [];
  const direction = c.higherIsBetter ? 'higher is better' : 'lower is better';
  out.push(`<text x="10" y="${y + 18}" class="title">${esc(`${suite.id}: ${c.label} (${c.unit}, p50, log scale, ${direction})`)}</text>`);
  let top = y + TITLE;
  for (let d = 0; d <= decades; d++) {
    const gx = x(lo * 10 ** d);
    out.push(`<line x1="${gx.toFixed(1)}" y1="${top - 4}" x2="${gx.toFixed(1)}" y2="${top + rows.length * ROW}" class="grid"/>`);
    out.push(`<text x="${gx.toFixed(1)}" y="${top - 6}" class="tick">${esc(num(lo * 10 ** d))}</text>`);
  }
  for (const r of rows) {
    const cls = r.baseline ? 'bar base' : 'bar';
    const w = Math.max(1, x(r.p50) - LABEL);
    const label = `${r.best && !r.baseline ? '* ' : ''}${r.label}${r.baseline ? ' (baseline)' : ''}`;
    out.push(`<text x="${LABEL - 6}" y="${top + 13}" class="label">${esc(label)}</text>`);
    out.push(`<rect x="${LABEL}" y="${top + 3}" width="${w.toFixed(1)}" height="${ROW - 6}" class="${cls}"/>`);
    if (r.min > 0 && r.max > 0) {
      out.push(`<line x1="${x(r.min).toFixed(1)}" y1="${top + ROW / 2}" x2="${x(r.max).toFixed(1)}" y2="${top + ROW / 2}" class="range"/>`);
    }
    out.push(`<text x="${LABEL + BAR + 8}" y="${top + 13}" class="value">${esc(`${num(r.p50)} (${num(r.min)}..${num(r.max)})`)}</text>`);
    top += ROW;
  }
  return [out.join('\n'), top - y + GAP];
}

/** The SVG document for a report (index.js's JSON object). */
function renderChart(report) {
  const parts = [];
  let y = 10;
  const heading = `${report.tool} ${report.version}, ${report.startedAt}, ${report.options.reps} reps${report.options.quick ? ' (quick)' : ''}; bars: median of the per-rep p50s, line: range of the per-rep p50s`;
  parts.push(`<text x="10" y="${y + 14}" class="heading">${esc(heading)}</text>`);
  y += 30;
  for (const suite of report.suites) {
    for (const c of suite.cases) {
      const [svg, height] = panel(suite, c, y);
      parts.push(svg);
      y += height;
    }
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" font-size="12">`,
    '<style>.heading{font-size:13px;font-weight:bold}.title{font-weight:bold}.label{text-anchor:end}.tick{text-anchor:middle;fill:#666;font-size:10px}' +
      '.grid{stroke:#ddd}.bar{fill:#6a9fd8}.base{fill:#2c4f7c}.range{stroke:#000;stroke-width:1.5}.value{fill:#333}</style>',
    `<rect width="${WIDTH}" height="${y}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { renderChart };

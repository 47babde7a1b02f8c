'use strict';
// Where the numbers were measured: CPUs, virtualisation, load, steal time,
// and a verdict on whether the machine is noisy. Numbers from a noisy machine
// are still useful as ratios inside one run (every contender is interleaved),
// not as absolutes.

const fs = require('node:fs');
const os = require('node:os');

const { compilerInfo } = require('./child');

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Aggregate CPU times from /proc/stat: { total, steal } in ticks, or null. */
function cpuTimes() {
  const line = (read('/proc/stat') ?? '').split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest
  // time is already counted in user/nice.
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((s, v) => s + v, 0), steal: f[7] ?? 0 };
}

/** The bracketed choice of a sysfs setting such as `always [madvise] never`. */
function sysfsChoice(file) {
  const m = /\[([^\]]+)\]/.exec(read(file) ?? '');
  return m ? m[1] : null;
}

/** Facts to record before the run starts. */
function start() {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1].trim().split(/\s+/) ?? [];
  const allowed = /^Cpus_allowed_list:\s*(.*)$/m.exec(read('/proc/self/status') ?? '')?.[1] ?? null;
  return {
    cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    cpusOnline: os.cpus().length,
    cpusAllowed: allowed,
    model: os.cpus()[0]?.model ?? null,
    virtualized: flags.includes('hypervisor'),
    kernel: os.release(),
    node: process.version,
    arch: process.arch,
    cc: compilerInfo(),
    thp: {
      anon: sysfsChoice('/sys/kernel/mm/transparent_hugepage/enabled'),
      shmem: sysfsChoice('/sys/kernel/mm/transparent_hugepage/shmem_enabled'),
    },
    loadavgBefore: os.loadavg()[0],
    _times: cpuTimes(),
  };
}

/**
 * Completes the placement after the run: steal time during it, and the noise
 * verdict with its reasons. `suites` are harness results; the spread of each
 * baseline across reps is one of the signals.
 */
function finish(info, suites) {
  const { _times: before, ...rest } = info;
  const after = cpuTimes();
  const stealPercent = before && after && after.total > before.total
    ? (100 * (after.steal - before.steal)) / (after.total - before.total)
    : null;

  const reasons = [];
  if (rest.virtualized && rest.cpus <= 2) reasons.push(`${rest.cpus}-vCPU virtual machine`);
  if (stealPercent !== null && stealPercent >= 1) reasons.push(`${stealPercent.toFixed(1)}% CPU steal during the run`);
  if (rest.loadavgBefore > 0.5 * rest.cpus) reasons.push(`load average ${rest.loadavgBefore.toFixed(2)} on ${rest.cpus} CPUs before the run`);
  for (const s of suites) {
    for (const row of s.rows.filter((r) => r.baseline)) {
      const spread = row.max / row.min - 1;
      if (spread > 0.1) reasons.push(`${s.id} baseline (${row.case}) varied ${(spread * 100).toFixed(0)}% across reps`);
    }
  }
  return { ...rest, stealPercent, noisy: reasons.length > 0, noiseReasons: reasons };
}

/** Two lines for the top of the table. */
function render(p) {
  const cpuLine =
    `placement: ${p.cpus} CPU${p.cpus === 1 ? '' : 's'} available` +
    (p.cpusAllowed ? ` (allowed: ${p.cpusAllowed})` : '') +
    `, ${p.model ?? 'unknown CPU'}${p.virtualized ? ', virtualized' : ''}; contenders run one at a time, each in its own process, unpinned`;
  const steal = p.stealPercent === null ? '' : `, steal ${p.stealPercent.toFixed(1)}%`;
  const noise = `noisy: ${p.noisy ? `yes (${p.noiseReasons.join('; ')})` : 'no'}; load ${p.loadavgBefore.toFixed(2)} before${steal}; THP anon=${p.thp.anon} shmem=${p.thp.shmem}`;
  return `${cpuLine}\n${noise}`;
}

module.exports = { start, finish, render };

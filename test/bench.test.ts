/**
 * The benchmark runner (`npm run bench`, scripts/bench/index.js) as a real
 * process in --quick mode: it exits 0, prints its table, writes well-formed
 * JSON and cleans up. Timing and ratios are never asserted: numbers belong in
 * the bench output, not in a test's verdict.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run, type RunResult } from './helpers';

const BENCH = path.join(__dirname, '..', 'scripts', 'bench', 'index.js');

interface Ratio {
  p50: number;
  min: number;
  max: number;
  perRep: number[];
}

interface Row {
  case: string;
  contender: string;
  label: string;
  group: string;
  baseline: boolean;
  best: boolean;
  p50: number;
  p99: number;
  p999: number;
  min: number;
  max: number;
  ratio: Ratio | null;
  reps: { n: number; p50: number; samples: number[] }[];
}

interface SuiteResult {
  id: string;
  unit: string;
  reps: number;
  baseline: string;
  cases: { id: string; label: string }[];
  rows: Row[];
  goal: {
    group: string; ratio: number; met: boolean;
    results: { case: string; contender: string; ratio: number; met: boolean }[];
  };
}

interface Goal {
  group: string;
  contender?: string;
  cases?: string[];
  ratio: number;
  direction: '>=' | '<=';
  met: boolean;
  results: { case: string; contender: string; ratio: number; met: boolean }[];
}

/** The mq suite: two units (one per case), several goals, time ratios for the round trip. */
interface MqSuiteResult {
  id: string;
  reps: number;
  baseline: string;
  cases: { id: string; label: string; unit: string; higherIsBetter: boolean }[];
  contenders: {
    id: string; label: string; group: string; baseline: boolean; versus: string | null; note: string | null;
  }[];
  rows: (Row & { timeRatio?: Ratio | null; versus: string | null })[];
  goal: (Goal & { against: string })[];
}

interface Report {
  pid: number;
  options: { reps: number; quick: boolean; suites: string[] };
  placement: { cpus: number; noisy: boolean; noiseReasons: string[] };
  cleanup: { leftoverShm: string[]; leftoverMq: string[]; tmpDir: string | null; tmpDirRemoved: boolean };
  suites: (SuiteResult | MqSuiteResult)[];
}

const positiveFinite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** A row's statistics are positive and finite, and it kept the samples of each of its 3 reps. */
function expectWellFormed(row: Row, caseId?: string): void {
  for (const key of ['p50', 'p99', 'p999', 'min', 'max'] as const) {
    const value = row[key];
    expect({ row: row.contender, caseId, key, value, ok: positiveFinite(value) }).toMatchObject({ ok: true });
  }
  expect(row.reps).toHaveLength(3);
  for (const rep of row.reps) {
    expect(rep.samples.length).toBe(rep.n);
    expect(rep.samples.every(positiveFinite)).toBe(true);
  }
}

/**
 * A row's ratios: none for the baseline; else the paired ratio (positive, one per rep) and, for
 * a time (lower is better), the time ratio (contender / baseline) next to it. Returns whether
 * the row is compared with another.
 */
function expectRatios(row: Row & { timeRatio?: Ratio | null }, time: boolean): boolean {
  if (row.baseline) {
    expect(row.ratio).toBeNull();
    return false;
  }
  const ratio = row.ratio as Ratio;
  expect([ratio.p50, ratio.min, ratio.max, ...ratio.perRep].every(positiveFinite)).toBe(true);
  expect(ratio.perRep).toHaveLength(3);
  if (time) {
    // Node / C as a time ratio, next to the >1-is-better ratio.
    const t = row.timeRatio as Ratio;
    expect([t.p50, t.min, t.max].every(positiveFinite)).toBe(true);
  } else {
    expect(row.timeRatio).toBeUndefined();
  }
  return true;
}

/**
 * The quick runs this file checks, side by side (each suite once, the two
 * largest alone, so the runs take about as long as each other): a run is
 * `--suite` for each of its suites, with its own JSON file.
 */
const RUNS: Record<string, string[]> = {
  pipe: ['pipe'],
  channel: ['channel'],
  rest: ['shm-copy', 'mq', 'sync', 'pool'],
};

describe('npm run bench --quick', () => {
  let dir: string;
  const results = new Map<string, RunResult>();
  // Kills the runs still going when the hook times out, so that jest can exit.
  const abort = new AbortController();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pipc-bench-test-'));
    await Promise.all(Object.entries(RUNS).map(async ([name, suites]) => {
      const args = [BENCH, '--quick', ...suites.flatMap((id) => ['--suite', id]), '--json', path.join(dir, `${name}.json`)];
      results.set(name, await run(process.execPath, args, { signal: abort.signal }));
    }));
  }, 300_000); // every suite, each contender a few processes per case and rep, on a shared VM

  afterAll(() => {
    abort.abort();
    rmSync(dir, { recursive: true, force: true });
  });

  const reportOf = (name: string): Report => JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as Report;
  /** What every run printed, one after another. */
  const stdout = (): string => [...results.values()].map((r) => r.stdout).join('\n');
  /** The suite `id` of the JSON report of the run it is in (throws when it is missing). */
  const suiteOf = <T extends SuiteResult | MqSuiteResult>(id: string): T => {
    const name = Object.keys(RUNS).find((n) => RUNS[n].includes(id))!;
    const suite = reportOf(name).suites.find((s) => s.id === id);
    if (!suite) throw new Error(`no ${id} suite in the JSON`);
    return suite as T;
  };
  const shmCopy = (): SuiteResult => suiteOf<SuiteResult>('shm-copy');
  const mq = (): MqSuiteResult => suiteOf<MqSuiteResult>('mq');
  // The pipe, channel and pool suites have the mq suite's shape: one unit per case, several goals.
  const pipeSuite = (): MqSuiteResult => suiteOf<MqSuiteResult>('pipe');
  const channel = (): MqSuiteResult => suiteOf<MqSuiteResult>('channel');
  const pool = (): MqSuiteResult => suiteOf<MqSuiteResult>('pool');

  test('each run exits 0 and writes only its --json file and its chart', () => {
    for (const [name, suites] of Object.entries(RUNS)) {
      const r = results.get(name)!;
      // stderr is part of the expectation so that a failure shows it.
      expect({ name, code: r.code, signal: r.signal, stderr: r.code === 0 ? '' : r.stderr }).toEqual({
        name,
        code: 0,
        signal: null,
        stderr: '',
      });
      expect(reportOf(name)).toMatchObject({ options: { quick: true, reps: 3, suites } });
      expect(reportOf(name).suites.map((s) => s.id)).toEqual(suites);
    }
    expect(readdirSync(dir).sort()).toEqual(Object.keys(RUNS).flatMap((n) => [`${n}.json`, `${n}.svg`]).sort());
  });

  test('the shm-copy suite has a C baseline and Node contenders for both directions', () => {
    const suite = shmCopy();
    expect(suite).toMatchObject({ unit: 'GB/s', reps: 3, baseline: 'c-memcpy' });
    expect(suite.cases.map((c) => c.id)).toEqual(['in', 'out']);
    for (const caseId of ['in', 'out']) {
      const rows = suite.rows.filter((r) => r.case === caseId);
      const c = rows.filter((r) => r.baseline);
      const node = rows.filter((r) => r.group === 'Node');
      expect(c).toHaveLength(1);
      expect(c[0]).toMatchObject({ contender: 'c-memcpy', group: 'C', ratio: null });
      expect(node.length).toBeGreaterThanOrEqual(1);
      expect(node.filter((r) => r.best)).toHaveLength(1);
      for (const row of rows) {
        expectWellFormed(row);
        expect(row.min).toBeLessThanOrEqual(row.max);
      }
      for (const row of node) {
        expect(row.ratio).not.toBeNull();
        const ratio = row.ratio as Ratio;
        expect([ratio.p50, ratio.min, ratio.max].every(positiveFinite)).toBe(true);
        expect(ratio.perRep).toHaveLength(3);
      }
    }
  });

  test('the goal is evaluated per direction, as a ratio and a verdict', () => {
    const { goal } = shmCopy();
    expect(goal).toMatchObject({ group: 'Node', ratio: 0.8 });
    expect(goal.results.map((r) => r.case)).toEqual(['in', 'out']);
    for (const r of goal.results) {
      expect(positiveFinite(r.ratio)).toBe(true);
      expect(typeof r.met).toBe('boolean');
    }
    expect(typeof goal.met).toBe('boolean');
  });

  test('prints a table that names both contenders, the ratio and the placement', () => {
    const out = stdout();
    expect(out).toContain('shm-copy');
    expect(out).toContain('C memcpy (baseline)');
    expect(out).toMatch(/Node Uint8Array#set/);
    expect(out).toMatch(/Node Buffer#copy/);
    expect(out).toContain('into shm');
    expect(out).toContain('out of shm');
    expect(out).toMatch(/goal: Node >= 0\.8x C: into shm [\d.]+x (met|NOT met), out of shm [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/placement: \d+ CPUs? available/);
    expect(out).toMatch(/noisy: (yes|no)/);
    const { placement } = reportOf('rest');
    expect(placement.cpus).toBeGreaterThanOrEqual(1);
    expect(typeof placement.noisy).toBe('boolean');
  });

  test('the mq suite has a C baseline and Node sync and async contenders for round trip and throughput', () => {
    const suite = mq();
    expect(suite).toMatchObject({ reps: 3, baseline: 'c-blocking' });
    expect(suite.cases).toEqual([
      expect.objectContaining({ id: 'rtt', unit: 'µs', higherIsBetter: false }),
      expect.objectContaining({ id: 'throughput', unit: 'msg/s', higherIsBetter: true }),
    ]);
    expect(suite.contenders.map((c) => [c.id, c.group, c.baseline])).toEqual([
      ['c-blocking', 'C', true],
      ['node-sync', 'Node', false],
      ['node-async', 'Node', false],
    ]);
    for (const c of suite.contenders) expect(c.note).toMatch(/placement \(unpinned\) round trip: same \d+, split \d+, moved \d+/);
    for (const caseId of ['rtt', 'throughput']) {
      const rows = suite.rows.filter((r) => r.case === caseId);
      expect(rows.map((r) => r.contender)).toEqual(['c-blocking', 'node-sync', 'node-async']);
      for (const row of rows) {
        expectWellFormed(row, caseId);
        expectRatios(row, caseId === 'rtt');
      }
    }
  });

  test('the mq goals are evaluated and printed, one line each', () => {
    const { goal } = mq();
    expect(goal.map((g) => [g.contender, g.cases, g.direction, g.ratio])).toEqual([
      ['node-sync', ['rtt'], '<=', 1.5],
      ['node-sync', ['throughput'], '>=', 0.5],
      ['node-async', ['throughput'], '>=', 0.3],
    ]);
    for (const g of goal) {
      expect(g.results).toHaveLength(1);
      expect(positiveFinite(g.results[0].ratio)).toBe(true);
      expect(typeof g.met).toBe('boolean');
    }
    const out = stdout();
    expect(out).toContain('C blocking (baseline)');
    expect(out).toMatch(/round trip \(µs\)\s+\*? *Node sync/);
    expect(out).toMatch(/one way \(msg\/s\)\s+\*? *Node async/);
    expect(out).toMatch(/goal: Node sync <= 1\.5x C: round trip \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Node sync >= 0\.5x C: one way \(msg\/s\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Node async >= 0\.3x C: one way \(msg\/s\) [\d.]+x (met|NOT met)/);
  });

  test('the pipe suite has a C baseline, Node sync and async, Node net as the reference, and datagram contenders, for every case', () => {
    const suite = pipeSuite();
    expect(suite).toMatchObject({ reps: 3, baseline: 'c-blocking' });
    expect(suite.cases).toEqual([
      expect.objectContaining({ id: 'rtt', unit: 'µs', higherIsBetter: false }),
      expect.objectContaining({ id: 'small', unit: 'msg/s', higherIsBetter: true }),
      expect.objectContaining({ id: 'bulk', unit: 'MB/s', higherIsBetter: true }),
    ]);
    // [id, group, baseline, versus]: each datagram contender is compared with
    // the C contender doing the same work over the same socket. Each Node way
    // of using a channel is a group: per message, batched, into one buffer.
    const contenders: [string, string, boolean, string | null][] = [
      ['c-blocking', 'C', true, null],
      ['node-sync', 'Node sync', false, null],
      ['node-sync-batch', 'Node sync', false, null],
      ['node-async', 'Node async', false, null],
      ['node-async-batch', 'Node async', false, null],
      ['c-batch', 'C batch', false, null],
      ['node-net-unix', 'reference', false, null],
      ['c-dgram', 'C', false, null],
      ['node-dgram-async', 'Node dgram async', false, 'c-dgram'],
      ['node-dgram-async-batch', 'Node dgram async', false, 'c-dgram'],
      ['node-dgram-async-into', 'Node dgram async', false, 'c-dgram'],
      ['node-dgram-sync', 'Node dgram sync', false, 'c-dgram'],
      ['node-dgram-sync-batch', 'Node dgram sync', false, 'c-dgram'],
      ['node-dgram-sync-into', 'Node dgram sync', false, 'c-dgram'],
      ['c-dgram-batch', 'C batch', false, 'c-dgram'],
      ['c-dgram-spin', 'spin', false, 'c-dgram'],
      ['node-dgram-spin', 'spin', false, 'c-dgram-spin'],
      ['c-fifo', 'C', false, null],
      ['node-fifo-sync', 'Node FIFO sync', false, 'c-fifo'],
      ['node-fifo-sync-batch', 'Node FIFO sync', false, 'c-fifo'],
      ['node-fifo-async', 'Node FIFO async', false, 'c-fifo'],
      ['node-fifo-async-batch', 'Node FIFO async', false, 'c-fifo'],
      // Larger kernel buffers, in the same groups; C with the same settings apart.
      ['node-async-sized', 'Node async', false, null],
      ['node-async-batch-sized', 'Node async', false, null],
      ['node-fifo-async-sized', 'Node FIFO async', false, 'c-fifo'],
      ['node-fifo-async-batch-sized', 'Node FIFO async', false, 'c-fifo'],
      ['node-dgram-async-sized', 'Node dgram async', false, 'c-dgram'],
      ['node-dgram-async-into-sized', 'Node dgram async', false, 'c-dgram'],
      ['c-sized', 'C sized', false, null],
      ['c-fifo-sized', 'C sized', false, 'c-fifo'],
      ['c-dgram-sized', 'C sized', false, 'c-dgram'],
    ];
    expect(suite.contenders.map((c) => [c.id, c.group, c.baseline, c.versus])).toEqual(contenders);
    const ids = contenders.map(([id]) => id);
    const note = (id: string) => suite.contenders.find((c) => c.id === id)!.note;
    for (const c of suite.contenders) expect(c.note).toMatch(/placement \(unpinned\) round trip: same \d+, split \d+, moved \d+/);
    expect(note('node-sync')).toMatch(/sync path: fs\.writeSync.*fs\.readSync/);
    // The async round trips (pipe, datagram), next to Node net's from the same run.
    for (const id of ['node-async', 'node-dgram-async', 'node-fifo-async', 'node-dgram-async-into']) {
      expect(note(id)).toMatch(/round trip next to Node net Unix socket, same run: [\d.]+x its time .*\(p50 [\d.]+ µs vs [\d.]+ µs\)/);
    }
    // Datagrams: the event loop, the blocking sync calls, and a spin labelled as a busy-poll on both sides.
    expect(note('node-dgram-async')).toMatch(/await sock\.send\(msg\) \/ await sock\.receive\(\)/);
    expect(note('node-dgram-sync')).toMatch(/^sock\.sendSync\(msg\) \/ sock\.receiveSync\(\)/);
    expect(note('node-dgram-spin')).toMatch(/^busy-poll: .*trySend.*tryReceive/);
    expect(note('c-dgram-spin')).toMatch(/^busy-poll: send\(2\)\/recv\(2\) with MSG_DONTWAIT/);
    // FIFOs: blocking opens for C and Node sync, the library's Fifo streams for Node async.
    expect(note('c-fifo')).toMatch(/^blocking open\(2\) of the FIFO paths, then read\(2\)\/write\(2\)/);
    expect(note('node-fifo-sync')).toMatch(/^fs\.openSync\(path\) \(blocking open: .*EAGAIN\), then fs\.writeSync\/fs\.readSync/);
    expect(note('node-fifo-async')).toMatch(/^await Fifo\.openReader\(path\) \/ Fifo\.openWriter\(path\), then \.stream\(\)/);
    // Sized buffers: each note says what it set, and C's the same.
    for (const id of ['node-async-sized', 'node-fifo-async-batch-sized']) {
      expect(note(id)).toMatch(/each side sets the pipe's capacity to 1048576 bytes .*one reused 1048576-byte buffer \(end\.stream\(\{ onread/);
    }
    expect(note('node-dgram-async-into-sized')).toMatch(/each side asks for SO_SNDBUF 4194304 \(sock\.setSendBufferSize/);
    expect(note('c-sized')).toMatch(/^what C gains from the same setting: .*F_SETPIPE_SZ/);
    expect(note('c-dgram-sized')).toMatch(/SO_SNDBUF 4194304 \(setsockopt/);
    // Batches: the Node ways and what C gains from the same batching.
    expect(note('node-dgram-sync-batch')).toMatch(/^sock\.sendManySync\(64 messages\) \/ sock\.receiveManySync\(64\)/);
    expect(note('node-dgram-async-batch')).toMatch(/^await sock\.sendMany\(64 messages\) \/ await sock\.receiveMany\(64\)/);
    expect(note('node-dgram-sync-into')).toMatch(/^sock\.sendSync\(msg\) \/ sock\.receiveIntoSync\(buf\)/);
    expect(note('node-async-batch')).toMatch(/cork\(\), 64 writes, uncork\(\)/);
    expect(note('node-sync-batch')).toMatch(/64 messages per fs\.writevSync/);
    expect(note('c-dgram-batch')).toMatch(/sendmmsg\(2\).*recvmmsg\(2\)/);
    for (const caseId of ['rtt', 'small', 'bulk']) {
      const rows = suite.rows.filter((r) => r.case === caseId);
      expect(rows.map((r) => r.contender)).toEqual(ids);
      for (const row of rows) {
        expectWellFormed(row, caseId);
        if (!expectRatios(row, caseId === 'rtt')) {
          expect(row.versus).toBeNull();
          continue;
        }
        const ratio = row.ratio as Ratio;
        // Paired per rep with its versus (or the baseline), in the case's direction.
        const against = rows.find((r) => r.contender === (contenders.find(([id]) => id === row.contender)![3] ?? 'c-blocking'))!;
        expect(row.versus).toBe(against.contender);
        const expected = row.reps.map((rep, i) => (caseId === 'rtt' ? against.reps[i].p50 / rep.p50 : rep.p50 / against.reps[i].p50));
        ratio.perRep.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 9));
      }
    }
  });

  test('the pipe goals are evaluated and printed, one line each', () => {
    const { goal } = pipeSuite();
    // Each goal holds for the best contender of a channel's group, whose
    // ratios are to the C contender of that channel.
    expect(goal.map((g) => [g.group, g.cases, g.direction, g.ratio])).toEqual([
      ['Node sync', ['rtt'], '<=', 1.5],
      ['Node sync', ['small', 'bulk'], '>=', 0.5],
      ['Node async', ['small', 'bulk'], '>=', 0.5],
      ['Node dgram sync', ['rtt'], '<=', 1.5],
      ['Node dgram sync', ['small', 'bulk'], '>=', 0.5],
      ['Node dgram async', ['small', 'bulk'], '>=', 0.5],
      ['Node FIFO sync', ['rtt'], '<=', 1.5],
      ['Node FIFO sync', ['small', 'bulk'], '>=', 0.5],
      ['Node FIFO async', ['small', 'bulk'], '>=', 0.5],
    ]);
    const rows = pipeSuite().rows;
    for (const g of goal) {
      expect(g.results.map((r) => r.case)).toEqual(g.cases);
      for (const r of g.results) {
        expect(positiveFinite(r.ratio)).toBe(true);
        expect(rows.find((row) => row.case === r.case && row.contender === r.contender))
          .toMatchObject({ group: g.group, best: true });
      }
      expect(typeof g.met).toBe('boolean');
    }
    const out = stdout();
    expect(out).toMatch(/^pipe: Pipe round trip and one-way throughput, and the same over a datagram socket/m);
    expect(out).toMatch(/round trip 64 B \(µs\)\s+\*? *Node net Unix socket/);
    expect(out).toMatch(/one way 64 KiB \(MB\/s\)\s+\*? *Node async/);
    expect(out).toMatch(/one way 64 B \(msg\/s\)\s+\*? *Node dgram async \(vs C dgram blocking\)/);
    expect(out).toMatch(/round trip 64 B \(µs\)\s+\*? *Node dgram try-spin \(vs C dgram spin\)/);
    expect(out).toMatch(/round trip 64 B \(µs\)\s+\*? *Node FIFO sync \(vs C FIFO blocking\)/);
    expect(out).toMatch(/one way 64 KiB \(MB\/s\)\s+\*? *Node FIFO async \(vs C FIFO blocking\)/);
    expect(out).toMatch(/goal: Node FIFO sync <= 1\.5x C: round trip 64 B \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(
      /goal: Node FIFO async >= 0\.5x C: one way 64 B \(msg\/s\) [\d.]+x (met|NOT met), one way 64 KiB \(MB\/s\) [\d.]+x (met|NOT met)/,
    );
    expect(out).toMatch(/goal: Node sync <= 1\.5x C: round trip 64 B \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Node sync >= 0\.5x C: one way 64 B \(msg\/s\) [\d.]+x (met|NOT met), one way 64 KiB \(MB\/s\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Node async >= 0\.5x C: one way 64 B \(msg\/s\) [\d.]+x (met|NOT met), one way 64 KiB \(MB\/s\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(
      /goal: Node dgram async >= 0\.5x C: one way 64 B \(msg\/s\) [\d.]+x (met|NOT met), one way 64 KiB \(MB\/s\) [\d.]+x (met|NOT met)/,
    );
  });

  test('the channel suite: C spin and C ring, every Channel mode, Node\'s channels and the library\'s sockets, four cases', () => {
    const suite = channel();
    expect(suite).toMatchObject({ reps: 3, baseline: 'c-spin' });
    expect(suite.cases).toEqual([
      expect.objectContaining({ id: 'rtt64', unit: 'µs', higherIsBetter: false }),
      expect.objectContaining({ id: 'rtt64k', unit: 'µs', higherIsBetter: false }),
      expect.objectContaining({ id: 'tput64', unit: 'msg/s', higherIsBetter: true }),
      expect.objectContaining({ id: 'tput64k', unit: 'MB/s', higherIsBetter: true }),
    ]);
    // [id, group, versus]: the Channel contenders next to the same protocol in C.
    const contenders: [string, string, string | null][] = [
      ['c-spin', 'C', null],
      ['c-ring', 'C', null],
      ['channel-sync', 'Channel sync', 'c-ring'],
      ['channel-sync-copy', 'Channel sync', 'c-ring'],
      ['channel-zero-copy', 'Channel batch', 'c-ring'],
      ['channel-batch', 'Channel batch', 'c-ring'],
      ['channel-async', 'Channel async', 'c-ring'],
      ['channel-async-into', 'Channel async', 'c-ring'],
      ['node-net', 'Node', null],
      ['send-json', 'Node', null],
      ['send-advanced', 'Node', null],
      ['worker', 'Node', null],
      ['dgram-async', 'posix-ipc', null],
      ['dgram-sync', 'posix-ipc', null],
      ['pipe-sync', 'posix-ipc', null],
      ['pipe-async', 'posix-ipc', null],
      ['mq-sync', 'posix-ipc', null],
      ['mq-async', 'posix-ipc', null],
    ];
    expect(suite.contenders.map((c) => [c.id, c.group, c.versus])).toEqual(contenders);
    const note = (id: string) => suite.contenders.find((c) => c.id === id)!.note!;
    // Spinning pairs pinned to two CPUs (when there are two), C and Node alike; the others unpinned.
    const pinned = (readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1] ?? '').match(/[-,]/) !== null;
    for (const id of ['c-spin', 'c-ring', 'channel-sync', 'channel-sync-copy', 'channel-zero-copy', 'channel-batch']) {
      expect(note(id)).toMatch(pinned ? /placement \(pinned to CPUs \d+\/\d+\) rtt64: same \d+, split \d+/ : /placement \(unpinned\)/);
      // ... with the placement probe around each of the three runs: a cache line's round trip between the two CPUs, in
      // ns.
      if (pinned) expect(note(id)).toMatch(/rtt64: .*cache-line round trip between the CPUs before\/after \(ns, by rep\): [1-9]\d*\/[1-9]\d* [1-9]\d*\/[1-9]\d* [1-9]\d*\/[1-9]\d*;/);
    }
    for (const id of ['channel-async', 'node-net', 'send-json', 'worker', 'dgram-sync', 'pipe-sync', 'mq-async']) {
      expect(note(id)).toMatch(/placement \(unpinned\) rtt64: /);
      expect(note(id)).not.toMatch(/cache-line/);
    }
    expect(note('channel-sync')).toMatch(/receiveSyncInto/);
    expect(note('channel-zero-copy')).toMatch(/reserve.*tryReceiveView/);
    expect(note('channel-batch')).toMatch(/receiveMany/);
    // A 64 KiB message goes through a queue as pieces of what msgsize_max allows.
    expect(note('mq-sync')).toMatch(/64 KiB messages as pieces of msgsize_max \(\d+ bytes here\)/);
    for (const caseId of ['rtt64', 'rtt64k', 'tput64', 'tput64k']) {
      const rows = suite.rows.filter((r) => r.case === caseId);
      expect(rows.map((r) => r.contender)).toEqual(contenders.map(([id]) => id));
      for (const row of rows) {
        expectWellFormed(row, caseId);
        expectRatios(row, caseId.startsWith('rtt'));
      }
    }
    const out = stdout();
    expect(out).toMatch(/^channel: Channel round trip and one-way throughput/m);
    expect(out).toMatch(/p50\s+p99\s+p99\.9/);
    expect(out).toMatch(/round trip 64 B \(µs\)\s+\*? *Channel sync \(vs C ring\)/);
    expect(out).toMatch(/one way 64 KiB \(MB\/s\)\s+\*? *process\.send advanced/);
  });

  test('the channel goals are evaluated against the contenders they name, and printed', () => {
    const suite = channel() as unknown as { goal: (Goal & { versus?: string; value?: number })[] };
    const goals = suite.goal.map((g) => [
      g.contender ?? g.group, g.cases, g.direction, g.versus ?? null, g.ratio ?? null, g.value ?? null,
    ]);
    expect(goals).toEqual([
      ['channel-sync', ['rtt64', 'rtt64k'], '<=', 'c-spin', 1.5, null],
      ['channel-sync', ['rtt64'], '<=', 'send-json', 0.02, null],
      ['channel-sync', ['rtt64'], '<=', 'send-advanced', 0.02, null],
      ['channel-sync', ['rtt64'], '<=', 'node-net', 0.02, null],
      ['Channel async', ['rtt64'], '<=', 'node-net', 1, null],
      ['Channel async', ['rtt64k'], '<=', 'node-net', 0.5, null],
      ['channel-sync', ['tput64'], '>=', null, null, 20e6],
      ['channel-sync-copy', ['rtt64'], '<=', 'c-spin', 2.5, null],
      ['Channel batch', ['tput64'], '>=', 'c-ring', 0.3, null],
    ]);
    const rows = channel().rows;
    for (const g of suite.goal) {
      expect(g.results.map((r) => r.case)).toEqual(g.cases);
      type Result = { case: string; contender: string; ratio?: number; value?: number; met: boolean };
      for (const r of g.results as Result[]) {
        const row = rows.find((x) => x.case === r.case && x.contender === r.contender)!;
        if (g.value !== undefined) {
          expect(r.value).toBe(row.p50);
          expect(r.met).toBe(row.p50 >= g.value);
        } else {
          // Paired per rep with the named contender: this contender's p50 over its p50, median over reps.
          const other = rows.find((x) => x.case === r.case && x.contender === g.versus)!;
          const perRep = row.reps.map((rep, i) => rep.p50 / other.reps[i].p50).sort((a, b) => a - b);
          expect(r.ratio).toBeCloseTo(perRep[1], 9);
          expect(r.met).toBe(g.direction === '<=' ? r.ratio! <= g.ratio : r.ratio! >= g.ratio);
        }
      }
      expect(g.met).toBe(g.results.every((r) => r.met));
    }
    const out = stdout();
    expect(out).toMatch(/goal: Channel sync <= 1\.5x C spin: round trip 64 B \(µs\) [\d.]+x (met|NOT met), round trip 64 KiB \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Channel async <= 0\.5x Node net Unix socket: round trip 64 KiB \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Channel sync >= 20000000: one way 64 B \(msg\/s\) \d+ (met|NOT met)/);
    expect(out).toMatch(/goal: Channel batch >= 0\.3x C ring: one way 64 B \(msg\/s\) [\d.]+x (met|NOT met)/);
  });

  test('the pool suite: fork + process.send as the baseline, Pool (process and thread), three pool libraries, three cases', () => {
    const suite = pool();
    expect(suite).toMatchObject({ reps: 3, baseline: 'fork' });
    expect(suite.cases).toEqual([
      expect.objectContaining({ id: 'rtt', unit: 'µs', higherIsBetter: false }),
      expect.objectContaining({ id: 'tput', unit: 'tasks/s', higherIsBetter: true }),
      expect.objectContaining({ id: 'bulk', unit: 'ms', higherIsBetter: false }),
      expect.objectContaining({ id: 'bulk-shared', unit: 'ms', higherIsBetter: false }),
    ]);
    // Every pool of 2 workers, 256 tasks in flight; quick mode echoes 1 MiB (a full run 64 MiB).
    const { params } = suite as unknown as { params: object };
    expect(params).toMatchObject({ size: 2, inflight: 256, bytes: 1024 * 1024 });
    // [id, group, baseline, what its note shows of how it is used]
    const contenders: [string, string, boolean, RegExp][] = [
      ['fork', 'fork', true, /^child_process\.fork\(worker, \{ serialization: 'advanced' \}\).*child\.send/],
      ['pool-process', 'posix-ipc', false, /^new Pool\(\{ file, size \}\), await pool\.run\(arg, \{ name \}\)/],
      ['pool-thread', 'posix-ipc', false, /^new Pool\(\{ file, size, runtime: 'thread' \}\), await pool\.run/],
      ['piscina', 'libraries', false, /^new Piscina\(.*worker threads/],
      ['tinypool', 'libraries', false, /^new Tinypool\(\{ filename, runtime: 'child_process', serialization: 'advanced'/],
      ['workerpool', 'libraries', false, /^workerpool\.pool\(file, \{ workerType: 'process', forkOpts: \{ serialization: 'advanced' \}/],
    ];
    const shape = contenders.map(([id, group, baseline]) => [id, group, baseline]);
    expect(suite.contenders.map((c) => [c.id, c.group, c.baseline])).toEqual(shape);
    for (const [id, , , note] of contenders) expect(suite.contenders.find((c) => c.id === id)!.note).toMatch(note);
    for (const caseId of ['rtt', 'tput', 'bulk', 'bulk-shared']) {
      const rows = suite.rows.filter((r) => r.case === caseId);
      expect(rows.map((r) => r.contender)).toEqual(contenders.map(([id]) => id));
      for (const row of rows) {
        expectWellFormed(row, caseId);
        if (expectRatios(row, caseId !== 'tput')) expect(row.versus).toBe('fork');
      }
    }
    const out = stdout();
    expect(out).toMatch(/^pool: Worker pools: empty-task round trip/m);
    expect(out).toMatch(/round trip, empty task \(µs\)\s+fork \+ process\.send \(baseline\)/);
    expect(out).toMatch(/round trip, empty task \(µs\)\s+\*? *Pool \(process\)/);
    expect(out).toMatch(/empty tasks, many in flight \(tasks\/s\)\s+\*? *tinypool \(child_process\)/);
    expect(out).toMatch(/Buffer argument echoed \(ms\)\s+\*? *workerpool \(process\)/);
    expect(out).toMatch(/SharedMemory Buffer echoed \(by reference in Pools; a plain Buffer for the others\) \(ms\)\s+\*? *Pool \(process\)/);
  });

  test('the pool goals compare Pool (process) with the pool they name, paired per rep, and are printed', () => {
    const suite = pool() as unknown as { goal: (Goal & { versus: string })[] };
    expect(suite.goal.map((g) => [g.contender, g.cases, g.direction, g.versus, g.ratio])).toEqual([
      ['pool-process', ['rtt'], '<=', 'piscina', 1],
      ['pool-process', ['rtt'], '<=', 'tinypool', 0.1],
      ['pool-process', ['rtt'], '<=', 'workerpool', 0.1],
      ['pool-process', ['bulk'], '<=', 'piscina', 0.1],
      ['pool-process', ['bulk-shared'], '<=', 'piscina', 0.1],
    ]);
    const rows = pool().rows;
    for (const g of suite.goal) {
      for (const r of g.results) {
        const row = rows.find((x) => x.case === r.case && x.contender === 'pool-process')!;
        const other = rows.find((x) => x.case === r.case && x.contender === g.versus)!;
        // Pool's time over the other's, per rep; the median of the three.
        const perRep = row.reps.map((rep, i) => rep.p50 / other.reps[i].p50).sort((a, b) => a - b);
        expect(r.ratio).toBeCloseTo(perRep[1], 9);
        expect(r.met).toBe(r.ratio <= g.ratio);
      }
      expect(g.met).toBe(g.results.every((r) => r.met));
    }
    const out = stdout();
    expect(out).toMatch(/goal: Pool \(process\) <= 1x piscina \(threads\): round trip, empty task \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Pool \(process\) <= 0\.1x tinypool \(child_process\): round trip, empty task \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Pool \(process\) <= 0\.1x workerpool \(process\): round trip, empty task \(µs\) [\d.]+x (met|NOT met)/);
    expect(out).toMatch(/goal: Pool \(process\) <= 0\.1x piscina \(threads\): Buffer argument echoed \(ms\) [\d.]+x (met|NOT met)/);
  });

  test('each chart has a panel per suite and case, a bar per contender', () => {
    for (const name of Object.keys(RUNS)) {
      const svg = readFileSync(path.join(dir, `${name}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(svg.trimEnd()).toMatch(/<\/svg>$/);
      const { suites } = reportOf(name);
      const panels = suites.reduce((n, s) => n + s.cases.length, 0);
      const bars = suites.reduce((n, s) => n + s.rows.length, 0);
      expect(svg.match(/class="title"/g)).toHaveLength(panels);
      expect(svg.match(/<rect [^>]*class="bar/g)).toHaveLength(bars);
    }
    expect(readFileSync(path.join(dir, 'channel.svg'), 'utf8')).toContain('channel: round trip 64 B (µs, p50, log scale, lower is better)');
    expect(readFileSync(path.join(dir, 'rest.svg'), 'utf8')).toContain('pool: round trip, empty task (µs, p50, log scale, lower is better)');
  });

  test('leaves no shared-memory objects, message queues or temporary files behind', () => {
    for (const name of Object.keys(RUNS)) {
      const { pid, cleanup } = reportOf(name);
      expect(cleanup).toMatchObject({ leftoverShm: [], leftoverMq: [], tmpDirRemoved: true });
      expect(cleanup.tmpDir).not.toBeNull();
      expect(existsSync(cleanup.tmpDir as string)).toBe(false);
      expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`posix-ipc-bench-${pid}-`))).toEqual([]);
    }
  });
});

describe('bench options', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await run(process.execPath, [BENCH, '--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/--reps N/);
    expect(r.stdout).toMatch(/--quick/);
    expect(r.stdout).toMatch(/--json PATH/);
  });

  test.each([
    [['--reps', '0'], /--reps must be a positive integer/],
    [['--reps'], /--reps needs a value/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['--suite', 'nope'], /unknown suite 'nope'/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const r = await run(process.execPath, [BENCH, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/Usage:/);
  });
});

/**
 * A Pool's measurements: task latency over a bounded window of recent tasks
 * (percentiles on demand), and utilisation (busy worker-time over alive
 * worker-time).
 * @packageDocumentation
 */

/** How many recent tasks the latency percentiles are taken over. */
export const LATENCY_WINDOW = 1000;

/** The latencies of the last {@link LATENCY_WINDOW} tasks, in milliseconds. */
export class LatencyWindow {
  readonly #ms = new Float64Array(LATENCY_WINDOW);
  #count = 0;
  #next = 0;

  /** Records one task's latency. */
  add(ms: number): void {
    this.#ms[this.#next] = ms;
    this.#next = (this.#next + 1) % LATENCY_WINDOW;
    if (this.#count < LATENCY_WINDOW) this.#count++;
  }

  /** The `p`-th percentile (0..1, nearest rank) of what is recorded; 0 with nothing recorded. */
  percentiles(...ps: number[]): number[] {
    if (this.#count === 0) return ps.map(() => 0);
    const sorted = this.#ms.slice(0, this.#count).sort();
    return ps.map((p) => sorted[Math.min(this.#count - 1, Math.max(0, Math.ceil(p * this.#count) - 1))]);
  }
}

/** One worker's busy and alive time; the pool sums them. */
export class WorkerClock {
  readonly #born = performance.now();
  #busySince = -1;
  #busyMs = 0;
  #diedAt = -1;

  /** Whether the worker holds a task now: starts or stops its busy time. */
  busy(busy: boolean): void {
    if (busy === this.#busySince >= 0) return;
    const now = performance.now();
    if (busy) {
      this.#busySince = now;
    } else {
      this.#busyMs += now - this.#busySince;
      this.#busySince = -1;
    }
  }

  /** The worker is gone: its clocks stop. */
  stop(): void {
    this.busy(false);
    if (this.#diedAt < 0) this.#diedAt = performance.now();
  }

  /** `[busy, alive]` milliseconds until now (or until it stopped). */
  read(now: number): [number, number] {
    const busy = this.#busyMs + (this.#busySince >= 0 ? now - this.#busySince : 0);
    return [busy, (this.#diedAt >= 0 ? this.#diedAt : now) - this.#born];
  }
}

/** Busy and alive time of workers gone, and of those alive: utilisation 0..1 (0 before any alive time). */
export class Utilisation {
  #busyMs = 0;
  #aliveMs = 0;

  /** Adds a worker that is gone to the totals. */
  retire(clock: WorkerClock): void {
    clock.stop();
    const [busy, alive] = clock.read(performance.now());
    this.#busyMs += busy;
    this.#aliveMs += alive;
  }

  /** Busy worker-time over alive worker-time since the pool started, with `live` workers' time so far. */
  read(live: Iterable<WorkerClock>): number {
    const now = performance.now();
    let busyMs = this.#busyMs;
    let aliveMs = this.#aliveMs;
    for (const clock of live) {
      const [busy, alive] = clock.read(now);
      busyMs += busy;
      aliveMs += alive;
    }
    return aliveMs > 0 ? Math.min(1, busyMs / aliveMs) : 0;
  }
}

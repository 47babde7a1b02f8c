/**
 * `Pool#map`'s iteration: takes inputs lazily from a sync or async iterable,
 * keeps at most `concurrency` tasks in flight, and yields their results in
 * the inputs' order.
 * @packageDocumentation
 */
import { abortError } from './cancel';

/** A task's outcome at place `index` of the map: its value (`ok`), or its error. Called once per place. */
export type Settle = (index: number, ok: boolean, value: unknown) => void;

/** Places forgotten at once once yielded, so that a long map holds only what is in flight. */
const COMPACT = 1024;

/** A place's state: its task still runs, or its outcome. */
const PENDING = 0;
const DONE = 1;
const FAILED = 2;

/**
 * Results of the tasks `submit(input, index, settle)` starts, one per input,
 * in order: each task's outcome comes through `settle` (no promise per task);
 * a `submit` that throws fails its place. A failure is thrown at its place
 * and ends the iteration; the tasks still in flight then run to their end
 * and their outcomes are dropped. Ending early (`break`, `return`, a
 * failure, an abort) takes no more input and calls the input iterator's
 * `return()`.
 */
export async function* mapOrdered(
  iterable: Iterable<unknown> | AsyncIterable<unknown>,
  submit: (input: unknown, index: number, settle: Settle) => void,
  concurrency: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<unknown, void, undefined> {
  const isAsync = typeof (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
  const iterator = isAsync
    ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
    : (iterable as Iterable<unknown>)[Symbol.iterator]();
  let aborted: Promise<never> | null = null;
  if (signal !== undefined) {
    aborted = new Promise((_, reject) => {
      if (signal.aborted) reject(abortError(signal));
      signal.addEventListener('abort', () => reject(abortError(signal)), { once: true });
    });
    aborted.catch(() => undefined);
  }
  // Places `base` onwards: their states and outcomes. `head` is the next to yield, `next` the next to start.
  let states: number[] = [];
  let outcomes: unknown[] = [];
  let base = 0;
  let head = 0;
  let next = 0;
  let finished = false;
  /** Wakes the iteration waiting for place `head`. */
  let wake: (() => void) | null = null;
  const settle: Settle = (index, ok, value) => {
    if (finished) return;
    states[index - base] = ok ? DONE : FAILED;
    outcomes[index - base] = value;
    if (index === head && wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  };
  let exhausted = false;
  try {
    for (;;) {
      // Take input while there is room (a sync iterator without a turn of the event loop between items).
      while (!exhausted && next - head < concurrency) {
        if (signal?.aborted) throw abortError(signal);
        let step = iterator.next();
        if (isAsync) step = await (aborted === null ? step : Promise.race([step, aborted]));
        const { done, value } = step as IteratorResult<unknown>;
        if (done === true) {
          exhausted = true;
          break;
        }
        const index = next++;
        states.push(PENDING);
        outcomes.push(undefined);
        try {
          submit(value, index, settle);
        } catch (err) {
          settle(index, false, err);
        }
      }
      if (head === next) return;
      if (states[head - base] === PENDING) {
        const settled = new Promise<void>((resolve) => (wake = resolve));
        await (aborted === null ? settled : Promise.race([settled, aborted]));
      }
      const at = head - base;
      const state = states[at];
      const outcome = outcomes[at];
      outcomes[at] = undefined;
      if (++head - base >= COMPACT) {
        states = states.slice(head - base);
        outcomes = outcomes.slice(head - base);
        base = head;
      }
      if (state === FAILED) throw outcome;
      yield outcome;
    }
  } finally {
    finished = true;
    wake = null;
    if (!exhausted) {
      exhausted = true;
      await iterator.return?.();
    }
  }
}

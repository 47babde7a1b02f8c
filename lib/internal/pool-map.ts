/**
 * `Pool#map`'s iteration: takes inputs lazily from a sync or async iterable,
 * keeps at most `concurrency` tasks in flight, and yields their results in
 * the inputs' order.
 * @packageDocumentation
 */
import { abortError } from './cancel';

/** A task's outcome, held until its turn in the order. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const settled = (value: unknown): Outcome => ({ ok: true, value });
const failed = (error: unknown): Outcome => ({ ok: false, error });

/**
 * Results of `submit(input)` for each input, in order. A failure is thrown
 * at its place and ends the iteration; the tasks still in flight then run to
 * their end and their outcomes are dropped. Ending early (`break`, `return`,
 * a failure, an abort) takes no more input and calls the input iterator's
 * `return()`.
 */
export async function* mapOrdered(
  iterable: Iterable<unknown> | AsyncIterable<unknown>,
  submit: (input: unknown) => Promise<unknown>,
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
  const inFlight: Promise<Outcome>[] = [];
  let head = 0;
  let exhausted = false;
  try {
    for (;;) {
      // Take input while there is room (a sync iterator without a turn of the event loop between items).
      while (!exhausted && inFlight.length - head < concurrency) {
        if (signal?.aborted) throw abortError(signal);
        let step = iterator.next();
        if (isAsync) step = await (aborted === null ? step : Promise.race([step, aborted]));
        const { done, value } = step as IteratorResult<unknown>;
        if (done === true) {
          exhausted = true;
          break;
        }
        inFlight.push(submit(value).then(settled, failed));
      }
      if (head === inFlight.length) return;
      const next = inFlight[head];
      // Forget what was yielded now and then, so that a long map holds only what is in flight.
      if (++head >= 1024) {
        inFlight.splice(0, head);
        head = 0;
      }
      const outcome = await (aborted === null ? next : Promise.race([next, aborted]));
      if (!outcome.ok) throw outcome.error;
      yield outcome.value;
    }
  } finally {
    if (!exhausted) {
      exhausted = true;
      await iterator.return?.();
    }
  }
}

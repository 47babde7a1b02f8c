/**
 * What `console.log(handle)` and `util.inspect(handle)` print for every
 * handle: its kind and the state a user debugs with (name, fd, size, closed),
 * like Node's own `Socket { ... }`, never `SharedMemory {}` (private fields are
 * invisible to inspect).
 * @packageDocumentation
 */
import { inspect, type InspectOptions } from 'node:util';

/**
 * The options a custom inspector receives: declared here, not imported, because
 * `@types/node` renamed its own (`InspectOptionsStylized`, `InspectContext` from 26 on)
 * and a user's newer `@types/node` must still compile against this package.
 */
export type InspectOptionsStylized = InspectOptions & { stylize(text: string, styleType: string): string };

/** The symbol a class implements as `[inspectCustom](depth, options)`. */
export const inspectCustom: typeof inspect.custom = inspect.custom;

/**
 * `Kind { name: '/jobs', fd: 21, size: 4096, closed: false }`; `[Kind]` once
 * nested deeper than `options.depth`.
 */
export function inspectHandle(
  kind: string, fields: Record<string, unknown>, depth: number, options: InspectOptionsStylized,
): string {
  if (depth < 0) return options.stylize(`[${kind}]`, 'special');
  const inner = { ...options, depth: options.depth == null ? null : options.depth - 1 };
  return `${kind} ${inspect(fields, inner)}`;
}

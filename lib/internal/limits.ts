/**
 * Reading the kernel limits that errors name: sysctls under /proc/sys and this
 * process's rlimits from /proc/self/limits.
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';

/** A number from a /proc file, e.g. /proc/sys/fs/mqueue/msg_max; undefined if unreadable. */
export function procNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** An rlimit's soft limit from /proc/self/limits by its label ('Max open files'), or 'unknown'. */
export function softLimit(label: string): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(label));
    return line?.slice(26).trim().split(/\s+/)[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

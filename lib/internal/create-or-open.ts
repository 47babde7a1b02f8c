/**
 * Creating a named object with a creation mode that is exact whatever the
 * umask, and knowing whether this call created it.
 * @packageDocumentation
 */
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { check, existsError } from '../errors';

const { O_CREAT, O_EXCL } = fsConstants;
const { EEXIST, ENOENT } = osConstants.errno;

/**
 * Opens with `open(extraFlags)`: with `exclusive`, O_CREAT | O_EXCL (EEXIST when
 * taken); otherwise it creates the object, or opens it if it exists. `created`
 * tells which, so a failure after it can remove exactly what this call made.
 */
export function createOrOpen(
  open: (extraFlags: number) => number, exclusive: boolean, syscall: string, path: string,
): { fd: number; created: boolean } {
  for (;;) {
    const fd = open(O_CREAT | O_EXCL);
    if (fd === -EEXIST && exclusive) throw existsError(syscall, path);
    if (fd !== -EEXIST) return { fd: check(fd, syscall, path), created: true };
    const existing = open(0);
    // ENOENT: it was unlinked between the two calls; try to create it again.
    if (existing !== -ENOENT) return { fd: check(existing, syscall, path), created: false };
  }
}

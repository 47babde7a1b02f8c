/**
 * The safety net for handles that are garbage-collected without `close()`:
 * one FinalizationRegistry for every kind of object. It closes the handle's
 * watcher before its descriptors, because closing a uv_poll handle removes its
 * descriptor *number* from epoll: done after the close, that number could
 * already belong to someone else's socket, which would silently stop getting
 * events.
 * @packageDocumentation
 */
import { binding } from '../binding';
import { closedError } from '../errors';
import type { Poller } from './poller';

/** What a collected handle gives back; mutable, so a handle can add a descriptor later. */
export interface Reclaim {
  fds: number[];
  poller: Poller | null;
}

const registry = new FinalizationRegistry<Reclaim>(({ fds, poller }) => {
  poller?.close(() => closedError('handle'));
  for (const fd of fds) binding.close(fd);
});

/** Gives back `reclaim` when `owner` is collected, unless `forget(owner)` came first. */
export function reclaimOnCollect(owner: object, reclaim: Reclaim): Reclaim {
  registry.register(owner, reclaim, owner);
  return reclaim;
}

/** The owner closed its resources itself. */
export function forget(owner: object): void {
  registry.unregister(owner);
}

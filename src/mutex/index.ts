// The mutex: one holder at a time, on one node or a quorum. Waiters queue on each node; a release wakes the
// longest waiter alone, and keeps the lock for it once it has waited a while (scripts in this folder).
import type { Primitive } from "../primitive.js";
import { attemptMutex } from "./acquire.js";
import { extendMutex } from "./extend.js";
import { type MutexKeys, mutexKeys } from "./keys.js";
import { releaseMutex } from "./release.js";

export const mutex: Primitive<MutexKeys> = {
  keys: mutexKeys,
  attempt: attemptMutex,
  async leave(ctx, keys, token, place, after) {
    // Drops the place on every node, and passes on a lock that a release kept for this waiter meanwhile.
    await releaseMutex(ctx, keys, token, { after, holding: `r:${place.id}`, drop: place.id });
  },
  extend: extendMutex,
  release: (ctx, keys, token, after, place) =>
    releaseMutex(ctx, keys, token, {
      after,
      // Only a place that was queued needs dropping: the uncontended path sends no queue commands at all.
      drop: place?.registered === undefined ? undefined : place.id,
      settleOnQuorum: true,
    }),
};

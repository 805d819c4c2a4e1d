// The mutex: one holder at a time, on one node or a quorum. Waiters queue on each node; a release wakes the
// longest waiter alone, and hands it the lock once it has waited a while (scripts in this folder).
import { claimHandOff, claimQuorumHandOff } from "../handoff.js";
import type { Primitive } from "../primitive.js";
import { attemptMutex } from "./acquire.js";
import { extendMutex } from "./extend.js";
import { type MutexKeys, mutexKeys } from "./keys.js";
import { releaseMutex } from "./release.js";

export const mutex: Primitive<MutexKeys> = {
  keys: mutexKeys,
  attempt: attemptMutex,
  // A release hands the lock to a waiter that has waited long (mutex/release.lua): on a quorum, node by node.
  claim: (ctx, message, ttl, last) =>
    ctx.nodes.length === 1
      ? claimHandOff(ctx, message, ttl, last)
      : claimQuorumHandOff(ctx, message, ttl, last),
  async leave(ctx, keys, token, place, after) {
    // Drops the place on every node, and passes on a lock that a release kept for this waiter ("r:" + its id)
    // or handed to it (its token) meanwhile.
    await releaseMutex(ctx, keys, token, { after, drop: place.id });
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

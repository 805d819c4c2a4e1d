// The read side of a read-write lock: shared holds in a sorted set beside the mutex of the same name (the write
// side). One attempt runs the mutex's attempt logic with the reader's script; see docs/rwlock.md.
import type { LockContext } from "../context.js";
import { type AttemptSpec, attemptWith } from "../mutex/acquire.js";
import { extendWith } from "../mutex/extend.js";
import { type ReleaseMutexOptions, releaseWith } from "../mutex/release.js";
import type { Primitive, ReleaseOutcome } from "../primitive.js";
import { type ReadWriteKeys, readWriteKeys } from "./keys.js";
import { acquire, extend, release } from "./scripts.generated.js";

export const read: Primitive<ReadWriteKeys> = {
  keys: readWriteKeys,
  attempt(ctx, keys, token, ttl, signal, place) {
    const spec: AttemptSpec = {
      script: acquire,
      keys: [
        keys.lock,
        keys.fence,
        keys.waiting,
        keys.heartbeats,
        keys.readers,
        keys.readWaiting,
        keys.readHeartbeats,
        keys.queue,
        keys.waiters,
      ],
      // The fence is written back only to nodes where this reader still holds (fence-sync.lua takes a zset).
      holder: { lock: keys.readers, fence: keys.fence },
      undo: (nodes, after) => releaseRead(ctx, keys, token, { nodes, after, reserve: false }),
    };
    return attemptWith(ctx, spec, token, ttl, signal, place);
  },
  async leave(ctx, keys, token, place, after) {
    // Nothing is ever kept for a reader: leaving only drops the place.
    await releaseRead(ctx, keys, token, { after, drop: place.id, reserve: false });
  },
  extend: (ctx, keys, token, ttl) => extendWith(ctx, extend, [keys.readers], token, ttl),
  release: (ctx, keys, token, after, place) =>
    releaseRead(ctx, keys, token, {
      after,
      drop: place?.registered === undefined ? undefined : place.id,
      settleOnQuorum: true,
    }),
};

/** Frees the reader `token` on the chosen nodes (as releaseMutex does for the lock), waking who may go next. */
export function releaseRead(
  ctx: LockContext,
  keys: ReadWriteKeys,
  token: string,
  options: ReleaseMutexOptions,
): Promise<ReleaseOutcome> {
  const scriptKeys = [
    keys.lock,
    keys.waiting,
    keys.heartbeats,
    keys.readers,
    keys.readWaiting,
    keys.readHeartbeats,
    keys.queue,
    keys.waiters,
  ];
  return releaseWith(ctx, release, scriptKeys, { lock: keys.readers, channel: keys.channel }, token, options);
}

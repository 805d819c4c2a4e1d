// Fair mode (`fair: true`, one node): waiters queue in Redis in arrival order, and a release hands the lock
// straight to the longest-waiting one. The scripts are in this folder; the queue logic they share is in
// lua-shared/queue.lua.
import type { LockContext } from "../context.js";
import type { NodeOutcome } from "../errors.js";
import { type ClockMark, claimHandOff, oneNodeLease } from "../handoff.js";
import { extendMutex } from "../mutex/extend.js";
import { type MutexKeys, mutexKeys } from "../mutex/keys.js";
import type { AttemptResult, Primitive, ReleaseOutcome } from "../primitive.js";
import { vote } from "../quorum.js";
import { newReleaseId } from "../release.js";
import { runScript } from "../script.js";
import { monotonicNow, validityLeft } from "../validity.js";
import { acquire as fairAcquire, release as fairRelease } from "./scripts.generated.js";

/**
 * A waiter refreshes its place at least this often (a wake-up with nothing to do still refreshes it) …
 */
export const REFRESH_MS = 500;
/** … and a place not refreshed for this long is skipped and dropped: a crashed waiter never wedges the queue. */
export const PLACE_MS = 2_000;

type Reply =
  | { readonly held: true; readonly fence: number; readonly pttl: number; readonly mark: ClockMark }
  | { readonly held: false; readonly pttl: number; readonly mark: ClockMark };

const ok = (ctx: LockContext): NodeOutcome => ({ node: ctx.nodes[0]!.label, status: "ok" });

export const fair: Primitive<MutexKeys> = {
  keys: mutexKeys,

  /**
   * Takes the lock when it is free and nobody waits (or it was handed to this waiter meanwhile), else queues
   * (with a place) or refreshes the place.
   */
  async attempt(ctx, keys, token, ttl, signal, place): Promise<AttemptResult> {
    const sentAt = monotonicNow();
    if (place) place.registered = sentAt; // fair waiters queue from their first attempt: arrival order
    const args = [token, ttl, ctx.fencing ? "1" : "0", place?.id ?? "", place ? PLACE_MS : 0, keys.channel];
    const { result, done } = vote<Reply>(
      ctx.nodes,
      async (conn, abandoned) => {
        const raw = (await runScript(
          conn,
          fairAcquire,
          [keys.lock, keys.fence, keys.queue, keys.waiters, keys.readers],
          args,
          abandoned,
        )) as number[];
        if (raw[0] === 1) {
          const mark = { sentAt, serverMicros: Number(raw[3]) };
          return { status: "ok", value: { held: true, fence: Number(raw[1]), pttl: Number(raw[2]), mark } };
        }
        const mark = { sentAt, serverMicros: Number(raw[2]) };
        return { status: "refused", value: { held: false, pttl: Number(raw[1]), mark } };
      },
      { quorum: 1, timeout: ctx.nodeTimeout, signal, about: { operation: "acquire", key: keys.lock } },
    );
    const round = await result;
    const reply = round.verdicts[0]?.value;
    if (!reply) return { kind: "unavailable", outcomes: round.outcomes };
    if (reply.held) {
      const start = reply.mark.sentAt - Math.max(0, ttl - reply.pttl);
      if (validityLeft(ttl, start, monotonicNow()) > 0) return oneNodeLease(ctx, start, reply.fence);
      // Handed to us so long ago that no validity is left (this process was stalled): pass it on.
      await releaseFair(ctx, keys, token, place?.id, done);
    }
    const retryAfter = reply.pttl > 0 ? Math.min(reply.pttl, REFRESH_MS) : REFRESH_MS;
    return { kind: "busy", retryAfter, outcomes: [ok(ctx)], mark: reply.mark };
  },

  /** A hand-off announced as "h:<waiter id>:<fence>:<server µs>" (see lua-shared/queue.lua). */
  claim: claimHandOff,

  async leave(ctx, keys, token, place, after) {
    await releaseFair(ctx, keys, token, place.id, after);
  },
  extend: extendMutex,
  // A lease's place is gone already: the attempt that took the lock (or the hand-off) dropped it.
  release: (ctx, keys, token, after) => releaseFair(ctx, keys, token, undefined, after),
};

/**
 * Fair mode's release: compare-and-delete, then hand the lock to the longest-waiting live waiter (announced
 * on the channel). `waiter` also drops that waiter id from the queue (a waiter that leaves passes on a lock
 * handed to it meanwhile).
 */
export async function releaseFair(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  waiter: string | undefined,
  after: readonly Promise<void>[] | undefined,
): Promise<ReleaseOutcome> {
  const { result } = vote(
    ctx.nodes,
    async (conn, abandoned) => {
      await after?.[0];
      const reply = await runScript(
        conn,
        fairRelease,
        [
          keys.lock,
          keys.fence,
          keys.queue,
          keys.waiters,
          keys.waiting,
          keys.readWaiting,
          keys.readHeartbeats,
        ],
        [token, keys.channel, waiter ?? "", newReleaseId()],
        abandoned,
      );
      return { status: reply === 0 ? "refused" : "ok", value: null };
    },
    {
      quorum: 1,
      timeout: ctx.nodeTimeout,
      waitForAll: true,
      about: { operation: "release", key: keys.lock },
    },
  );
  const { outcomes } = await result;
  return { answered: outcomes.filter((o) => o.status === "ok" || o.status === "refused").length, outcomes };
}

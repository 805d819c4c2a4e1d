import {
  countsHandOffs,
  type NodeReply,
  placeArg,
  queueing,
  refusal,
  settleAttempt,
  undoAttempt,
} from "../attempt.js";
import type { LockContext } from "../context.js";
import { SemaphoreLimitError } from "../errors.js";
import type { AttemptResult, Place } from "../primitive.js";
import { type VoteResult, vote } from "../quorum.js";
import { runScript } from "../script.js";
import type { Abortable } from "../signals.js";
import { monotonicNow } from "../validity.js";
import type { SemaphoreKeys } from "./keys.js";
import { releaseSemaphore } from "./release.js";
import { acquire as acquireScript } from "./scripts.generated.js";

/** What one attempt asks for: `permits` of the semaphore `resource`, whose limit is `limit`. */
export interface PermitRequest {
  readonly resource: string;
  readonly limit: number;
  readonly permits: number;
}

/** What one node said: granted (with its fence), busy (when a permit frees by expiry, its time), or a limit clash. */
type AcquireReply = NodeReply & { heldLimit?: number };

/**
 * One attempt: take the permits on every node in parallel (queueing the waiter where they do not fit); with `q`
 * grants (ctx.quorum, more than a majority: see docs/semaphore.md), agree on the fence, then check that validity
 * is left. Anything short of a lease frees what it got on every node that may hold it.
 */
export async function attemptSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  request: PermitRequest,
  token: string,
  ttl: number,
  signal: Abortable | undefined,
  place: Place | undefined,
): Promise<AttemptResult> {
  const start = monotonicNow();
  // Pollers queue too: a waiter that wants many permits is protected by its place, not by being woken.
  const queue = queueing(ctx, place, true, start);
  const dropOnGrant = ctx.nodes.length === 1;
  const args = [
    token,
    ttl,
    ctx.fencing ? "1" : "0",
    request.limit,
    request.permits,
    placeArg(place, queue),
    // One node: a grant is the whole vote (never undone for a split), so the script drops the place with it.
    dropOnGrant ? "1" : "0",
  ];
  // Its permits may be handed over node by node: the refusals then carry the fencing counters (ARGV[8]).
  const counted = countsHandOffs(ctx, queue);
  if (counted) args.push("1");
  const grants = { token, role: "grant" } as const;
  let handedEarlier = 0;
  const { result, abandon, done } = vote<AcquireReply>(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = (await runScript(
        conn,
        acquireScript,
        [keys.holders, keys.fence, keys.permits, keys.waiting, keys.heartbeats],
        args,
        abandoned,
        grants,
      )) as number | [number, number, number?, number?];
      // The usual grant is a bare integer, the fence (0 when not bumped), of a counter that existed.
      if (typeof reply === "number") {
        return { status: "ok", value: { fence: reply, existed: true, retryAfter: 0, now: 0 } };
      }
      const [kind, a, b, c] = reply.map(Number) as [number, number, number, number?];
      if (kind === 1) return { status: "ok", value: { fence: a, existed: b !== 0, retryAfter: 0, now: 0 } };
      if (kind === 3) {
        // Permits a release handed to this waiter before it asked: its lease began then, not now.
        handedEarlier = Math.max(handedEarlier, ttl - b);
        return { status: "ok", value: { fence: a, existed: true, retryAfter: 0, now: 0 } };
      }
      if (kind === 2) {
        return { status: "refused", value: { fence: 0, existed: true, retryAfter: 0, now: 0, heldLimit: a } };
      }
      return refusal(conn, counted, a, b, c);
    },
    {
      quorum: ctx.quorum,
      timeout: Math.min(ctx.nodeTimeout, ttl),
      signal,
      about: { operation: "acquire", key: keys.holders },
      skipLagging: true,
      refusalWaitsForAll: true,
    },
  );
  const release = (nodes: readonly number[] | undefined) =>
    releaseSemaphore(ctx, keys, request.limit, token, { nodes, after: done, undo: true });
  let round: VoteResult<AcquireReply>;
  try {
    round = await result;
  } catch (reason) {
    // Aborted mid-flight: any node may end up granting. Free the permits behind each node's acquire, and only
    // then reject, so that a caller who sees the abort finds nothing of this attempt on a node that answers.
    await release(undefined).catch(() => {});
    throw reason;
  }

  const failed = async (outcome: Exclude<AttemptResult, { kind: "acquired" }>): Promise<AttemptResult> => {
    abandon();
    await undoAttempt(ctx, round, outcome.kind !== "busy", release);
    return outcome;
  };

  const clash = round.verdicts.find((v) => v?.value.heldLimit !== undefined)?.value.heldLimit;
  if (clash !== undefined) {
    await failed({ kind: "unavailable", outcomes: round.outcomes });
    throw new SemaphoreLimitError(request.resource, request.limit, clash, round.outcomes);
  }

  const settled = await settleAttempt(ctx, round, {
    holder: { lock: keys.holders, fence: keys.fence },
    token,
    ttl,
    start: start - handedEarlier,
    signal,
    place,
    grantsKeepNoPlace: queue.first || dropOnGrant,
    abandon,
    failed,
  });
  if (settled.kind === "acquired" && place?.registered !== undefined) {
    // The waiter stays queued until its place is dropped. Where it holds it is skipped, and its release drops the
    // place; elsewhere its wanted permits would hold back the waiters behind it for as long as it holds: drop it
    // there now, behind each node's acquire. (Granted everywhere, it has no place left: see settleAttempt.)
    const elsewhere = round.outcomes.flatMap((o, i) => (o.status === "ok" ? [] : [i]));
    if (elsewhere.length > 0) {
      ctx.track(
        releaseSemaphore(ctx, keys, request.limit, "", { nodes: elsewhere, after: done, drop: place.id }),
      );
    }
  }
  return settled;
}

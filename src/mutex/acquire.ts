import { randomFillSync } from "node:crypto";
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
import type { FenceKeys } from "../fencing/agree.js";
import type { AttemptResult, Place } from "../primitive.js";
import { type VoteResult, vote } from "../quorum.js";
import { type LuaScript, type Ownership, runScript } from "../script.js";
import type { Abortable } from "../signals.js";
import { monotonicNow } from "../validity.js";
import type { MutexKeys } from "./keys.js";
import { releaseMutex } from "./release.js";
import { acquire as acquireScript } from "./scripts.generated.js";

const TOKEN_BYTES = 20;
/** Random bytes for the next 256 tokens, drawn in one call: one call per token cost ~10 µs per acquire. */
const pool = Buffer.alloc(TOKEN_BYTES * 256);
let used = pool.length;

/** 160 random bits (CSPRNG): unguessable, so only the owner can release or extend. */
export function newToken(): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += TOKEN_BYTES;
  return pool.toString("base64url", used - TOKEN_BYTES, used);
}

/**
 * What one attempt runs: an acquire script with the mutex's arguments and replies (the mutex's, or a read-write
 * lock's read side), the keys it takes, where the lease is held (for the fence agreement), and how to undo it.
 */
export interface AttemptSpec {
  readonly script: LuaScript;
  /**
   * The script can be asked (ARGV[5]) for the fencing counter with a refusal, which a waiter on a quorum needs to
   * count the nodes that hand it the lock (handoff.ts). The mutex's can; a read-write lock's readers are never
   * handed one.
   */
  readonly handsOff?: boolean;
  readonly keys: readonly string[];
  readonly holder: FenceKeys;
  /** Releases the attempt's hold on `nodes`, each behind `after[i]`, keeping the lock for no waiter. */
  undo(nodes: readonly number[] | undefined, after: readonly Promise<void>[]): Promise<unknown>;
}

/** One attempt at the mutex (see {@link attemptWith}). */
export function attemptMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  ttl: number,
  signal: Abortable | undefined,
  place: Place | undefined,
): Promise<AttemptResult> {
  const spec: AttemptSpec = {
    script: acquireScript,
    handsOff: true,
    keys: [keys.lock, keys.fence, keys.waiting, keys.heartbeats, keys.readers],
    holder: keys,
    undo: (nodes, after) => releaseMutex(ctx, keys, token, { nodes, after, reserve: false }),
  };
  return attemptWith(ctx, spec, token, ttl, signal, place);
}

/**
 * One Redlock attempt: take the key on every node in parallel (queueing the waiter where it is busy); with a
 * quorum, agree on the fence, then check that validity is left. Anything short of a lease releases what it got
 * on every node that may hold it, including nodes that never answered.
 */
export async function attemptWith(
  ctx: LockContext,
  spec: AttemptSpec,
  token: string,
  ttl: number,
  signal: Abortable | undefined,
  place: Place | undefined,
): Promise<AttemptResult> {
  const start = monotonicNow();
  // A poller is not queued: a lock kept for it would wait for its next look.
  const queue = queueing(ctx, place, place?.reachable === true, start);
  const args = [token, ttl, ctx.fencing ? "1" : "0", placeArg(place, queue)];
  // The lock may be handed over node by node: the refusals then carry the fencing counters (ARGV[5]).
  const counted = spec.handsOff === true && countsHandOffs(ctx, queue);
  if (counted) args.push("1");
  const grants: Ownership = { token, role: "grant" };
  let handedEarlier = 0;
  const { result, abandon, done } = vote<NodeReply>(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = (await runScript(conn, spec.script, spec.keys, args, abandoned, grants)) as
        | number
        | [number, number, number?, number?];
      // The usual grant is a bare integer, the fence (0 when not bumped), of a counter that existed.
      if (typeof reply === "number") {
        return { status: "ok", value: { fence: reply, retryAfter: 0, existed: true, now: 0 } };
      }
      if (reply[0] === 1) {
        // A lock handed to this waiter before it asked: its lease began when the server says, not now.
        if (reply[3] !== undefined) handedEarlier = Math.max(handedEarlier, ttl - Number(reply[3]));
        return {
          status: "ok",
          value: { fence: Number(reply[1]), retryAfter: 0, existed: reply[2] !== 0, now: 0 },
        };
      }
      return refusal(conn, counted, Number(reply[1]), Number(reply[2]), reply[3]);
    },
    {
      quorum: ctx.quorum,
      timeout: Math.min(ctx.nodeTimeout, ttl),
      signal,
      about: { operation: "acquire", key: spec.holder.lock },
      skipLagging: true,
      refusalWaitsForAll: true,
    },
  );
  let round: VoteResult<NodeReply>;
  try {
    round = await result;
  } catch (reason) {
    // Aborted mid-flight: any node may end up holding the key. Delete it behind each node's acquire and only then
    // reject, so that a caller who sees the abort finds no key of this attempt on a node that answers (bounded
    // by the node timeout, like any failed attempt's cleanup).
    await spec.undo(undefined, done).catch(() => {});
    throw reason;
  }

  return settleAttempt(ctx, round, {
    holder: spec.holder,
    token,
    ttl,
    start: start - handedEarlier,
    signal,
    place,
    grantsKeepNoPlace: queue.first,
    abandon,
    async failed(outcome) {
      abandon();
      await undoAttempt(ctx, round, outcome.kind !== "busy", (nodes) => spec.undo(nodes, round.done));
      return outcome;
    },
  });
}

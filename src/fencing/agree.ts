// Quorum mode's fence agreement, shared by every primitive that hands out fences on a quorum: the lease's fence
// is the highest counter among the granting nodes, written back to a majority that still holds the lease
// before the lease is handed out (see fence-sync.lua and docs/SAFETY.md).
import type { LockContext } from "../context.js";
import { vote } from "../quorum.js";
import { runScript } from "../script.js";
import type { Abortable } from "../signals.js";
import { monotonicNow, validityLeft } from "../validity.js";
import { fenceSync } from "./scripts.generated.js";

/** What one granting node said about its counter. `existed`: it had one before this attempt bumped it. */
export interface GrantedFence {
  readonly fence: number;
  readonly existed: boolean;
}

/** The keys fence-sync.lua needs: the lock (to check the lease still holds it) and the counter. */
export interface FenceKeys {
  /** The key that holds the lease: a string (the owner's token) or a sorted set (token -> expiry, server ms). */
  readonly lock: string;
  readonly fence: string;
}

/** The fence, or why there is none: `late` when validity ran out, `unwritten` when no majority took it. */
export type FenceOutcome = number | "late" | "unwritten";

/**
 * Agrees on the lease's fence from what the granting nodes reported. Skips the write-back when a majority
 * already reported the same value (always on one node, and the steady state elsewhere: counters only count up).
 * A granting node without a counter may have restarted without its data and been the only witness of the last
 * fence in this majority: then every node is asked first (the restore).
 */
export function agreeOnFence(
  ctx: LockContext,
  keys: FenceKeys,
  token: string,
  ttl: number,
  start: number,
  granted: readonly GrantedFence[],
  signal: Abortable | undefined,
): FenceOutcome | Promise<FenceOutcome> {
  let value = 0;
  let missing = false;
  for (const v of granted) {
    if (v.fence > value) value = v.fence;
    if (!v.existed) missing = true;
  }
  // That the other granting nodes have no counter either proves nothing (they may never have seen the
  // resource, while the witnesses refuse or are slow). One node has nobody to ask.
  const everyNode = ctx.nodes.length > 1 && missing;
  // The steady state, answered without a promise: this runs for every lock taken.
  if (!everyNode && steadyFence(ctx.quorum, granted) !== undefined) return value;
  return syncUntilAgreed(ctx, keys, token, ttl, start, value, everyNode, signal);
}

/**
 * The steady state of {@link agreeOnFence}: the highest fence, when at least `quorum` of the nodes reported that
 * very value (then a majority holds it already, and no write-back is needed); undefined otherwise. The caller
 * has checked that every counter existed.
 */
export function steadyFence(
  quorum: number,
  granted: Iterable<{ readonly fence: number }>,
): number | undefined {
  let value = 0;
  let same = 0;
  for (const v of granted) {
    if (v.fence > value) {
      value = v.fence;
      same = 1;
    } else if (v.fence === value) same++;
  }
  return same >= quorum ? value : undefined;
}

/** {@link agreeOnFence}'s write-back: `value` to a majority (after asking every node, with `everyNode`). */
async function syncUntilAgreed(
  ctx: LockContext,
  keys: FenceKeys,
  token: string,
  ttl: number,
  start: number,
  highest: number,
  askEveryNode: boolean,
  signal: Abortable | undefined,
): Promise<FenceOutcome> {
  let value = highest;
  let everyNode = askEveryNode;
  // A round that fell short only because nodes were slow is tried once more while validity is left.
  let retries = 1;
  for (;;) {
    const remaining = validityLeft(ttl, start, monotonicNow());
    if (remaining <= 0) return "late";
    // Waiting for every node must not eat the validity: give the slow ones half of what is left.
    const timeout = Math.max(1, Math.min(ctx.nodeTimeout, everyNode ? remaining / 2 : remaining));
    const synced = await syncFence(ctx, keys, token, value, timeout, signal, everyNode);
    if (!synced.granted) {
      if (validityLeft(ttl, start, monotonicNow()) <= 0) return "late";
      if (synced.refused <= ctx.nodes.length - ctx.quorum && retries-- > 0 && !signal?.aborted) continue;
      return "unwritten";
    }
    if (!everyNode || synced.above <= value) return value;
    value = synced.above;
    everyNode = false;
  }
}

/**
 * Writes `fence` back to a majority that still holds the lock. With `everyNode`, every node is waited for (up to
 * `timeout`) and reports its counter, holder or not. `above`: the lowest fence above every counter reported.
 */
async function syncFence(
  ctx: LockContext,
  keys: FenceKeys,
  token: string,
  fence: number,
  timeout: number,
  signal: Abortable | undefined,
  everyNode: boolean,
): Promise<{ granted: boolean; above: number; refused: number }> {
  const { result, abandon } = vote<number>(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = (await runScript(
        conn,
        fenceSync,
        [keys.lock, keys.fence],
        [token, fence],
        abandoned,
      )) as [number, number];
      return { status: reply[0] === 1 ? "ok" : "refused", value: Number(reply[1]) };
    },
    {
      quorum: ctx.quorum,
      timeout,
      signal,
      waitForAll: everyNode,
      about: { operation: "fence-sync", key: keys.lock },
    },
  );
  try {
    const { granted, verdicts } = await result;
    // A node that does not hold this lock may have handed out its counter as someone's fence: one more. A
    // holder's counter was bumped for this lease by its acquire (it may have granted late, after the first round
    // settled), so it is already above what that node had seen.
    let above = 0;
    let refused = 0;
    for (const v of verdicts) {
      if (v?.status === "refused") refused++;
      if (v) above = Math.max(above, v.status === "refused" ? v.value + 1 : v.value);
    }
    return { granted, above, refused };
  } catch {
    return { granted: false, above: 0, refused: 0 }; // aborted: the caller's abort check reports it
  } finally {
    abandon();
  }
}

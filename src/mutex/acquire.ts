import { randomFillSync } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { LockContext } from "../context.js";
import { LockAbortedError, LockUnavailableError, type NodeOutcome } from "../errors.js";
import { type VoteResult, vote } from "../quorum.js";
import { runScript } from "../script.js";
import { monotonicNow, validityLeft } from "../validity.js";
import type { WaitStrategy } from "../waiting/strategy.js";
import type { MutexKeys } from "./keys.js";
import { releaseMutex } from "./release.js";
import { acquire as acquireScript, fenceSync } from "./scripts.generated.js";

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

export type AttemptResult =
  | {
      readonly kind: "acquired";
      /** Monotonic instant the attempt began: validity is counted from here. */
      readonly start: number;
      readonly fence: number | undefined;
      readonly outcomes: readonly NodeOutcome[];
      /**
       * Per node: settles once this attempt's request to it has answered or timed out. A release must be
       * sent after it, or a straggler's NOSCRIPT→EVAL fallback could set the key again behind the release.
       */
      readonly done: readonly Promise<void>[];
    }
  /**
   * Held by someone else. `retryAfter`: the holder's shortest remaining TTL seen, when known. `split`: this
   * attempt took some nodes but not a quorum (racing contenders split the vote, and nobody may hold it).
   */
  | {
      readonly kind: "busy";
      readonly retryAfter: number | undefined;
      readonly outcomes: readonly NodeOutcome[];
      readonly split?: boolean;
    }
  /** Too few nodes answered, or they answered too late for any validity to remain. */
  | { readonly kind: "unavailable"; readonly outcomes: readonly NodeOutcome[]; readonly detail?: string };

/** `existed`: the node had a fencing counter before this attempt bumped it. */
type AcquireReply = { fence: number; pttl: number; existed: boolean };

/**
 * One Redlock attempt: take the key on every node in parallel; with a quorum, agree on the fence (second
 * round, only when nodes disagree), then check that validity is left. Anything short of a lease releases
 * what it got on every node that may hold it, including nodes that never answered.
 */
export async function attemptMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  ttl: number,
  signal: AbortSignal | undefined,
): Promise<AttemptResult> {
  const start = monotonicNow();
  const fencing = ctx.fencing ? "1" : "0";
  const { result, abandon, done } = vote<AcquireReply>(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = (await runScript(
        conn,
        acquireScript,
        [keys.lock, keys.fence],
        [token, ttl, fencing],
        abandoned,
      )) as [number, number, number?];
      return reply[0] === 1
        ? { status: "ok", value: { fence: Number(reply[1]), pttl: 0, existed: reply[2] !== 0 } }
        : { status: "refused", value: { fence: 0, pttl: Number(reply[1]), existed: true } };
    },
    {
      quorum: ctx.quorum,
      timeout: Math.min(ctx.nodeTimeout, ttl),
      signal,
      about: { operation: "acquire", key: keys.lock },
    },
  );
  let round: VoteResult<AcquireReply>;
  try {
    round = await result;
  } catch (reason) {
    // Aborted mid-flight: any node may end up holding the key. Delete it behind each node's acquire and only then
    // reject, so that a caller who sees the abort finds no key of this attempt on a node that answers (bounded
    // by the node timeout, like any failed attempt's cleanup).
    await releaseMutex(ctx, keys, token, { after: done }).catch(() => {});
    throw reason;
  }

  const failed = async (outcome: Exclude<AttemptResult, { kind: "acquired" }>): Promise<AttemptResult> => {
    abandon();
    await cleanUp(ctx, keys, token, round);
    return outcome;
  };

  if (!round.granted) {
    const errors = round.outcomes.filter((o) => o.status === "error" || o.status === "timeout").length;
    if (errors > ctx.nodes.length - ctx.quorum)
      return failed({ kind: "unavailable", outcomes: round.outcomes });
    const ttls = round.verdicts.flatMap((v) =>
      v?.status === "refused" && v.value.pttl > 0 ? [v.value.pttl] : [],
    );
    return failed({
      kind: "busy",
      retryAfter: ttls.length ? Math.min(...ttls) : undefined,
      outcomes: round.outcomes,
      split: round.outcomes.some((o) => o.status === "ok"),
    });
  }

  const tooLate = () => {
    const elapsed = Math.round(monotonicNow() - start);
    return failed({
      kind: "unavailable",
      outcomes: round.outcomes,
      detail: `a quorum answered after ${elapsed} ms, leaving no validity of the ${ttl} ms TTL`,
    });
  };

  /**
   * Writes `fence` back to a majority that still holds the lock. With `restore`, every node also reports its
   * counter (all are waited for, up to the node timeout or half the validity left), holder or not; when any of
   * them has seen a fence at least this high, the fence goes above it and that is written back instead. A round that fell short only because nodes were slow is tried once more while validity is left (a
   * client starved of CPU sees its timers fire before the replies already waiting on its sockets). Returns the
   * fence, or the failed attempt.
   */
  const writeBackFence = async (proposed: number, restore: boolean): Promise<number | AttemptResult> => {
    let value = proposed;
    let everyNode = restore;
    let retries = 1;
    for (;;) {
      const remaining = validityLeft(ttl, start, monotonicNow());
      if (remaining <= 0) return tooLate();
      // Waiting for every node must not eat the validity: give the slow ones half of what is left.
      const timeout = Math.max(1, Math.min(ctx.nodeTimeout, everyNode ? remaining / 2 : remaining));
      const synced = await syncFence(ctx, keys, token, value, timeout, signal, everyNode);
      if (!synced.granted) {
        if (validityLeft(ttl, start, monotonicNow()) <= 0) return tooLate();
        if (synced.refused <= ctx.nodes.length - ctx.quorum && retries-- > 0 && !signal?.aborted) continue;
        return failed({
          kind: "unavailable",
          outcomes: round.outcomes,
          detail: "the fence could not be written to a majority",
        });
      }
      if (!everyNode || synced.above <= value) return value;
      value = synced.above;
      everyNode = false;
    }
  };

  let fence: number | undefined;
  if (ctx.fencing) {
    const granted = round.verdicts.flatMap((v) => (v?.status === "ok" ? [v.value] : []));
    fence = Math.max(...granted.map((v) => v.fence));
    // A granting node without a counter may have restarted without its data, and it may have been the only
    // witness of the last fence in this majority: ask every node first. That the other granting nodes have no
    // counter either proves nothing (they may never have seen the resource, while the witnesses refuse or are
    // slow), so this also runs for the first acquisition of a resource. One node has nobody to ask.
    const restore = ctx.nodes.length > 1 && granted.some((v) => !v.existed);
    // The fence must be on a majority before anyone relies on it (see fence-sync.lua). Skip the round
    // when a majority already reported exactly this value: always the case on a single node.
    if (restore || granted.filter((v) => v.fence === fence).length < ctx.quorum) {
      const synced = await writeBackFence(fence, restore);
      if (typeof synced !== "number") return synced;
      fence = synced;
    }
  }

  if (validityLeft(ttl, start, monotonicNow()) <= 0) return tooLate();
  return { kind: "acquired", start, fence, outcomes: round.outcomes, done: round.done };
}

async function syncFence(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  fence: number,
  timeout: number,
  signal: AbortSignal | undefined,
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
    // The lowest fence above every counter reported. A node that does not hold this lock may have handed out its
    // counter as someone's fence: one more. A holder's counter was bumped for this lease by its acquire (it may
    // have granted late, after the first round settled), so it is already above what that node had seen.
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

/**
 * Releases the key wherever this attempt may have set it. Nodes that took it or were still answering are
 * waited for (each delete goes out behind that node's acquire, bounded by the node timeout), so a caller who
 * sees the attempt fail finds no key of its own on a node that answers; nodes that failed or timed out get
 * the delete queued in the background.
 */
async function cleanUp(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  round: VoteResult<AcquireReply>,
): Promise<void> {
  const wait: number[] = [];
  const background: number[] = [];
  round.outcomes.forEach((o, i) => {
    if (o.status === "ok" || o.status === "pending") wait.push(i);
    else if (o.status !== "refused") background.push(i);
  });
  if (background.length > 0) {
    ctx.track(releaseMutex(ctx, keys, token, { nodes: background, after: round.done }));
  }
  if (wait.length > 0) await releaseMutex(ctx, keys, token, { nodes: wait, after: round.done });
}

export interface AcquireLoopOptions {
  readonly ttl: number;
  readonly wait: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Attempts until one succeeds, the lock turns out to be unreachable (fails fast: waiting does not bring
 * nodes back), the deadline passes (returns the last `busy` attempt), or the signal aborts.
 */
export async function acquireMutex(
  ctx: LockContext,
  strategy: WaitStrategy,
  resource: string,
  keys: MutexKeys,
  token: string,
  options: AcquireLoopOptions,
): Promise<Extract<AttemptResult, { kind: "acquired" | "busy" }>> {
  const { ttl, wait, signal } = options;
  const began = monotonicNow();
  const deadline = began + wait;
  if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
  const waiter = strategy.begin(resource);
  try {
    if (wait > 0) {
      try {
        await waiter.before(deadline, signal);
      } catch (reason) {
        if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
        throw reason;
      }
    }
    for (;;) {
      let attempt: AttemptResult;
      const tried = monotonicNow();
      try {
        attempt = await attemptMutex(ctx, keys, token, ttl, signal);
      } catch (reason) {
        if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
        throw reason;
      }
      if (signal?.aborted) {
        if (attempt.kind === "acquired") await releaseMutex(ctx, keys, token, { after: attempt.done });
        throw new LockAbortedError(resource, signal.reason);
      }
      if (attempt.kind === "acquired") return attempt;
      if (attempt.kind === "unavailable") {
        throw new LockUnavailableError(resource, "acquire", ctx.quorum, attempt.outcomes, attempt.detail);
      }
      if (monotonicNow() >= deadline) return attempt;
      try {
        if (attempt.split) {
          // Contenders that raced in step split the vote, and each one's cleanup wakes the others at once: they
          // would race in step again. A random pause, on the scale of the attempt just made, sets them apart.
          const pause = Math.random() * Math.max(2, monotonicNow() - tried);
          await sleep(Math.min(pause, deadline - monotonicNow()), undefined, { signal });
          continue;
        }
        await waiter.next(attempt.retryAfter, deadline, signal);
      } catch (reason) {
        if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
        throw reason;
      }
    }
  } finally {
    waiter.end();
  }
}

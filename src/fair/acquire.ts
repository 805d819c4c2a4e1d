// Fair mode (`fair: true`, one node): waiters queue in Redis in arrival order, and a release hands the lock
// straight to the longest-waiting one. The scripts are in this folder; the queue logic they share is in
// lua-shared/queue.lua.
import { randomBytes } from "node:crypto";
import type { LockContext } from "../context.js";
import { LockAbortedError, LockUnavailableError, type NodeOutcome } from "../errors.js";
import type { AttemptResult } from "../mutex/acquire.js";
import type { MutexKeys } from "../mutex/keys.js";
import { newReleaseId } from "../mutex/release.js";
import { vote } from "../quorum.js";
import { runScript } from "../script.js";
import { monotonicNow, serverEventStart, validityLeft } from "../validity.js";
import { HANDOFF_PREFIX } from "../waiting/pubsub.js";
import type { WaitStrategy } from "../waiting/strategy.js";
import { acquire as fairAcquire, release as fairRelease } from "./scripts.generated.js";

/**
 * A waiter refreshes its place at least this often (a wake-up with nothing to do still refreshes it) …
 */
export const REFRESH_MS = 500;
/** … and a place not refreshed for this long is skipped and dropped: a crashed waiter never wedges the queue. */
export const PLACE_MS = 2_000;

type Acquired = Extract<AttemptResult, { kind: "acquired" }>;
type Busy = Extract<AttemptResult, { kind: "busy" }>;

/** Where the server's clock stood when a request of ours ran, for dating a hand-off. */
interface ClockMark {
  readonly sentAt: number;
  readonly serverMicros: number;
}

type Reply =
  | { readonly held: true; readonly fence: number; readonly pttl: number; readonly mark: ClockMark }
  | { readonly held: false; readonly pttl: number; readonly mark: ClockMark };

export interface FairOptions {
  readonly ttl: number;
  readonly wait: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Takes the lock in arrival order: the first attempt takes it when it is free and nobody waits, else queues;
 * then waits for the hand-off (announced on the channel; a refresh that finds the lock already ours serves
 * too). A waiter that gives up (deadline, abort, error) leaves the queue, and passes the lock on if it was
 * handed to it meanwhile: nothing of it stays behind.
 */
export async function acquireFair(
  ctx: LockContext,
  strategy: WaitStrategy,
  resource: string,
  keys: MutexKeys,
  token: string,
  options: FairOptions,
): Promise<Acquired | Busy> {
  const { ttl, wait, signal } = options;
  const deadline = monotonicNow() + wait;
  if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
  const id = randomBytes(9).toString("base64url");
  const waiter = strategy.begin(resource, id);
  const fencing = ctx.fencing ? "1" : "0";
  let acquired: Acquired | undefined;
  let lastRequest: Promise<void> = Promise.resolve();
  let mark: ClockMark | undefined;
  try {
    for (;;) {
      const args = [token, ttl, fencing, id, wait > 0 ? PLACE_MS : 0, keys.channel];
      const attempt = attemptFair(ctx, keys, args, signal);
      lastRequest = attempt.done;
      let reply: Reply | NodeOutcome;
      try {
        reply = await attempt.reply;
      } catch (reason) {
        if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
        throw reason;
      }
      if (!("held" in reply)) {
        throw new LockUnavailableError(resource, "acquire", 1, [reply]);
      }
      mark = reply.mark;
      if (reply.held) {
        const start = reply.mark.sentAt - Math.max(0, ttl - reply.pttl);
        acquired = lease(start, reply.fence);
        if (validityLeft(ttl, start, monotonicNow()) > 0) return acquired;
        // Handed to us so long ago that no validity is left (this process was stalled): pass it on.
        acquired = undefined;
        await leave(ctx, keys, token, id, lastRequest);
      }
      if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
      if (monotonicNow() >= deadline) {
        return { kind: "busy", retryAfter: reply.pttl > 0 ? reply.pttl : undefined, outcomes: [ok(ctx)] };
      }
      let handoff: string | undefined;
      try {
        const retryAfter = reply.pttl > 0 ? Math.min(reply.pttl, REFRESH_MS) : REFRESH_MS;
        handoff = await waiter.next(retryAfter, deadline, signal);
      } catch (reason) {
        if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
        throw reason;
      }
      if (handoff !== undefined && mark) {
        const [fence, at] = handoff.slice(HANDOFF_PREFIX.length + id.length + 1).split(":");
        const start = Math.min(monotonicNow(), serverEventStart(mark.sentAt, mark.serverMicros, Number(at)));
        if (validityLeft(ttl, start, monotonicNow()) > 0) {
          acquired = lease(start, Number(fence));
          return acquired;
        }
        // Dated too conservatively to use (a stale clock mark): the next attempt finds the lock ours and dates
        // the lease from the TTL the server says is left.
      }
    }
  } finally {
    waiter.end();
    if (!acquired) await leave(ctx, keys, token, id, lastRequest);
  }

  function lease(start: number, fence: number): Acquired {
    return {
      kind: "acquired",
      start,
      fence: ctx.fencing ? fence : undefined,
      outcomes: [ok(ctx)],
      done: [Promise.resolve()],
    };
  }
}

const ok = (ctx: LockContext): NodeOutcome => ({ node: ctx.nodes[0]!.label, status: "ok" });

/**
 * One fair attempt on the single node. `reply` is the parsed answer, or the node's outcome when it failed or
 * timed out; `done` settles once the request has answered or been abandoned.
 */
function attemptFair(
  ctx: LockContext,
  keys: MutexKeys,
  args: readonly (string | number)[],
  signal: AbortSignal | undefined,
): { reply: Promise<Reply | NodeOutcome>; done: Promise<void> } {
  const sentAt = monotonicNow();
  const { result } = vote<Reply>(
    ctx.nodes,
    async (conn, abandoned) => {
      const raw = (await runScript(
        conn,
        fairAcquire,
        [keys.lock, keys.fence, keys.queue, keys.waiters],
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
  return {
    reply: result.then((r) => r.verdicts[0]?.value ?? r.outcomes[0]!),
    done: result.then(
      (r) => r.done[0],
      () => {},
    ),
  };
}

/** Drops the waiter's place, and hands the lock on if it had been handed to this waiter. */
async function leave(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  id: string,
  after: Promise<void>,
): Promise<void> {
  await releaseFair(ctx, keys, token, { id: newReleaseId(), waiter: id, after });
}

/**
 * Fair mode's release: compare-and-delete, then hand the lock to the longest-waiting live waiter (or announce
 * the release with `id` when nobody waits). `waiter` also drops that waiter id from the queue. `handedOff`:
 * a waiter has the lock now (so there is nobody for this process to wake).
 */
export async function releaseFair(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  options: { id: string; waiter?: string; after?: Promise<void> },
): Promise<{ answered: number; outcomes: readonly NodeOutcome[]; handedOff: boolean }> {
  let handedOff = false;
  const { result } = vote(
    ctx.nodes,
    async (conn, abandoned) => {
      await options.after;
      const reply = await runScript(
        conn,
        fairRelease,
        [keys.lock, keys.fence, keys.queue, keys.waiters],
        [token, keys.channel, options.id, options.waiter ?? ""],
        abandoned,
      );
      handedOff = reply === 2;
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
  const answered = outcomes.filter((o) => o.status === "ok" || o.status === "refused").length;
  return { answered, outcomes, handedOff };
}

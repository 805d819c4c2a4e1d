import type { LockContext } from "../context.js";
import { newReleaseId } from "../mutex/release.js";
import type { ReleaseOutcome } from "../primitive.js";
import { vote } from "../quorum.js";
import { runScript } from "../script.js";
import type { SemaphoreKeys } from "./keys.js";
import { release as releaseScript } from "./scripts.generated.js";

export interface ReleaseSemaphoreOptions {
  /** The nodes to release on (default: all). */
  readonly nodes?: readonly number[] | undefined;
  /** `after[i]` delays node i's command until that node's previous request has answered or been abandoned. */
  readonly after?: readonly Promise<void>[] | undefined;
  /** A waiter id to drop from the queue. */
  readonly drop?: string | undefined;
  /** Settle once a quorum answered (the other nodes carry on in the background). Default: wait for all. */
  readonly settleOnQuorum?: boolean;
}

/**
 * Frees the token's permits on the chosen nodes (`token` "": none, for a waiter that only leaves), waiting for
 * each up to the node timeout; each node then wakes the waiters whose permits now fit.
 */
export async function releaseSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  limit: number,
  token: string,
  options: ReleaseSemaphoreOptions = {},
): Promise<ReleaseOutcome> {
  const indices = options.nodes ?? ctx.nodes.map((_, i) => i);
  if (indices.length === 0) return { answered: 0, outcomes: [] };
  const args = [token, keys.channel, options.drop ?? "", newReleaseId(), limit];
  const { result, done } = vote(
    indices.map((i) => ctx.nodes[i]!),
    async (conn, abandoned) => {
      await options.after?.[ctx.nodes.indexOf(conn)];
      const reply = await runScript(
        conn,
        releaseScript,
        [keys.holders, keys.permits, keys.waiting, keys.heartbeats],
        args,
        abandoned,
      );
      return { status: reply === 1 ? "ok" : "refused", value: null };
    },
    {
      quorum: options.settleOnQuorum ? Math.min(ctx.quorum, indices.length) : indices.length,
      timeout: ctx.nodeTimeout,
      waitForAll: !options.settleOnQuorum,
      about: { operation: "release", key: keys.holders },
    },
  );
  const { outcomes } = await result;
  // Nodes still answering carry on; close() waits for them.
  if (options.settleOnQuorum && outcomes.some((o) => o.status === "pending")) ctx.track(Promise.all(done));
  return { answered: outcomes.filter((o) => o.status === "ok" || o.status === "refused").length, outcomes };
}

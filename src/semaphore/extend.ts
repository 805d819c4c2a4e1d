import type { LockContext } from "../context.js";
import type { ExtendResult } from "../lease.js";
import { vote } from "../quorum.js";
import { runScript } from "../script.js";
import { monotonicNow, validityLeft } from "../validity.js";
import type { SemaphoreKeys } from "./keys.js";
import { extend as extendScript } from "./scripts.generated.js";

/**
 * Moves the holder's expiry to `ttl` from now on every node that still has it; succeeds only with ctx.quorum
 * nodes (the semaphore's q) inside the new TTL's validity. As the mutex's, it never re-creates a holder.
 */
export async function extendSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  token: string,
  ttl: number,
): Promise<ExtendResult> {
  const start = monotonicNow();
  const { result } = vote(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = await runScript(
        conn,
        extendScript,
        [keys.holders, keys.permits],
        [token, ttl],
        abandoned,
      );
      return { status: reply === 1 ? "ok" : "refused", value: null };
    },
    {
      quorum: ctx.quorum,
      timeout: Math.min(ctx.nodeTimeout, ttl),
      about: { operation: "extend", key: keys.holders },
    },
  );
  const { granted, outcomes } = await result;
  if (granted) {
    if (validityLeft(ttl, start, monotonicNow()) > 0) return { kind: "extended", start };
    return { kind: "unavailable", outcomes, detail: "the extension was confirmed too late to be of use" };
  }
  const refused = outcomes.filter((o) => o.status === "refused").length;
  return refused > ctx.nodes.length - ctx.quorum
    ? { kind: "lost", outcomes }
    : { kind: "unavailable", outcomes };
}

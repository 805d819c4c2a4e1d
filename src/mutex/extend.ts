import type { LockContext } from "../context.js";
import type { ExtendResult } from "../lease.js";
import { vote } from "../quorum.js";
import { type LuaScript, runScript } from "../script.js";
import { monotonicNow, validityLeft } from "../validity.js";
import type { MutexKeys } from "./keys.js";
import { extend as extendScript } from "./scripts.generated.js";

/** Compare-and-PEXPIRE on every node; succeeds only with a quorum inside the new TTL's validity. */
export function extendMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  ttl: number,
): Promise<ExtendResult> {
  return extendWith(ctx, extendScript, [keys.lock], token, ttl);
}

/**
 * Runs `script` (KEYS: `keys`, the lease's holder key first; ARGV: token, TTL; replies 1 when extended) as a vote
 * of ctx.quorum nodes: every primitive's extend.
 */
export async function extendWith(
  ctx: LockContext,
  script: LuaScript,
  keys: readonly string[],
  token: string,
  ttl: number,
): Promise<ExtendResult> {
  const key = keys[0]!;
  const start = monotonicNow();
  const { result } = vote(
    ctx.nodes,
    async (conn, abandoned) => {
      const reply = await runScript(conn, script, keys, [token, ttl], abandoned);
      return { status: reply === 1 ? "ok" : "refused", value: null };
    },
    {
      quorum: ctx.quorum,
      timeout: Math.min(ctx.nodeTimeout, ttl),
      about: { operation: "extend", key },
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

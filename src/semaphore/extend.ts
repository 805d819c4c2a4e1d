import type { LockContext } from "../context.js";
import type { ExtendResult } from "../lease.js";
import { extendWith } from "../mutex/extend.js";
import type { SemaphoreKeys } from "./keys.js";
import { extend as extendScript } from "./scripts.generated.js";

/**
 * Moves the holder's expiry to `ttl` from now on every node that still has it; succeeds only with ctx.quorum
 * nodes (the semaphore's q) inside the new TTL's validity. As the mutex's, it never re-creates a holder.
 */
export function extendSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  token: string,
  ttl: number,
): Promise<ExtendResult> {
  return extendWith(ctx, extendScript, [keys.holders, keys.permits], token, ttl);
}

import type { LockContext } from "../context.js";
import type { ReleaseOutcome } from "../primitive.js";
import { newReleaseId, type ReleaseVoteOptions, releaseVote } from "../release.js";
import type { SemaphoreKeys } from "./keys.js";
import { release as releaseScript } from "./scripts.generated.js";

export interface ReleaseSemaphoreOptions extends ReleaseVoteOptions {
  /** A waiter id to drop from the queue. */
  readonly drop?: string | undefined;
}

/**
 * Frees the token's permits on the chosen nodes (`token` "": none, for a waiter that only leaves), waiting for
 * each up to the node timeout; each node then wakes the waiters whose permits now fit.
 */
export function releaseSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  limit: number,
  token: string,
  options: ReleaseSemaphoreOptions = {},
): Promise<ReleaseOutcome> {
  // Who to wake, in one argument (semaphore/release.lua): the uncontended release reads none of it.
  const args = [token, options.drop ?? "", `${limit}:${newReleaseId()}:${keys.channel}`];
  const scriptKeys = [keys.holders, keys.permits, keys.waiting, keys.heartbeats];
  // No owner: an attempt refuses while a grant of its own token is still there (acquire.lua), so an undo whose
  // NOSCRIPT fallback runs after the call's next attempt frees that grant late and does no harm; kept from
  // running, it would leave the permit to its TTL.
  return releaseVote(ctx, releaseScript, scriptKeys, args, keys.holders, undefined, options);
}

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
 * Frees the token's permits on the chosen nodes (`token` "": none), waiting for each up to the node timeout; each
 * node then lets the waiters whose permits now fit go next: on one node it hands them their permits, in quorum
 * mode it wakes them (semaphore/release.lua).
 */
export function releaseSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  limit: number,
  token: string,
  options: ReleaseSemaphoreOptions = {},
): Promise<ReleaseOutcome> {
  // Who goes next, in one argument (semaphore/release.lua): the uncontended release reads none of it.
  const handOff = ctx.nodes.length === 1 ? "1" : "0";
  const args = [token, options.drop ?? "", `${limit}:${handOff}:${newReleaseId()}:${keys.channel}`];
  const scriptKeys = [keys.holders, keys.fence, keys.permits, keys.waiting, keys.heartbeats];
  // No owner: an attempt refuses while a grant of its own token is still there (acquire.lua), so an undo whose
  // NOSCRIPT fallback runs after the call's next attempt frees that grant late and does no harm; kept from
  // running, it would leave the permit to its TTL. (An attempt takes as its grant only permits a release handed
  // to it, on one node, where no undo can be in flight while the call goes on: there a failed attempt's undo ends
  // the call.)
  return releaseVote(ctx, releaseScript, scriptKeys, args, keys.holders, undefined, options);
}

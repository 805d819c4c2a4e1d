import type { LockContext } from "../context.js";
import type { ReleaseOutcome } from "../primitive.js";
import { newReleaseId, type ReleaseVoteOptions, releaseVote } from "../release.js";
import type { SemaphoreKeys } from "./keys.js";
import { release as releaseScript } from "./scripts.generated.js";

export interface ReleaseSemaphoreOptions extends ReleaseVoteOptions {
  /** A waiter id to drop from the queue. */
  readonly drop?: string | undefined;
  /** Undoes an attempt's grants: on a quorum the freed permits are not handed over (waiters are woken). */
  readonly undo?: boolean;
}

/**
 * Frees the token's permits on the chosen nodes (`token` "": none), waiting for each up to the node timeout; each
 * node then lets the waiters whose permits now fit go next: it hands them their permits (in quorum mode to those
 * that fence; an undo there wakes them instead), or wakes them (semaphore/release.lua).
 */
export function releaseSemaphore(
  ctx: LockContext,
  keys: SemaphoreKeys,
  limit: number,
  token: string,
  options: ReleaseSemaphoreOptions = {},
): Promise<ReleaseOutcome> {
  // Who goes next, in one argument (semaphore/release.lua): the uncontended release reads none of it.
  // An undo on a quorum wakes rather than hands over, as the mutex's does (a split vote's grants go back to whoever
  // asks next).
  const handOff = ctx.nodes.length === 1 ? "1" : options.undo ? "0" : "2";
  const args = [token, options.drop ?? "", `${limit}:${handOff}:${newReleaseId()}:${keys.channel}`];
  const scriptKeys = [keys.holders, keys.fence, keys.permits, keys.waiting, keys.heartbeats];
  // An undo revokes (script.ts): its NOSCRIPT fallback is not sent once a later attempt of the call overtook it.
  // That attempt may take permits a release handed to this token meanwhile as its grant (acquire.lua), which the
  // late undo would free under a lease that counts them. (A grant the undo was to free then stays to its TTL: the
  // next attempt refuses while a grant of its own token is there, unless a release marked it as handed.)
  const owner = options.undo ? token : undefined;
  return releaseVote(ctx, releaseScript, scriptKeys, args, keys.holders, owner, options);
}

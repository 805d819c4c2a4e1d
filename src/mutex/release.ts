import type { LockContext } from "../context.js";
import type { ReleaseOutcome } from "../primitive.js";
import { newReleaseId, type ReleaseVoteOptions, releaseVote } from "../release.js";
import type { LuaScript } from "../script.js";
import type { MutexKeys } from "./keys.js";
import { release as releaseScript } from "./scripts.generated.js";

/**
 * A waiter that has waited this long is not made to race for the lock: the release keeps it for that waiter
 * (as Go's sync.Mutex switches to handing the lock over once a waiter has waited 1 ms; a network lock's
 * attempt takes about that long by itself).
 */
export const STARVING_MS = 5;
/** How long a lock kept for a waiter stays kept if the waiter does not come (crashed, or never told). */
export const RESERVED_MS = 250;

export interface ReleaseMutexOptions extends ReleaseVoteOptions {
  /** What the lock must hold: the token (default), or "r:" + a waiter id for a waiter that leaves. */
  readonly holding?: string;
  /** A waiter id to drop from the queue first. */
  readonly drop?: string;
  /**
   * Keep the lock for a waiter that has waited long (default). Off when a failed attempt undoes what it took:
   * that split the vote, and nodes that keep the lock for different waiters would split it again.
   */
  readonly reserve?: boolean;
}

/**
 * Compare-and-delete on the chosen nodes, waiting for each up to the node timeout; each node then wakes its
 * longest waiter (or keeps the lock for it). `after` makes the delete reach a node after the acquire it undoes.
 */
export function releaseMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  options: ReleaseMutexOptions = {},
): Promise<ReleaseOutcome> {
  const scriptKeys = [keys.lock, keys.waiting, keys.heartbeats, keys.readWaiting, keys.readHeartbeats];
  return releaseWith(ctx, releaseScript, scriptKeys, keys, token, options);
}

/**
 * Runs a release script that takes the mutex release's arguments (the mutex's, or a read-write lock's read side)
 * on the chosen nodes, as {@link releaseMutex} describes.
 */
export function releaseWith(
  ctx: LockContext,
  script: LuaScript,
  scriptKeys: readonly string[],
  keys: Pick<MutexKeys, "lock" | "channel">,
  token: string,
  options: ReleaseMutexOptions,
): Promise<ReleaseOutcome> {
  const args = [
    options.holding ?? token,
    keys.channel,
    options.reserve === false ? 0 : RESERVED_MS,
    STARVING_MS * 1000,
    options.drop ?? "",
    newReleaseId(),
  ];
  return releaseVote(ctx, script, scriptKeys, args, keys.lock, options);
}

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
 *
 * On one node a waiter that has waited long is handed the lock outright (its token and TTL are in its place), so
 * it holds without an attempt of its own: one request less per contended section. On a quorum the lock is only
 * kept for it: each node would hand off on its own, and nodes whose queues disagreed for a moment (a place not yet
 * registered everywhere) would give one waiter a minority for a whole TTL, where a kept lock lapses in
 * RESERVED_MS.
 */
export function releaseMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  options: ReleaseMutexOptions = {},
): Promise<ReleaseOutcome> {
  const scriptKeys = [
    keys.lock,
    keys.fence,
    keys.waiting,
    keys.heartbeats,
    keys.readWaiting,
    keys.readHeartbeats,
  ];
  const handOff = ctx.nodes.length === 1 && options.reserve !== false;
  return releaseWith(ctx, releaseScript, scriptKeys, keys, token, options, handOff);
}

/**
 * Runs a release script that takes the mutex release's arguments (the mutex's, or a read-write lock's read side)
 * on the chosen nodes, as {@link releaseMutex} describes; `handOff`: hand the lock to a waiter that has waited long
 * rather than keep it for that waiter (mutex/release.lua).
 */
export function releaseWith(
  ctx: LockContext,
  script: LuaScript,
  scriptKeys: readonly string[],
  keys: Pick<MutexKeys, "lock" | "channel">,
  token: string,
  options: ReleaseMutexOptions,
  handOff = false,
): Promise<ReleaseOutcome> {
  // What to do for the next waiter, in one argument (lua-shared/release-args.lua): the uncontended release reads
  // none of it.
  const keep = options.reserve === false ? 0 : RESERVED_MS;
  const next = `${keep}:${STARVING_MS * 1000}:${handOff ? "1" : "0"}:${newReleaseId()}:${keys.channel}`;
  const args = [token, options.drop ?? "", next];
  // An undo (reserve off) is the release that a later attempt of the same call can follow: its NOSCRIPT fallback
  // must not run behind that attempt (runScript). A lease's release, or a waiter leaving, has none after it.
  const owner = options.reserve === false ? token : undefined;
  return releaseVote(ctx, script, scriptKeys, args, keys.lock, owner, options);
}

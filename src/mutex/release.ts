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
 * A waiter that has waited long is handed the lock outright (its token and TTL are in its place), so it holds
 * without an attempt of its own: one request less per node per contended section. On a quorum each node hands
 * off on its own, to a waiter that fences only: its manager counts the nodes that handed it the lock by fences
 * newer than its last look (src/handoff.ts), and with fewer than a quorum it makes an attempt, which counts the
 * handed nodes as granted (and undoes them if the vote splits, as when the nodes' queues disagreed for a moment).
 * A waiter that does not fence has the lock kept for it ("r:" + its id, for RESERVED_MS).
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
  const handOff = options.reserve === false ? "0" : ctx.nodes.length === 1 ? "1" : "2";
  return releaseWith(ctx, releaseScript, scriptKeys, keys, token, options, handOff);
}

/**
 * Runs a release script that takes the mutex release's arguments (the mutex's, or a read-write lock's read side)
 * on the chosen nodes, as {@link releaseMutex} describes; `handOff`: hand the lock to a waiter that has waited long
 * rather than keep it for that waiter ("1" on one node, "2" on a quorum: mutex/release.lua).
 */
export function releaseWith(
  ctx: LockContext,
  script: LuaScript,
  scriptKeys: readonly string[],
  keys: Pick<MutexKeys, "lock" | "channel">,
  token: string,
  options: ReleaseMutexOptions,
  handOff: "0" | "1" | "2" = "0",
): Promise<ReleaseOutcome> {
  // What to do for the next waiter, in one argument (lua-shared/release-args.lua): the uncontended release reads
  // none of it.
  const keep = options.reserve === false ? 0 : RESERVED_MS;
  const next = `${keep}:${STARVING_MS * 1000}:${handOff}:${newReleaseId()}:${keys.channel}`;
  const args = [token, options.drop ?? "", next];
  // An undo (reserve off) is the release that a later attempt of the same call can follow: its NOSCRIPT fallback
  // must not run behind that attempt (runScript). A lease's release, or a waiter leaving, has none after it.
  const owner = options.reserve === false ? token : undefined;
  return releaseVote(ctx, script, scriptKeys, args, keys.lock, owner, options);
}

// The release vote every primitive shares: its release script on the chosen nodes, each behind that node's
// previous request, settling on a quorum or waiting for all. The primitive owns the script and its arguments.
import { randomBytes } from "node:crypto";
import type { LockContext } from "./context.js";
import type { ReleaseOutcome } from "./primitive.js";
import { type Verdict, vote } from "./quorum.js";
import { type LuaScript, type Ownership, runScript } from "./script.js";

export interface ReleaseVoteOptions {
  /** The nodes to release on (default: all). */
  readonly nodes?: readonly number[] | undefined;
  /** `after[i]` delays node i's command until that node's previous request has answered or been abandoned. */
  readonly after?: readonly Promise<void>[] | undefined;
  /** Settle once a quorum answered (the other nodes carry on in the background). Default: wait for all. */
  readonly settleOnQuorum?: boolean | undefined;
}

/**
 * Runs `script` (replying 1 when it released, 0 when the token held nothing there) on the chosen nodes, waiting
 * for each up to the node timeout. `key` names the lease's key in node-error events. `owner`: the token, for a
 * primitive whose next attempt would count a grant still left by an earlier one as its own (see runScript).
 */
export async function releaseVote(
  ctx: LockContext,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  key: string,
  owner: string | undefined,
  options: ReleaseVoteOptions,
): Promise<ReleaseOutcome> {
  const nodes = options.nodes ? options.nodes.map((i) => ctx.nodes[i]!) : ctx.nodes;
  const revokes: Ownership | undefined = owner ? { token: owner, role: "revoke" } : undefined;
  if (nodes.length === 0) return { answered: 0, outcomes: [] };
  const { result, done } = vote(
    nodes,
    (conn, abandoned, i) => {
      const ready = options.after?.[options.nodes ? options.nodes[i]! : i];
      const sent = ready
        ? ready.then(() => runScript(conn, script, keys, args, abandoned, revokes))
        : runScript(conn, script, keys, args, abandoned, revokes);
      return sent.then(released);
    },
    {
      quorum: options.settleOnQuorum ? Math.min(ctx.quorum, nodes.length) : nodes.length,
      timeout: ctx.nodeTimeout,
      waitForAll: !options.settleOnQuorum,
      refusalsAnswer: true,
      about: { operation: "release", key },
    },
  );
  const { outcomes } = await result;
  // Nodes still answering carry on; close() waits for them. (Usually none: one node, or all answered at once.)
  if (options.settleOnQuorum && outcomes.some((o) => o.status === "pending")) ctx.track(Promise.all(done));
  return { answered: outcomes.filter((o) => o.status === "ok" || o.status === "refused").length, outcomes };
}

const released = (reply: unknown): Verdict<null> => ({ status: reply === 1 ? "ok" : "refused", value: null });

const processId = randomBytes(6).toString("base64url");
let releases = 0;

/**
 * Names a release in its wake-up message, so that a waiter recognises the copies published by each node of a
 * quorum. Unique per process and release; says nothing about the token (the right to release).
 */
export function newReleaseId(): string {
  return `${processId}.${(releases++).toString(36)}`;
}

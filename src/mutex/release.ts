import { randomBytes } from "node:crypto";
import type { LockContext } from "../context.js";
import type { NodeOutcome } from "../errors.js";
import { vote } from "../quorum.js";
import { runScript } from "../script.js";
import type { MutexKeys } from "./keys.js";
import { release as releaseScript } from "./scripts.generated.js";

/**
 * Compare-and-delete on the chosen nodes (default: all), waiting for each up to the node timeout.
 * `after[i]` delays node i's command until that node's previous request has answered or been abandoned,
 * so the delete reaches the node after the acquire it undoes.
 */
export async function releaseMutex(
  ctx: LockContext,
  keys: MutexKeys,
  token: string,
  options: { nodes?: readonly number[]; after?: readonly Promise<void>[]; id?: string } = {},
): Promise<{ answered: number; outcomes: readonly NodeOutcome[] }> {
  const indices = options.nodes ?? ctx.nodes.map((_, i) => i);
  if (indices.length === 0) return { answered: 0, outcomes: [] };
  const { result } = vote(
    indices.map((i) => ctx.nodes[i]!),
    async (conn, abandoned) => {
      await options.after?.[ctx.nodes.indexOf(conn)];
      const reply = await runScript(
        conn,
        releaseScript,
        [keys.lock],
        [token, keys.channel, options.id ?? newReleaseId()],
        abandoned,
      );
      return { status: reply === 1 ? "ok" : "refused", value: null };
    },
    {
      quorum: indices.length,
      timeout: ctx.nodeTimeout,
      waitForAll: true,
      about: { operation: "release", key: keys.lock },
    },
  );
  const { outcomes } = await result;
  return { answered: outcomes.filter((o) => o.status === "ok" || o.status === "refused").length, outcomes };
}

const processId = randomBytes(6).toString("base64url");
let releases = 0;

/**
 * Names a release in its wake-up message, so that waiters recognise the copies published by each node of a
 * quorum. Unique per process and release; says nothing about the token (the right to release).
 */
export function newReleaseId(): string {
  return `${processId}.${(releases++).toString(36)}`;
}

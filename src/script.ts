import type { RedisConnection } from "./clients/connection.js";

/** A Lua script as generated from a `.lua` file by scripts/gen-lua.mjs. */
export interface LuaScript {
  /** Path-like name, e.g. `mutex/acquire`. */
  readonly name: string;
  /** Number of KEYS the script takes. */
  readonly keys: number;
  readonly sha1: string;
  readonly source: string;
}

const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith("NOSCRIPT");

/**
 * Runs a script by SHA1, sending the source only when the node answers NOSCRIPT (cache flushed, node restarted).
 * The fallback is skipped once `abandoned` is aborted: a caller that gave up on this request may already have
 * sent a cleanup command on the same connection, and an EVAL sent after it would undo that cleanup. The script is
 * then only loaded (SCRIPT LOAD runs nothing), so that the next request runs there: a node that answers after the
 * quorum would otherwise never run an acquire again, as every vote is decided before its NOSCRIPT comes back.
 */
export function runScript(
  conn: RedisConnection,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  abandoned?: { readonly aborted: boolean },
): Promise<unknown> {
  if (keys.length !== script.keys) {
    return Promise.reject(new Error(`Script ${script.name} takes ${script.keys} keys, got ${keys.length}`));
  }
  // One array, built without spreads: this runs twice for every lock taken and freed.
  const command: (string | number)[] = ["EVALSHA", script.sha1, keys.length];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(arg);
  return conn.send(command).catch((error: unknown) => {
    if (!isNoScript(error)) throw error;
    if (abandoned?.aborted) {
      conn.send(["SCRIPT", "LOAD", script.source]).catch(() => {});
      throw error;
    }
    return conn.send(["EVAL", script.source, ...command.slice(2)]);
  });
}

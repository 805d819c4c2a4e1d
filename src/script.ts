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
 * Per connection: the scripts it has run since its session began (a new socket may lead to a restarted server,
 * whose script cache is empty). A script's first request in a session sends its source (EVAL, which also caches
 * it), so a restarted or new node costs no NOSCRIPT round trip; later ones send its SHA1. A NOSCRIPT (the cache was
 * flushed under a live connection) forgets them all.
 */
const ran = new WeakMap<RedisConnection, { readonly session: unknown; readonly scripts: Set<string> }>();

function ranOn(conn: RedisConnection): Set<string> {
  const session = conn.session?.();
  let known = ran.get(conn);
  if (known === undefined || known.session !== session) {
    known = { session, scripts: new Set() };
    ran.set(conn, known);
  }
  return known.scripts;
}

/** How a request stands to its owner's hold, for ordering its fallback (see {@link runScript}). */
export interface Ownership {
  /** The owner's token. */
  readonly token: string;
  /** `grant`: it may take or count a hold of the token's (an attempt); `revoke`: it may delete one (an undo, a release). */
  readonly role: "grant" | "revoke";
}

/**
 * Per connection: the revoking requests in flight, by owner, each with a flag set once a granting request of the
 * same owner is sent behind it. One connection applies commands in the order they were sent, but a NOSCRIPT→EVAL
 * fallback is sent when the NOSCRIPT comes back, behind whatever was sent meanwhile: a failed attempt's undo whose
 * EVAL ran after the same call's next attempt would delete, late, the key that attempt had just been granted (an
 * attempt counts a key of its own token as its grant: a release may have handed it over), and the vote would
 * count a node that no longer held the lease (docs/SAFETY.md, item 3).
 */
const revoking = new WeakMap<RedisConnection, Map<string, { overtaken: boolean }[]>>();

function track(conn: RedisConnection, owner: Ownership): { overtaken: boolean } | undefined {
  let byOwner = revoking.get(conn);
  if (owner.role === "grant") {
    const pending = byOwner?.get(owner.token);
    if (pending) for (const request of pending) request.overtaken = true;
    return undefined;
  }
  if (byOwner === undefined) {
    byOwner = new Map();
    revoking.set(conn, byOwner);
  }
  const request = { overtaken: false };
  const pending = byOwner.get(owner.token);
  if (pending) pending.push(request);
  else byOwner.set(owner.token, [request]);
  return request;
}

function untrack(conn: RedisConnection, owner: Ownership, request: { overtaken: boolean }): void {
  const byOwner = revoking.get(conn);
  const pending = byOwner?.get(owner.token);
  if (!pending) return;
  const at = pending.indexOf(request);
  if (at >= 0) pending.splice(at, 1);
  if (pending.length === 0) byOwner!.delete(owner.token);
}

/**
 * Runs a script: by its source the first time in the connection's session (see {@link ran}), by SHA1 after that,
 * sending the source again only when the node answers NOSCRIPT (its cache was flushed). That fallback is skipped
 * when it could run out of order: once `abandoned` is aborted (a caller that gave up on this request may already
 * have sent a cleanup on the same connection, which an EVAL sent after it would undo), or, for a request that
 * revokes an `owner`'s hold, once a request that grants that owner was sent behind it on this connection. The
 * request then fails for this node. Either way the connection sends every script's source again from then on, so
 * the next request runs there: a node that answers after the quorum would otherwise never run an acquire again,
 * as every vote is decided before its NOSCRIPT comes back.
 */
export function runScript(
  conn: RedisConnection,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
  abandoned?: { readonly aborted: boolean },
  owner?: Ownership,
): Promise<unknown> {
  if (keys.length !== script.keys) {
    return Promise.reject(new Error(`Script ${script.name} takes ${script.keys} keys, got ${keys.length}`));
  }
  const known = ranOn(conn);
  const bySha = known.has(script.sha1);
  // One array, built without spreads: this runs twice for every lock taken and freed.
  const command: (string | number)[] = bySha
    ? ["EVALSHA", script.sha1, keys.length]
    : ["EVAL", script.source, keys.length];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(arg);
  const request = owner ? track(conn, owner) : undefined;
  const fallback = (error: unknown) => {
    if (!isNoScript(error)) throw error;
    known.clear();
    if (abandoned?.aborted || request?.overtaken) throw error;
    return conn.send(["EVAL", script.source, ...command.slice(2)]).then((reply) => {
      known.add(script.sha1);
      return reply;
    });
  };
  const ranHere = (reply: unknown) => {
    if (!bySha) known.add(script.sha1);
    return reply;
  };
  const sent = conn.send(command);
  if (request === undefined) return bySha ? sent.catch(fallback) : sent.then(ranHere);
  // Untracked in the same step as the fallback is decided and sent: no grant can come between.
  return sent.then(
    (reply) => {
      untrack(conn, owner!, request);
      return ranHere(reply);
    },
    (error: unknown) => {
      untrack(conn, owner!, request);
      return fallback(error);
    },
  );
}

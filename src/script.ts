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
const revoking = new WeakMap<RedisConnection, Map<string, Set<{ overtaken: boolean }>>>();

/** Registers a revoking request of `token` on `conn`, until it settles (see {@link revoking}). */
function trackRevoke(conn: RedisConnection, token: string): { overtaken: boolean } {
  let byOwner = revoking.get(conn);
  if (byOwner === undefined) {
    byOwner = new Map();
    revoking.set(conn, byOwner);
  }
  const request = { overtaken: false };
  const pending = byOwner.get(token);
  if (pending) pending.add(request);
  else byOwner.set(token, new Set([request]));
  return request;
}

/** Forgets a settled revoking request; whether a grant of its owner was sent behind it. */
function settled(conn: RedisConnection, token: string, request: { overtaken: boolean }): boolean {
  const byOwner = revoking.get(conn);
  const pending = byOwner?.get(token);
  if (pending?.delete(request) && pending.size === 0) byOwner!.delete(token);
  return request.overtaken;
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
  let revoke: { overtaken: boolean } | undefined;
  if (owner?.role === "revoke") revoke = trackRevoke(conn, owner.token);
  else if (owner) {
    // A grant: the undos of its owner still in flight here must not run their fallback behind it.
    const pending = revoking.get(conn)?.get(owner.token);
    if (pending) for (const request of pending) request.overtaken = true;
  }
  const sent = conn.send(command);
  // The usual case, one closure: a known script, and no undo to keep in order.
  if (bySha && revoke === undefined) {
    return sent.catch((error: unknown) => fallBack(error, conn, script, command, known, abandoned?.aborted));
  }
  // An undo is forgotten in the same step as its fallback is decided and sent: no grant can come between.
  return sent.then(
    (reply) => {
      if (revoke) settled(conn, owner!.token, revoke);
      if (!bySha) known.add(script.sha1);
      return reply;
    },
    (error: unknown) => {
      const overtaken = revoke !== undefined && settled(conn, owner!.token, revoke);
      return fallBack(error, conn, script, command, known, abandoned?.aborted || overtaken);
    },
  );
}

/** After an EVALSHA failed: on NOSCRIPT the connection forgets its scripts, and the source goes unless `skip`. */
function fallBack(
  error: unknown,
  conn: RedisConnection,
  script: LuaScript,
  command: readonly (string | number)[],
  known: Set<string>,
  skip: boolean | undefined,
): Promise<unknown> {
  if (!isNoScript(error)) throw error;
  known.clear();
  if (skip) throw error;
  return conn.send(["EVAL", script.source, ...command.slice(2)]).then((reply) => {
    known.add(script.sha1);
    return reply;
  });
}

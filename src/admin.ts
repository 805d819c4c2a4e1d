// Operator tools behind `quorumlock status`, `release --token` and `break`: read one lock as it stands on each
// node, and free it by token or by force. Internal, not exported from the package: breaking a lock steps
// outside the lease protocol, and only an operator should decide to do that.
import { breakLock as breakScript, inspect as inspectScript } from "./admin/scripts.generated.js";
import type { RedisConnection } from "./clients/connection.js";
import { openNode } from "./clients/resolve.js";
import type { LockContext } from "./context.js";
import type { NodeOutcome } from "./errors.js";
import { releaseFair } from "./fair/index.js";
import { mutexKeys } from "./mutex/keys.js";
import { checkMs, checkResource, resolveManagerOptions } from "./options.js";
import { type Abandoned, type Verdict, vote } from "./quorum.js";
import { newReleaseId } from "./release.js";
import { releaseRead } from "./rwlock/read.js";
import { runScript } from "./script.js";
import { semaphoreQuorum } from "./semaphore/index.js";
import { semaphoreKeys } from "./semaphore/keys.js";
import { releaseSemaphore } from "./semaphore/release.js";
import { quorumOf } from "./validity.js";

export interface AdminOptions {
  /** Redis URLs, checked as `LockManager`'s `nodes` are. */
  readonly nodes: readonly string[];
  /** Key prefix. Default: the library's (`"quorumlock:"`). */
  readonly prefix?: string;
  /** Per-node timeout of each operation, in ms. Default: 1 000. */
  readonly timeout?: number;
}

/** One node's view of a lock. Only `node` and `error` are set when the node did not answer. */
export interface NodeLockState {
  readonly node: string;
  /** The lock key exists on this node. */
  readonly present?: boolean;
  /** The value of the lock key: its holder's token. */
  readonly token?: string;
  /** Remaining TTL in ms; -1 when the key has no expiry. */
  readonly ttlMs?: number;
  /** The resource's fencing counter on this node. */
  readonly fence?: number;
  /** Waiters queued on this node for the lock, in the default or fair mode (places not yet expired). */
  readonly waiters?: number;
  /** Readers waiting on this node for the read-write lock of this name (places not yet expired). */
  readonly readersWaiting?: number;
  /** Waiters queued on this node for the semaphore of this name (places not yet expired). */
  readonly permitWaiters?: number;
  /** Live readers of the read-write lock of this name (tokens: secret), and their TTL left. */
  readonly readers?: readonly { readonly token: string; readonly ttlMs: number }[];
  /** Live holders of the semaphore of this name: tokens (secret), permits, TTL left. */
  readonly permits?: readonly { readonly token: string; readonly permits: number; readonly ttlMs: number }[];
  /** The semaphore's limit, stored while it has holders. */
  readonly limit?: number;
  readonly error?: string;
}

export interface LockState {
  readonly resource: string;
  readonly quorum: number;
  /**
   * `held`: one token is on a quorum. `free`: no token is, nor could be with the nodes that did not answer.
   * `unknown`: too few nodes answered to tell.
   */
  readonly state: "held" | "free" | "unknown";
  /** The token held on a quorum; `ttlMs` is how long it stays on a quorum (-1: no expiry). */
  readonly holder: { readonly token: string; readonly nodes: number; readonly ttlMs: number } | undefined;
  /** The highest fencing counter any node reported: at or above the fence of the last holder. */
  readonly fence: number | undefined;
  /**
   * Waiters queued for the lock (the exclusive side), in the default or fair mode: the most any node reported
   * (a waiter queues on every node it can reach).
   */
  readonly waiters: number;
  /** Readers waiting for the read-write lock of this name (`run --shared --wait`): the most any node reported. */
  readonly readersWaiting: number;
  /** Waiters queued for the semaphore of this name (`run --limit N --wait`): the most any node reported. */
  readonly permitWaiters: number;
  /** Readers (shared holders) on a quorum: `quorumlock run --shared`, `readWrite(name).read()`. */
  readonly readers: number;
  /**
   * The semaphore of this name, while it has holders: its limit, the nodes a permit needs, and the holders and
   * permits on that many nodes.
   */
  readonly semaphore:
    | { readonly limit: number; readonly quorum: number; readonly holders: number; readonly permits: number }
    | undefined;
  readonly answered: number;
  readonly nodes: readonly NodeLockState[];
}

/** What a release by token or a break did: `done` nodes freed something, `answered` replied at all. */
export interface AdminResult {
  readonly done: number;
  readonly answered: number;
  readonly quorum: number;
  readonly outcomes: readonly NodeOutcome[];
}

type InspectReply = [
  string | null,
  number,
  string | null,
  number,
  (string | number)[],
  (string | number)[],
  string | null,
  number,
  number,
];

/** Open connections to a set of nodes, for looking at and freeing locks. Close it when done. */
export class LockAdmin {
  readonly quorum: number;
  readonly #nodes: readonly RedisConnection[];
  readonly #prefix: string;
  readonly #timeout: number;

  constructor(options: AdminOptions) {
    const resolved = resolveManagerOptions({
      nodes: options.nodes,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    });
    this.#timeout = options.timeout === undefined ? 1_000 : checkMs("timeout", options.timeout, 1);
    this.#prefix = resolved.prefix;
    this.#nodes = resolved.nodes.map(openNode);
    this.quorum = quorumOf(this.#nodes.length);
  }

  /** Every node's view of `resource`, and what they add up to. */
  async inspect(resource: string): Promise<LockState> {
    const keys = mutexKeys(this.#prefix, checkResource(resource));
    const semaphore = semaphoreKeys(this.#prefix, resource);
    const { outcomes, verdicts } = await this.#onEach<InspectReply>(async (conn, abandoned) => ({
      status: "ok",
      value: (await runScript(
        conn,
        inspectScript,
        [
          keys.lock,
          keys.fence,
          keys.waiters,
          keys.readers,
          semaphore.holders,
          semaphore.permits,
          keys.heartbeats,
          keys.readHeartbeats,
          semaphore.heartbeats,
        ],
        [],
        abandoned,
      )) as InspectReply,
    }));
    const nodes = outcomes.map((outcome, i): NodeLockState => {
      const reply = verdicts[i]?.value;
      if (!reply) return { node: outcome.node, error: outcome.error?.message ?? "no answer" };
      const [token, ttl, fence, waiters, readers, permits, limit, readersWaiting, permitWaiters] = reply;
      return {
        node: outcome.node,
        present: token !== null,
        waiters: Number(waiters),
        readersWaiting: Number(readersWaiting),
        permitWaiters: Number(permitWaiters),
        readers: chunks(readers, 2).map(([t, left]) => ({ token: String(t), ttlMs: Number(left) })),
        permits: chunks(permits, 3).map(([t, n, left]) => ({
          token: String(t),
          permits: Number(n),
          ttlMs: Number(left),
        })),
        ...(limit === null ? {} : { limit: Number(limit) }),
        ...(token === null ? {} : { token, ttlMs: Number(ttl) }),
        ...(fence === null ? {} : { fence: Number(fence) }),
      };
    });
    return summarise(resource, this.quorum, nodes);
  }

  /**
   * Frees whatever `token` holds on every node, as the holder's own release would (compare-and-delete, then wake
   * who waits): the lock, a read lease of the read-write lock, or permits of the semaphore of that name. A token
   * is 160 random bits, so it names one lease: the three releases run side by side, and at most one finds it.
   * The lock is freed by fair mode's release, which hands it to the longest fair waiter if one is queued and
   * otherwise frees it and wakes the other waiters as the mutex's release does (the operator need not know
   * whether the holder took it with `fair: true`).
   */
  async release(resource: string, token: string): Promise<AdminResult> {
    const keys = mutexKeys(this.#prefix, checkResource(resource));
    const context: LockContext = {
      nodes: this.#nodes,
      quorum: this.quorum,
      nodeTimeout: this.#timeout,
      prefix: this.#prefix,
      fencing: true,
      track: () => {},
      serverClock: { offsetUs: undefined, at: 0 },
    };
    const releases = await Promise.all([
      releaseFair(context, keys, token, undefined, undefined),
      releaseRead(context, keys, token, {}),
      // The limit only matters when no holder is left (none is stored then): the operator does not know it, so
      // every live waiter is woken, and each attempt checks its own limit.
      releaseSemaphore(context, semaphoreKeys(this.#prefix, resource), Number.MAX_SAFE_INTEGER, token),
    ]);
    // Per node: released by one of them, or the first error, or found nothing.
    const outcomes = this.#nodes.map((_, i) => {
      const each = releases.map((r) => r.outcomes[i]!);
      return each.find((o) => o.status === "ok") ?? each.find((o) => o.status !== "refused") ?? each[0]!;
    });
    return tally(outcomes, this.quorum);
  }

  /**
   * Deletes every hold on `resource` on every node, whoever holds it (the lock, read leases, semaphore permits),
   * and wakes who waits. The fencing counter stays.
   */
  async break(resource: string): Promise<AdminResult> {
    const keys = mutexKeys(this.#prefix, checkResource(resource));
    const semaphore = semaphoreKeys(this.#prefix, resource);
    const id = newReleaseId();
    const { outcomes } = await this.#onEach<null>(async (conn, abandoned) => {
      const deleted = await runScript(
        conn,
        breakScript,
        [
          keys.lock,
          keys.waiting,
          keys.readers,
          keys.readWaiting,
          keys.readHeartbeats,
          semaphore.holders,
          semaphore.permits,
          semaphore.waiting,
          semaphore.heartbeats,
          keys.queue,
        ],
        [keys.channel, id],
        abandoned,
      );
      return { status: Number(deleted) > 0 ? "ok" : "refused", value: null };
    });
    return tally(outcomes, this.quorum);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#nodes.map((node) => node.close()));
  }

  /** Asks every node and waits for all of them (each up to the timeout): an operator wants every answer. */
  #onEach<T>(request: (conn: RedisConnection, abandoned: Abandoned) => Promise<Verdict<T>>) {
    const { result } = vote(this.#nodes, request, {
      quorum: this.#nodes.length,
      timeout: this.#timeout,
      waitForAll: true,
    });
    return result;
  }
}

/** `done`: nodes where something was freed; `answered`: nodes that replied at all. */
function tally(outcomes: readonly NodeOutcome[], quorum: number): AdminResult {
  const done = outcomes.filter((o) => o.status === "ok").length;
  const answered = done + outcomes.filter((o) => o.status === "refused").length;
  return { done, answered, quorum, outcomes };
}

/** Runs `work` with a `LockAdmin` on `nodes`, and closes it however `work` ends. */
export async function withAdmin<T>(
  options: AdminOptions,
  work: (admin: LockAdmin) => Promise<T>,
): Promise<T> {
  const admin = new LockAdmin(options);
  try {
    return await work(admin);
  } finally {
    await admin.close();
  }
}

/** What the nodes' views add up to. Pure, for tests. */
export function summarise(resource: string, quorum: number, nodes: readonly NodeLockState[]): LockState {
  const answered = nodes.filter((n) => n.error === undefined).length;
  const silent = nodes.length - answered;
  const byToken = new Map<string, number[]>();
  for (const n of nodes) {
    if (n.token !== undefined) byToken.set(n.token, [...(byToken.get(n.token) ?? []), n.ttlMs ?? -1]);
  }
  let holder: LockState["holder"];
  let possible = false;
  for (const [token, ttls] of byToken) {
    if (ttls.length >= quorum) holder = { token, nodes: ttls.length, ttlMs: quorumTtl(ttls, quorum) };
    else if (ttls.length + silent >= quorum) possible = true;
  }
  const fences = nodes.flatMap((n) => (n.fence === undefined ? [] : [n.fence]));
  const readers = onQuorum(
    nodes.map((n) => n.readers ?? []),
    quorum,
  ).length;
  const limits = nodes.flatMap((n) => (n.limit === undefined ? [] : [n.limit]));
  let semaphore: LockState["semaphore"];
  if (limits.length > 0) {
    const limit = Math.max(...limits);
    const needed = semaphoreQuorum(nodes.length, limit);
    const held = onQuorum(
      nodes.map((n) => n.permits ?? []),
      needed,
    );
    semaphore = {
      limit,
      quorum: needed,
      holders: held.length,
      permits: held.reduce((n, h) => n + h.permits, 0),
    };
  }
  return {
    resource,
    quorum,
    // A token nobody reported could still sit on the silent nodes.
    state: holder ? "held" : possible || silent >= quorum ? "unknown" : "free",
    holder,
    fence: fences.length ? Math.max(...fences) : undefined,
    waiters: Math.max(0, ...nodes.map((n) => n.waiters ?? 0)),
    readersWaiting: Math.max(0, ...nodes.map((n) => n.readersWaiting ?? 0)),
    permitWaiters: Math.max(0, ...nodes.map((n) => n.permitWaiters ?? 0)),
    readers,
    semaphore,
    answered,
    nodes,
  };
}

/** Members (by token) that at least `quorum` nodes list; each as the first node listed it. */
function onQuorum<T extends { readonly token: string }>(
  lists: readonly (readonly T[])[],
  quorum: number,
): T[] {
  const seen = new Map<string, { first: T; count: number }>();
  for (const list of lists) {
    for (const member of list) {
      const entry = seen.get(member.token);
      if (entry) entry.count++;
      else seen.set(member.token, { first: member, count: 1 });
    }
  }
  return [...seen.values()].filter((e) => e.count >= quorum).map((e) => e.first);
}

/** A flat script reply as tuples of `size`. */
function chunks<T>(flat: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i + size <= flat.length; i += size) out.push(flat.slice(i, i + size));
  return out;
}

/** The key stays on a quorum until the quorum-th longest of its TTLs runs out (-1, no expiry, is longest). */
function quorumTtl(ttls: readonly number[], quorum: number): number {
  const longestFirst = ttls.map((t) => (t < 0 ? Number.POSITIVE_INFINITY : t)).sort((a, b) => b - a);
  const ttl = longestFirst[quorum - 1]!;
  return ttl === Number.POSITIVE_INFINITY ? -1 : ttl;
}

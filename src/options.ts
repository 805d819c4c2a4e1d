// Option defaults and validation: pure, no I/O. Every public option is checked here once, at the boundary,
// and a bad one fails with an error that names the option and what is allowed.
import type { NodeSpec } from "./clients/resolve.js";
import { checkNodeSpec, nodeIdentity } from "./clients/resolve.js";
import { invalidType, invalidValue, unknownOption } from "./errors.js";

/** Largest delay Node timers accept (about 24.8 days); longer TTLs and waits are refused, not truncated. */
export const MAX_MS = 2_147_483_647;
/** Shortest TTL: below this the drift allowance (1% + 2 ms) leaves no useful validity. */
export const MIN_TTL = 10;
/** Longest resource name, in characters. */
export const MAX_RESOURCE_LENGTH = 1024;

/** Options of {@link LockManager}. Every one has a default that suits most uses. */
export interface LockManagerOptions {
  /**
   * The independent Redis masters. One node gives a plain lock; N nodes give a Redlock quorum lock that
   * needs floor(N/2)+1 of them. Each entry is a `redis://` / `rediss://` URL, an ioredis options object
   * (the manager opens and closes those connections), or a ready ioredis or node-redis client (injected
   * clients are never closed by the manager). Default: `["redis://127.0.0.1:6379"]`.
   */
  nodes?: readonly NodeSpec[];
  /** Lease time-to-live in ms, for calls that do not pass their own. Default: 30 000 (30 s). */
  ttl?: number;
  /** How long `acquire` waits for a busy lock, in ms; `Infinity` waits for ever. Default: 10 000. */
  wait?: number;
  /**
   * Per-node, per-request timeout in ms: a node slower than this counts as failed for that request.
   * It is further capped by the request's TTL. Default: 500.
   */
  nodeTimeout?: number;
  /** Prefix of every key quorumlock writes. Must not contain `{` or `}`. Default: `"quorumlock:"`. */
  prefix?: string;
  /**
   * Hand out fencing tokens (`lease.fence`). In quorum mode an acquisition costs one extra parallel round trip
   * (a write-back of the highest counter to a majority) when the nodes' counters differ, and the first
   * acquisition of a resource waits for every node; on one node fencing is free. Default: true.
   */
  fencing?: boolean;
  /**
   * How a waiting `acquire` learns that the lock may be free. `"pubsub"`: a release publishes a wake-up and
   * one waiter per process tries again at once (plus a wake-up when the holder's TTL runs out); needs
   * SUBSCRIBE. `"poll"`: retry every `pollInterval` ms (randomised ±50%), for deployments that forbid pub/sub.
   * Default: `"pubsub"`.
   */
  wakeup?: "pubsub" | "poll";
  /**
   * Retry interval in ms of `wakeup: "poll"`, and of pub/sub waiters on a channel no node would subscribe
   * to. Default: 100.
   */
  pollInterval?: number;
  /**
   * Restart quarantine in ms: a node whose Redis server started less than this long ago does not vote (requests
   * to it fail with a `NodeQuarantinedError`, code `ERR_NODE_QUARANTINED`, and never count as "busy"). A node
   * that restarted without its data has forgotten the locks it granted; kept out this long, it cannot hand one
   * of them to a second client while the first lease is still valid. The server's age comes from `INFO server`
   * on each new connection. A brand-new node cannot be told from a restarted one, so it too waits this long.
   * `0` turns the quarantine off; otherwise it must be at least `ttl`, and calls or extensions with a longer TTL
   * are refused. Default: 0 (off). See docs/SAFETY.md.
   */
  quarantine?: number;
  /**
   * Fair mode for calls that do not say: waiters queue in Redis in arrival order (server time) and a release
   * hands the lock straight to the longest-waiting one, fence bumped, with no further round trip. One node
   * only: with several, `true` is refused (independent masters cannot agree on one queue order; see the
   * README). Non-fair callers of the same resource are not queued and can still go first. Default: false.
   */
  fair?: boolean;
}

/** Options of a single `acquire` / `tryAcquire` call. */
export interface AcquireOptions {
  /** Lease time-to-live in ms. Default: the manager's `ttl`. */
  ttl?: number;
  /** How long to wait for a busy lock, in ms (0: one attempt). Default: the manager's `wait`. */
  wait?: number;
  /** Aborts the wait: the call rejects with an `AbortError` and leaves no partial lock behind. */
  signal?: AbortSignal;
  /**
   * Keep the lease extended in the background (every ttl/3) until it is released; if an extension fails
   * for good, `lease.signal` aborts with a `LockLostError`. Default: false (`withLock` always does it).
   */
  autoExtend?: boolean;
  /**
   * Longest time the lease may be held, in ms from acquisition, however often it is extended: extensions
   * (automatic or by hand) never reach past it, and at that point the lease ends like a lost one (its
   * signal aborts with a `LockLostError`). At least `ttl`. Default: no cap.
   */
  maxHold?: number;
  /** Queue in arrival order and take a direct hand-off (see {@link LockManagerOptions.fair}). */
  fair?: boolean;
}

/** Options of `withLock`. */
export interface WithLockOptions {
  /** Lease time-to-live in ms; the lease is extended automatically while the function runs. */
  ttl?: number;
  /** How long to wait for a busy lock, in ms. */
  wait?: number;
  /** Aborts the wait for the lock (not the function: pass `lease.signal` on to it). */
  signal?: AbortSignal;
  /** Longest time the lock may be held, in ms, however long `fn` runs (see {@link AcquireOptions.maxHold}). */
  maxHold?: number;
  /** Queue in arrival order and take a direct hand-off (see {@link LockManagerOptions.fair}). */
  fair?: boolean;
}

export interface ResolvedManagerOptions {
  readonly nodes: readonly NodeSpec[];
  readonly ttl: number;
  readonly wait: number;
  readonly nodeTimeout: number;
  readonly prefix: string;
  readonly fencing: boolean;
  readonly wakeup: "pubsub" | "poll";
  readonly pollInterval: number;
  readonly quarantine: number;
  readonly fair: boolean;
}

export const DEFAULTS: Readonly<Omit<ResolvedManagerOptions, "nodes">> & { nodes: readonly string[] } =
  Object.freeze({
    nodes: Object.freeze(["redis://127.0.0.1:6379"]),
    ttl: 30_000,
    wait: 10_000,
    nodeTimeout: 500,
    prefix: "quorumlock:",
    fencing: true,
    wakeup: "pubsub",
    pollInterval: 100,
    quarantine: 0,
    fair: false,
  });

function checkKeys(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) if (!known.includes(key)) throw unknownOption(where, key, known);
}

function checkObject(name: string, value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw invalidType(name, "an object", value);
  }
}

/** An integer count of milliseconds within [min, MAX_MS], or `Infinity` where allowed. */
export function checkMs(name: string, value: unknown, min: number, allowInfinity = false): number {
  if (typeof value !== "number") throw invalidType(name, "a number of milliseconds", value);
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  const range = `an integer from ${min} to ${MAX_MS}${allowInfinity ? ", or Infinity" : ""} (milliseconds)`;
  if (!Number.isInteger(value) || value < min || value > MAX_MS) throw invalidValue(name, range, value);
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidType(name, "a boolean", value);
  return value;
}

function checkWakeup(value: unknown): "pubsub" | "poll" {
  if (value === "pubsub" || value === "poll") return value;
  if (typeof value !== "string") throw invalidType("wakeup", '"pubsub" or "poll"', value);
  throw invalidValue("wakeup", '"pubsub" or "poll"', value);
}

function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidType("signal", "an AbortSignal", value);
  return value;
}

export function checkResource(value: unknown): string {
  if (typeof value !== "string") throw invalidType("resource", "a string", value);
  if (value.length === 0 || value.length > MAX_RESOURCE_LENGTH) {
    throw invalidValue("resource", `a non-empty string of at most ${MAX_RESOURCE_LENGTH} characters`, value);
  }
  return value;
}

const MANAGER_KEYS = [
  "nodes",
  "ttl",
  "wait",
  "nodeTimeout",
  "prefix",
  "fencing",
  "wakeup",
  "pollInterval",
  "quarantine",
  "fair",
] as const;

export function resolveManagerOptions(options: unknown): ResolvedManagerOptions {
  checkObject("options", options);
  const o = options ?? {};
  checkKeys("LockManager options", o, MANAGER_KEYS);
  let nodes: readonly NodeSpec[] = DEFAULTS.nodes;
  if (o.nodes !== undefined) {
    if (!Array.isArray(o.nodes))
      throw invalidType("nodes", "an array of node URLs, option objects or clients", o.nodes);
    if (o.nodes.length === 0) throw invalidValue("nodes", "a non-empty array", o.nodes);
    const seen = new Map<unknown, number>();
    o.nodes.forEach((spec: unknown, i: number) => {
      checkNodeSpec(spec, i);
      const id = nodeIdentity(spec as NodeSpec);
      const earlier = seen.get(id);
      if (earlier !== undefined) {
        throw invalidValue(`nodes[${i}]`, `a node not already listed (it repeats nodes[${earlier}])`, spec);
      }
      seen.set(id, i);
    });
    nodes = o.nodes as NodeSpec[];
  }
  const prefix = o.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== "string") throw invalidType("prefix", "a string", prefix);
  if (/[{}]/.test(prefix))
    throw invalidValue("prefix", 'a string without "{" or "}" (they form the hash tag)', prefix);
  const ttl = o.ttl === undefined ? DEFAULTS.ttl : checkMs("ttl", o.ttl, MIN_TTL);
  return Object.freeze({
    nodes,
    ttl,
    wait: o.wait === undefined ? DEFAULTS.wait : checkMs("wait", o.wait, 0, true),
    nodeTimeout:
      o.nodeTimeout === undefined ? DEFAULTS.nodeTimeout : checkMs("nodeTimeout", o.nodeTimeout, 1),
    prefix,
    fencing: o.fencing === undefined ? DEFAULTS.fencing : checkBoolean("fencing", o.fencing),
    wakeup: o.wakeup === undefined ? DEFAULTS.wakeup : checkWakeup(o.wakeup),
    pollInterval:
      o.pollInterval === undefined ? DEFAULTS.pollInterval : checkMs("pollInterval", o.pollInterval, 1),
    quarantine: o.quarantine === undefined ? DEFAULTS.quarantine : checkQuarantine(o.quarantine, ttl),
    fair: o.fair === undefined ? DEFAULTS.fair : checkFair(o.fair, nodes.length),
  });
}

/** Fair mode needs the single queue of a single node. */
function checkFair(value: unknown, nodes: number): boolean {
  const fair = checkBoolean("fair", value);
  if (fair && nodes > 1) {
    throw invalidValue(
      "fair",
      `false with ${nodes} nodes: the fair queue and its hand-off live on one Redis, and independent ` +
        "masters cannot agree on one order of waiters (use one node for fair locks)",
      value,
    );
  }
  return fair;
}

function checkQuarantine(value: unknown, ttl: number): number {
  if (typeof value !== "number") throw invalidType("quarantine", "a number of milliseconds", value);
  if (value === 0) return 0;
  if (!Number.isInteger(value) || value < ttl || value > MAX_MS) {
    throw invalidValue(
      "quarantine",
      `0 (off), or an integer from the ttl (${ttl}) to ${MAX_MS} (milliseconds)`,
      value,
    );
  }
  return value;
}

/**
 * Refuses a TTL the restart quarantine does not cover: a restarted node could vote again while a lease it
 * granted with that TTL is still valid.
 */
export function checkCoveredTtl(ttl: number, quarantine: number): number {
  if (quarantine > 0 && ttl > quarantine) {
    throw invalidValue("ttl", `at most the manager's quarantine (${quarantine} ms) that covers it`, ttl);
  }
  return ttl;
}

export interface ResolvedCallOptions {
  /** Which call: a busy `tryAcquire` gives null, the others throw `LockTimeoutError`. */
  readonly kind: "acquire" | "tryAcquire" | "withLock";
  readonly ttl: number;
  readonly wait: number;
  readonly signal: AbortSignal | undefined;
  readonly autoExtend: boolean;
  readonly maxHold: number;
  readonly fair: boolean;
}

const ACQUIRE_KEYS = ["ttl", "wait", "signal", "autoExtend", "maxHold", "fair"] as const;
const TRY_ACQUIRE_KEYS = ["ttl", "signal", "autoExtend", "maxHold", "fair"] as const;
const WITH_LOCK_KEYS = ["ttl", "wait", "signal", "maxHold", "fair"] as const;
const KEYS_OF = { acquire: ACQUIRE_KEYS, tryAcquire: TRY_ACQUIRE_KEYS, withLock: WITH_LOCK_KEYS } as const;

/**
 * Per-call options over the manager's defaults. `kind` picks which option names are allowed; a handle's method
 * (e.g. a semaphore's `withPermit`) names itself in errors with `method`, and allows its own options (`extra`,
 * which it checks itself).
 */
export function resolveCallOptions(
  kind: "acquire" | "tryAcquire" | "withLock",
  options: unknown,
  defaults: ResolvedManagerOptions,
  method: string = kind,
  extra: readonly string[] = [],
): ResolvedCallOptions {
  checkObject("options", options);
  const o = options ?? {};
  checkKeys(`${method}() options`, o, extra.length ? [...KEYS_OF[kind], ...extra] : KEYS_OF[kind]);
  const ttl = checkCoveredTtl(
    o.ttl === undefined ? defaults.ttl : checkMs("ttl", o.ttl, MIN_TTL),
    defaults.quarantine,
  );
  if (o.maxHold !== undefined && typeof o.maxHold === "number" && o.maxHold < ttl) {
    throw invalidValue("maxHold", `at least the ttl (${ttl} ms)`, o.maxHold);
  }
  return {
    kind,
    ttl,
    wait: kind === "tryAcquire" ? 0 : o.wait === undefined ? defaults.wait : checkMs("wait", o.wait, 0, true),
    signal: checkSignal(o.signal),
    autoExtend:
      kind === "withLock"
        ? true
        : o.autoExtend === undefined
          ? false
          : checkBoolean("autoExtend", o.autoExtend),
    maxHold:
      o.maxHold === undefined ? Number.POSITIVE_INFINITY : checkMs("maxHold", o.maxHold, MIN_TTL, true),
    fair: o.fair === undefined ? defaults.fair : checkFair(o.fair, defaults.nodes.length),
  };
}

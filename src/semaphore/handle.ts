import { invalidType, invalidValue, unknownOption } from "../errors.js";
import type { Lease } from "../lease.js";
import type { LeaseSource } from "../manager.js";
import type { AcquireOptions, ResolvedCallOptions, WithLockOptions } from "../options.js";
import { semaphore, semaphoreQuorum } from "./index.js";
import { semaphoreKeys } from "./keys.js";

/** Largest limit: permits are counted in Redis integers and Lua doubles; this keeps every sum exact. */
export const MAX_LIMIT = 2_147_483_647;

/** Options of `LockManager.semaphore`. */
export interface SemaphoreOptions {
  /** How many permits may be held at once, across every client: an integer from 1 to 2 147 483 647. Required. */
  limit: number;
}

/** Options of `Semaphore.acquire` (the mutex's, without `fair`: see {@link Semaphore}). */
export interface PermitOptions extends Omit<AcquireOptions, "fair"> {
  /** Permits to take at once, from 1 to the semaphore's limit. Default: 1. */
  permits?: number;
}

/** Options of `Semaphore.withPermit`. */
export interface WithPermitOptions extends Omit<WithLockOptions, "fair"> {
  /** Permits to take at once, from 1 to the semaphore's limit. Default: 1. */
  permits?: number;
}

const OWN = ["permits"] as const;

/**
 * A counting semaphore: at most `limit` permits of `name` held at once, across every client of the nodes. Each
 * permit (or group of permits) is a {@link Lease} with its own TTL, fence and signal, like a lock's. Waiters are
 * admitted in arrival order: a waiter never loses the permits it waits for to someone who came later (a request
 * for 3 is not starved by a stream of requests for 1); a later, smaller request goes first only when both fit.
 * There is no separate fair mode (`fair: true` is refused; a manager-wide `fair` does not apply).
 *
 * On N nodes a permit needs q = floor(N·limit/(limit+1)) + 1 of them (a majority only for limit 1): see
 * docs/semaphore.md.
 *
 * @example
 * const uploads = locks.semaphore("uploads", { limit: 4 });
 * await uploads.withPermit(async (lease) => upload(file, { signal: lease.signal }));
 */
export class Semaphore {
  readonly #source: LeaseSource;
  readonly #name: string;
  readonly #limit: number;
  readonly #quorum: number;

  /** @internal Made by `LockManager.semaphore`. */
  constructor(source: LeaseSource, name: string, limit: number) {
    this.#source = source;
    this.#name = name;
    this.#limit = limit;
    this.#quorum = semaphoreQuorum(source.context.nodes.length, limit);
  }

  /** The semaphore's name (its resource). */
  get name(): string {
    return this.#name;
  }

  /** How many permits may be held at once. */
  get limit(): number {
    return this.#limit;
  }

  /** Nodes that must grant a permit: floor(N·limit/(limit+1)) + 1 (1 on a single node). */
  get quorum(): number {
    return this.#quorum;
  }

  /**
   * Takes `permits` (default 1), waiting up to `wait` ms while they are not free.
   * @throws {LockTimeoutError} still not free when `wait` ran out.
   * @throws {SemaphoreLimitError} the semaphore is held with a different limit.
   * @throws {LockUnavailableError} too few nodes answered.
   * @throws {LockAbortedError} `signal` aborted.
   */
  async acquire(options?: PermitOptions): Promise<Lease> {
    const [call, permits] = this.#prepare("acquire", options, "acquire");
    return (await this.#lease(call, permits))!;
  }

  /** One attempt, no waiting: a lease, or `null` when the permits are not free. */
  async tryAcquire(options?: Omit<PermitOptions, "wait">): Promise<Lease | null> {
    const [call, permits] = this.#prepare("tryAcquire", options, "tryAcquire");
    return this.#lease(call, permits);
  }

  /**
   * Takes `permits` (default 1), runs `fn(lease)`, and releases them however `fn` ends. While `fn` runs the
   * lease is extended every ttl/3; if that fails for good, `lease.signal` aborts with a `LockLostError`.
   * Returns what `fn` returns and throws what it throws, unchanged.
   */
  async withPermit<T>(fn: (lease: Lease) => T | Promise<T>, options?: WithPermitOptions): Promise<T> {
    if (typeof fn !== "function") throw invalidType("fn", "a function", fn);
    const [call, permits] = this.#prepare("withLock", options, "withPermit");
    const lease = (await this.#lease(call, permits))!;
    try {
      return await fn(lease);
    } finally {
      // A failed release must not replace fn's result or error; the permits then free themselves at their TTL.
      await lease.release().catch(() => {});
    }
  }

  #prepare(
    kind: "acquire" | "tryAcquire" | "withLock",
    options: unknown,
    method: string,
  ): [ResolvedCallOptions, number] {
    const o = options as { fair?: unknown; permits?: unknown } | undefined;
    if (typeof o === "object" && o !== null && o.fair === true) {
      throw invalidValue(
        "fair",
        "false or absent for a semaphore: it always admits waiters in arrival order, and has no hand-off mode",
        o.fair,
      );
    }
    const call = this.#source.prepare(kind, this.#name, options, method, OWN);
    return [call, checkPermits(o?.permits, this.#limit)];
  }

  #lease(call: ResolvedCallOptions, permits: number): Promise<Lease | null> {
    const keys = semaphoreKeys(this.#source.options.prefix, this.#name);
    const primitive = semaphore({ resource: this.#name, limit: this.#limit, permits });
    return this.#source.lease(this.#name, call, "semaphore", primitive, keys, this.#quorum);
  }
}

function checkPermits(value: unknown, limit: number): number {
  if (value === undefined) return 1;
  const allowed = `an integer from 1 to the semaphore's limit (${limit})`;
  if (typeof value !== "number") throw invalidType("permits", allowed, value);
  if (!Number.isInteger(value) || value < 1 || value > limit) throw invalidValue("permits", allowed, value);
  return value;
}

/** Checks `LockManager.semaphore`'s options: the limit is required. */
export function checkSemaphoreOptions(options: unknown): number {
  const allowed = `an integer from 1 to ${MAX_LIMIT}`;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidType("options", `an object with a "limit" (${allowed})`, options);
  }
  for (const key of Object.keys(options)) {
    if (key !== "limit") throw unknownOption("semaphore() options", key, ["limit"]);
  }
  const limit = (options as { limit?: unknown }).limit;
  if (typeof limit !== "number") throw invalidType("limit", allowed, limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalidValue("limit", allowed, limit);
  return limit;
}

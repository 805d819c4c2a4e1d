import type { RedisConnection } from "./clients/connection.js";
import { openNode } from "./clients/resolve.js";
import type { LockContext } from "./context.js";
import { type Driven, drive } from "./driver.js";
import { invalidType, LockManagerClosedError, LockTimeoutError } from "./errors.js";
import { emit, observed, type PrimitiveName } from "./events.js";
import { fair } from "./fair/index.js";
import { Lease, type LeaseDriver } from "./lease.js";
import { newToken } from "./mutex/acquire.js";
import { mutex } from "./mutex/index.js";
import {
  type AcquireOptions,
  checkCoveredTtl,
  checkResource,
  type LockManagerOptions,
  type ResolvedCallOptions,
  type ResolvedManagerOptions,
  resolveCallOptions,
  resolveManagerOptions,
  type WithLockOptions,
} from "./options.js";
import type { Primitive, PrimitiveKeys } from "./primitive.js";
import { checkedNodes } from "./quarantine.js";
import { ReadWriteLock } from "./rwlock/index.js";
import { checkSemaphoreOptions, Semaphore, type SemaphoreOptions } from "./semaphore/handle.js";
import { Cancel, SignalFanout } from "./signals.js";
import { monotonicNow, quorumOf } from "./validity.js";
import { PollStrategy } from "./waiting/poll.js";
import { PubSubStrategy } from "./waiting/pubsub.js";
import type { WaitStrategy } from "./waiting/strategy.js";

/** How a primitive's handle takes leases through the manager that made it (see `LockManager`). */
export interface LeaseSource {
  readonly options: ResolvedManagerOptions;
  readonly context: LockContext;
  /** Checks the resource and the call's options (`extra`: the handle's own option names, which it checks). */
  prepare(
    kind: "acquire" | "tryAcquire" | "withLock",
    resource: unknown,
    options: unknown,
    method: string,
    extra?: readonly string[],
  ): ResolvedCallOptions;
  /**
   * Drives `primitive` to a lease. Busy: null for a `tryAcquire` call, else `LockTimeoutError` (with the nodes'
   * outcomes).
   */
  lease<K extends PrimitiveKeys>(
    resource: string,
    call: ResolvedCallOptions,
    name: PrimitiveName,
    primitive: Primitive<K>,
    keys: K,
    quorum?: number,
  ): Promise<Lease | null>;
}

/**
 * Hands out locks on one Redis node, or Redlock quorum locks on N independent masters, through one API.
 * Owns its connections and reuses them for every lock; `close()` closes the ones it opened.
 *
 * @example
 * const locks = new LockManager({ nodes: ["redis://a:6379", "redis://b:6379", "redis://c:6379"] });
 * await locks.withLock("orders:42", async (lease) => {
 *   await chargeCard(order, { fence: lease.fence, signal: lease.signal });
 * });
 * await locks.close();
 */
export class LockManager {
  readonly #options: ResolvedManagerOptions;
  readonly #nodes: readonly RedisConnection[];
  readonly #context: LockContext;
  readonly #strategy: WaitStrategy;
  readonly #leases = new Set<Lease>();
  readonly #background = new Set<Promise<unknown>>();
  /**
   * One cancellation per acquisition in progress, aborted by `close()`. Not one shared signal: an EventTarget
   * walks its listener list on every add and remove, so thousands of waiters on one signal cost O(n²).
   */
  readonly #pending = new Map<Cancel, Promise<unknown>>();
  readonly #signals = new SignalFanout();
  #closed: Promise<void> | undefined;

  constructor(options?: LockManagerOptions) {
    this.#options = resolveManagerOptions(options);
    this.#nodes = checkedNodes(this.#options.nodes.map(openNode), this.#options.quarantine);
    this.#context = {
      nodes: this.#nodes,
      quorum: quorumOf(this.#nodes.length),
      nodeTimeout: this.#options.nodeTimeout,
      prefix: this.#options.prefix,
      fencing: this.#options.fencing,
      track: (work) => this.#track(work),
      serverClock: { offsetUs: undefined, at: 0 },
    };
    this.#strategy =
      this.#options.wakeup === "poll"
        ? new PollStrategy(this.#options.pollInterval)
        : new PubSubStrategy(this.#nodes, {
            nodeTimeout: this.#options.nodeTimeout,
            quorum: this.#context.quorum,
            fallbackInterval: this.#options.pollInterval,
          });
  }

  /** How many nodes must agree for a lock: floor(N/2)+1 (1 on a single node). */
  get quorum(): number {
    return this.#context.quorum;
  }

  /**
   * Acquires `resource`, waiting up to `wait` ms while someone else holds it.
   * @throws {LockTimeoutError} still busy when `wait` ran out.
   * @throws {LockUnavailableError} too few nodes answered (never for a lock that is merely busy).
   * @throws {LockAbortedError} `signal` aborted (`name` is `"AbortError"`).
   */
  async acquire(resource: string, options?: AcquireOptions): Promise<Lease> {
    return (await this.#acquire(resource, this.#prepare("acquire", resource, options)))!;
  }

  /**
   * One attempt, no waiting: a lease, or `null` when someone else holds the lock.
   * @throws {LockUnavailableError} too few nodes answered: busy and down never look the same.
   */
  async tryAcquire(resource: string, options?: Omit<AcquireOptions, "wait">): Promise<Lease | null> {
    return this.#acquire(resource, this.#prepare("tryAcquire", resource, options));
  }

  /**
   * Acquires `resource`, runs `fn(lease)`, and releases the lock however `fn` ends. While `fn` runs the
   * lease is extended every ttl/3; if that fails for good, `lease.signal` aborts with a `LockLostError`.
   * Returns what `fn` returns and throws what it throws, unchanged.
   */
  async withLock<T>(
    resource: string,
    fn: (lease: Lease) => T | Promise<T>,
    options?: WithLockOptions,
  ): Promise<T> {
    if (typeof fn !== "function") throw invalidType("fn", "a function", fn);
    const call = this.#prepare("withLock", resource, options);
    const lease = (await this.#acquire(resource, call))!;
    try {
      return await fn(lease);
    } finally {
      // A failed release must not replace fn's result or error; the lock then frees itself at its TTL.
      await lease.release().catch(() => {});
    }
  }

  /**
   * A read-write lock on `name`: many readers at once, or one writer alone. Its write side is the lock of the
   * same name (`acquire(name)` excludes readers too); a waiting writer keeps new readers out. See docs/rwlock.md.
   */
  readWrite(name: string): ReadWriteLock {
    checkResource(name);
    if (this.#closed) throw new LockManagerClosedError();
    return new ReadWriteLock(this.#source, name);
  }

  /**
   * A counting semaphore on `name`: at most `limit` permits held at once, each a lease of its own. On N nodes a
   * permit needs floor(N·limit/(limit+1))+1 of them (see docs/semaphore.md).
   * @example
   * const uploads = locks.semaphore("uploads", { limit: 4 });
   * await uploads.withPermit(async (lease) => upload(file, { signal: lease.signal }));
   */
  semaphore(name: string, options: SemaphoreOptions): Semaphore {
    checkResource(name);
    const limit = checkSemaphoreOptions(options);
    if (this.#closed) throw new LockManagerClosedError();
    return new Semaphore(this.#source, name, limit);
  }

  /**
   * Stops acquisitions still waiting (they reject with `LockManagerClosedError`), releases the leases still
   * held, waits for background cleanups, and closes the connections this manager opened (injected clients
   * stay open). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const cancel of this.#pending.keys()) cancel.abort(new LockManagerClosedError());
      await Promise.allSettled([...this.#pending.values()]);
      await Promise.allSettled([...this.#leases].map((lease) => lease.release()));
      await Promise.allSettled([...this.#background]);
      await this.#strategy.close();
      await Promise.allSettled(this.#nodes.map((node) => node.close()));
    })();
    return this.#closed;
  }

  #prepare(
    kind: "acquire" | "tryAcquire" | "withLock",
    resource: unknown,
    options: unknown,
  ): ResolvedCallOptions {
    checkResource(resource);
    const call = resolveCallOptions(kind, options, this.#options);
    if (this.#closed) throw new LockManagerClosedError();
    return call;
  }

  #acquire(resource: string, call: ResolvedCallOptions): Promise<Lease | null> {
    const primitive = call.fair ? fair : mutex;
    return this.#lease(resource, call, "mutex", primitive, primitive.keys(this.#options.prefix, resource));
  }

  /**
   * The one acquire path of every primitive: drives `primitive` until it grants a lease, and hands the lease
   * out. Busy: null for a `tryAcquire` call, else `LockTimeoutError`. `quorum`: grants needed, when the
   * primitive needs more than a majority.
   */
  async #lease<K extends PrimitiveKeys>(
    resource: string,
    call: ResolvedCallOptions,
    name: PrimitiveName,
    primitive: Primitive<K>,
    keys: K,
    quorum: number = this.#context.quorum,
  ): Promise<Lease | null> {
    const token = newToken();
    const context = quorum === this.#context.quorum ? this.#context : { ...this.#context, quorum };
    const began = monotonicNow();
    // The caller's signal and close() both abort this call.
    const closing = new Cancel();
    const unlink = this.#signals.link(call.signal, closing);
    const pending = drive(context, this.#strategy, primitive, resource, keys, token, {
      ttl: call.ttl,
      wait: call.wait,
      signal: closing,
    });
    this.#pending.set(closing, pending);
    let driven: Driven;
    try {
      driven = await pending;
    } catch (error) {
      if (closing.aborted && !call.signal?.aborted) throw new LockManagerClosedError();
      throw error;
    } finally {
      this.#pending.delete(closing);
      unlink();
    }
    const { result, place } = driven;
    if (result.kind === "busy") {
      if (call.kind === "tryAcquire") return null;
      throw new LockTimeoutError(resource, call.wait, result.outcomes);
    }
    const leases = this.#leases;
    const { done } = result;
    const free = () => primitive.release(context, keys, token, done, place);
    const driver: LeaseDriver = {
      quorum: context.quorum,
      extend: async (ttl) =>
        primitive.extend(context, keys, token, checkCoveredTtl(ttl, this.#options.quarantine)),
      release: free,
      ended(lease, how) {
        leases.delete(lease);
        // A lost lease may still sit on some nodes (the drift margin, a late extension): free them early.
        if (how === "lost") context.track(free());
      },
    };
    const lease = new Lease({
      resource,
      primitive: name,
      token,
      fence: result.fence,
      ttl: call.ttl,
      start: result.start,
      autoExtend: call.autoExtend,
      maxHold: call.maxHold,
      driver,
    });
    if (lease.valid) leases.add(lease);
    if (observed.acquired) {
      emit.acquired({
        resource,
        primitive: name,
        fence: result.fence,
        ttl: call.ttl,
        waitedMs: monotonicNow() - began,
      });
    }
    return lease;
  }

  /**
   * What a primitive's handle (a semaphore, a read-write lock) takes leases through: the manager's options,
   * nodes and one acquire path. Internal: handles are made by the manager's own methods.
   */
  get #source(): LeaseSource {
    return {
      options: this.#options,
      context: this.#context,
      prepare: (kind, resource, options, method, extra) => {
        checkResource(resource);
        const call = resolveCallOptions(kind, options, this.#options, method, extra);
        if (this.#closed) throw new LockManagerClosedError();
        return call;
      },
      lease: (resource, call, name, primitive, keys, quorum) =>
        this.#lease(resource, call, name, primitive, keys, quorum),
    };
  }

  #track(work: Promise<unknown>): void {
    const settled = work.catch(() => {});
    this.#background.add(settled);
    void settled.finally(() => this.#background.delete(settled));
  }
}

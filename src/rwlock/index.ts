// A read-write lock: one name, one lock, as flock(2)'s -s and -x. The write side IS the mutex of that name (its
// keys, scripts and queue), so `locks.acquire(name)` and `write()` exclude each other and every reader; readers
// share (read.ts). See docs/rwlock.md for the model, writer preference, fences and the quorum argument.
import { invalidType, invalidValue } from "../errors.js";
import type { Lease } from "../lease.js";
import type { LeaseSource } from "../manager.js";
import { mutex } from "../mutex/index.js";
import type { AcquireOptions, ResolvedCallOptions, WithLockOptions } from "../options.js";
import type { Primitive } from "../primitive.js";
import { type ReadWriteKeys, readWriteKeys } from "./keys.js";
import { read } from "./read.js";

/** Options of `read` / `write`: those of `acquire`, but never fair (see {@link ReadWriteLock}). */
export type ReadWriteOptions = Omit<AcquireOptions, "fair"> & { fair?: false };
/** Options of `withRead` / `withWrite`. */
export type WithReadWriteOptions = Omit<WithLockOptions, "fair"> & { fair?: false };

type Kind = "acquire" | "tryAcquire" | "withLock";

/**
 * A lock that many readers hold at once, or one writer alone. Made by `LockManager.readWrite(name)`. The write
 * side is the plain lock of the same name: `locks.acquire(name)` is a writer too. A waiting writer keeps new
 * readers out, so readers cannot starve it; readers that queued before it still go first. Fences: every read and
 * write lease bumps the resource's one counter, so a lease's fence is above that of every lease (read or write)
 * that ended before it began. Fair mode is not supported: `fair: true` is refused, and a manager-wide
 * `fair: true` does not apply to read-write locks.
 *
 * @example
 * const config = locks.readWrite("config");
 * const value = await config.withRead(() => loadConfig());
 * await config.withWrite(async (lease) => saveConfig(next, { fence: lease.fence }));
 */
export class ReadWriteLock {
  readonly #source: LeaseSource;
  readonly #name: string;
  readonly #keys: ReadWriteKeys;

  /** @internal Made by `LockManager.readWrite`. */
  constructor(source: LeaseSource, name: string) {
    this.#source = source;
    this.#name = name;
    this.#keys = readWriteKeys(source.options.prefix, name);
  }

  /** The lock's name (the resource). */
  get name(): string {
    return this.#name;
  }

  /**
   * A shared (read) lease, waiting up to `wait` ms while a writer holds the lock or waits for it.
   * @throws {LockTimeoutError} still busy when `wait` ran out.
   * @throws {LockUnavailableError} too few nodes answered.
   * @throws {LockAbortedError} `signal` aborted.
   */
  read(options?: ReadWriteOptions): Promise<Lease> {
    return this.#take("acquire", options, "read", "read");
  }

  /** An exclusive (write) lease: the same as `locks.acquire(name)`, waiting for the readers to leave. */
  write(options?: ReadWriteOptions): Promise<Lease> {
    return this.#take("acquire", options, "write", "write");
  }

  /** One attempt at a read lease: the lease, or `null` when a writer holds the lock or waits for it. */
  async tryRead(options?: Omit<ReadWriteOptions, "wait">): Promise<Lease | null> {
    return this.#lease("tryAcquire", options, "tryRead", "read");
  }

  /** One attempt at a write lease: the lease, or `null` when someone holds the lock (a reader or a writer). */
  async tryWrite(options?: Omit<ReadWriteOptions, "wait">): Promise<Lease | null> {
    return this.#lease("tryAcquire", options, "tryWrite", "write");
  }

  /** Runs `fn` under a read lease, extended while it runs and released however it ends (as `withLock`). */
  withRead<T>(fn: (lease: Lease) => T | Promise<T>, options?: WithReadWriteOptions): Promise<T> {
    return this.#with(fn, options, "withRead", "read");
  }

  /** Runs `fn` under a write lease, extended while it runs and released however it ends (as `withLock`). */
  withWrite<T>(fn: (lease: Lease) => T | Promise<T>, options?: WithReadWriteOptions): Promise<T> {
    return this.#with(fn, options, "withWrite", "write");
  }

  async #with<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options: unknown,
    method: string,
    side: "read" | "write",
  ): Promise<T> {
    if (typeof fn !== "function") throw invalidType("fn", "a function", fn);
    const lease = await this.#take("withLock", options, method, side);
    try {
      return await fn(lease);
    } finally {
      // A failed release must not replace fn's result or error; the lease then frees itself at its TTL.
      await lease.release().catch(() => {});
    }
  }

  async #take(kind: Kind, options: unknown, method: string, side: "read" | "write"): Promise<Lease> {
    return (await this.#call(kind, options, method, side)).lease!;
  }

  async #lease(kind: Kind, options: unknown, method: string, side: "read" | "write"): Promise<Lease | null> {
    return (await this.#call(kind, options, method, side)).lease;
  }

  async #call(
    kind: Kind,
    options: unknown,
    method: string,
    side: "read" | "write",
  ): Promise<{ lease: Lease | null; call: ResolvedCallOptions }> {
    const call = this.#source.prepare(kind, this.#name, options, method);
    if ((options as { fair?: unknown } | undefined)?.fair === true) {
      throw invalidValue(
        "fair",
        `false or left out in ${method}(): a read-write lock has no fair mode (its readers are not in the fair queue)`,
        true,
      );
    }
    const primitive: Primitive<ReadWriteKeys> = side === "read" ? read : mutex;
    const lease = await this.#source.lease(this.#name, call, side, primitive, this.#keys);
    return { lease, call };
  }
}

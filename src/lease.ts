import { type Deadline, Deadlines } from "./deadlines.js";
import { LockLostError, LockUnavailableError, type NodeOutcome } from "./errors.js";
import { emit, observed, type PrimitiveName } from "./events.js";
import { checkMs, MIN_TTL } from "./options.js";
import { drift, expiryOf, monotonicNow } from "./validity.js";

/** Every lease's expiry on the client's monotonic clock, behind one Node.js timer that never holds the process open. */
const expiries = new Deadlines(false, monotonicNow);

export type ExtendResult =
  | { readonly kind: "extended"; readonly start: number }
  /** A quorum is certainly gone: enough nodes said the key is missing or someone else's. */
  | { readonly kind: "lost"; readonly outcomes: readonly NodeOutcome[] }
  /**
   * Too few nodes answered (or too late) to know; the lease keeps the validity it had, cut to the new TTL
   * from the moment the request went out when that is shorter.
   */
  | { readonly kind: "unavailable"; readonly outcomes: readonly NodeOutcome[]; readonly detail?: string };

/** How a lease talks to its primitive (mutex today; semaphores and read-write locks later). */
export interface LeaseDriver {
  readonly quorum: number;
  extend(ttl: number): Promise<ExtendResult>;
  /** Deletes the owner's keys; `answered` counts nodes that replied at all. */
  release(): Promise<{ answered: number; outcomes: readonly NodeOutcome[] }>;
  /** Called once when the lease ends, however it ends. */
  ended(lease: Lease, how: "released" | "lost"): void;
}

export interface LeaseInit {
  readonly resource: string;
  /** What kind of lease this is, for events. */
  readonly primitive: PrimitiveName;
  readonly token: string;
  readonly fence: number | undefined;
  readonly ttl: number;
  /** Monotonic instant the winning attempt began. */
  readonly start: number;
  readonly autoExtend: boolean;
  /** Longest hold in ms from `start` (Infinity: no cap). */
  readonly maxHold: number;
  readonly driver: LeaseDriver;
}

/**
 * A lock you hold. It is yours while `valid` is true; `signal` aborts the moment it stops being valid
 * (released, expired, or lost), so pass it to the work the lock protects.
 *
 * @example
 * await using lease = await locks.acquire("orders:42");
 * await db.update(order, { fence: lease.fence, signal: lease.signal });
 */
export class Lease implements AsyncDisposable {
  /** The resource this lease locks. */
  readonly resource: string;
  /** What kind of lease: `"mutex"`, `"semaphore"` (a permit), `"read"` or `"write"`. */
  readonly primitive: PrimitiveName;
  /** The random owner token (160 bits) stored in Redis; only its holder can release or extend. */
  readonly token: string;
  /**
   * Fencing token: strictly greater than the fence of every earlier holder of this resource. Send it with
   * every write to the protected resource and have the resource reject writes with a lower fence than it
   * has seen. `undefined` when the manager was created with `fencing: false`.
   */
  readonly fence: number | undefined;

  #ttl: number;
  #expiresAt: number;
  #state: "held" | "released" | "lost" = "held";
  /** Made on first use of `signal`: most leases are never asked for one, and both cost on a hot path. */
  #controller: AbortController | undefined;
  /** Why the lease ended; the released case is made lazily too (a DOMException is costly to build). */
  #reason: unknown;
  readonly #driver: LeaseDriver;
  readonly #autoExtend: boolean;
  readonly #holdEnd: number;
  readonly #start: number;
  #expiry: Deadline | undefined;
  #extendTimer: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #released: Promise<void> | undefined;

  /** @internal Leases come from `LockManager.acquire`, `tryAcquire` and `withLock`. */
  constructor(init: LeaseInit) {
    this.resource = init.resource;
    this.primitive = init.primitive;
    this.token = init.token;
    this.fence = init.fence;
    this.#ttl = init.ttl;
    this.#driver = init.driver;
    this.#autoExtend = init.autoExtend;
    this.#holdEnd = init.start + init.maxHold;
    this.#start = init.start;
    this.#expiresAt = expiryOf(init.ttl, init.start);
    this.#armExpiry();
    if (this.#autoExtend) this.#scheduleExtension(init.start + init.ttl / 3 - monotonicNow());
  }

  /** True while the lease is guaranteed: not released, not lost, and its validity not yet run out. */
  get valid(): boolean {
    this.#checkExpiry();
    return this.#state === "held";
  }

  /** Milliseconds of guaranteed validity left (0 once the lease is no longer valid). */
  get remainingMs(): number {
    return this.valid ? Math.max(0, this.#expiresAt - monotonicNow()) : 0;
  }

  /**
   * Aborts when the lease stops being valid: with a `LockLostError` reason when it expired or was lost,
   * with an `AbortError` `DOMException` when it was released.
   */
  get signal(): AbortSignal {
    this.#checkExpiry();
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#state !== "held") this.#controller.abort(this.#endReason());
    }
    return this.#controller.signal;
  }

  #endReason(): unknown {
    this.#reason ??= new DOMException("The lease was released", "AbortError");
    return this.#reason;
  }

  /**
   * Extends the lease to `ttl` ms from now (default: the TTL it was acquired with) on a quorum.
   * Never re-creates an expired lock, and never reaches past `maxHold` (the TTL is shortened to end there).
   * @throws {LockLostError} the lease is no longer valid, or a quorum says it is no longer held.
   * @throws {LockUnavailableError} too few nodes answered. The lease keeps the validity it had, or less when
   * `ttl` was shorter than what was left: nodes may apply the shorter TTL late, so validity then ends no later
   * than `ttl` from the call.
   */
  extend(ttl: number = this.#ttl): Promise<void> {
    try {
      checkMs("ttl", ttl, MIN_TTL);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#serial(async () => {
      const result = await this.#extendOnce(ttl, false);
      if (result.kind === "lost") {
        const reason = this.#reason;
        throw reason instanceof LockLostError ? reason : new LockLostError(this.resource, "it was released");
      }
      if (result.kind === "unavailable") {
        throw new LockUnavailableError(
          this.resource,
          "extend",
          this.#driver.quorum,
          result.outcomes,
          result.detail,
        );
      }
    });
  }

  /**
   * Releases the lock on every node (compare-and-delete: never someone else's). Idempotent; a lease that
   * already expired or was lost counts as released.
   * @throws {LockUnavailableError} the lease was still valid but too few nodes answered; the lock frees itself
   * when its TTL runs out.
   */
  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  async #release(): Promise<void> {
    const wasValid = this.valid;
    if (this.#state === "held") {
      this.#end("released", undefined);
      if (observed.released) {
        emit.released({
          resource: this.resource,
          primitive: this.primitive,
          fence: this.fence,
          heldMs: monotonicNow() - this.#start,
        });
      }
    }
    const { answered, outcomes } = await this.#driver.release();
    if (wasValid && answered < this.#driver.quorum) {
      throw new LockUnavailableError(this.resource, "release", this.#driver.quorum, outcomes);
    }
  }

  async #extendOnce(requested: number, automatic: boolean): Promise<ExtendResult> {
    if (!this.valid) return { kind: "lost", outcomes: [] };
    const ttl = Math.min(requested, Math.floor(this.#holdEnd - monotonicNow()));
    if (ttl < MIN_TTL) {
      // Within a few ms of maxHold: end the lease now rather than extend it by a sliver.
      this.#lose("it reached its maxHold", []);
      return { kind: "lost", outcomes: [] };
    }
    const sent = monotonicNow();
    const result = await this.#driver.extend(ttl);
    // A lease whose validity ended while the extension was on its way stays ended, even if no timer or reader
    // has noticed yet: its signal must not abort later than its validity, nor a late reply revive it.
    this.#checkExpiry();
    if (this.#state !== "held") return { kind: "lost", outcomes: [] };
    if (result.kind === "extended") {
      // The TTL asked for, not the one capped by maxHold: later extensions are capped anyway, and the capped
      // value would make the next automatic extension shorten the keys again.
      this.#ttl = requested;
      this.#expiresAt = expiryOf(ttl, result.start);
      this.#armExpiry();
      emit.extended({
        resource: this.resource,
        primitive: this.primitive,
        fence: this.fence,
        ttl,
        automatic,
      });
    } else if (result.kind === "lost") {
      this.#lose("a quorum of nodes no longer holds it", result.outcomes);
    } else if (expiryOf(ttl, sent) < this.#expiresAt) {
      // Unconfirmed, but any node may have applied it, or still apply it late: a shorter TTL there must not
      // leave this lease outliving its keys. Nothing applied it before it was sent.
      this.#expiresAt = expiryOf(ttl, sent);
      this.#checkExpiry();
      if (this.#state !== "held") return { kind: "lost", outcomes: result.outcomes };
      this.#armExpiry();
    }
    return result;
  }

  // Extensions self-reschedule: the next is planned only after the previous one settled, so they never overlap.
  #scheduleExtension(delay: number): void {
    clearTimeout(this.#extendTimer);
    this.#extendTimer = setTimeout(() => void this.#autoExtendTick(), Math.max(0, delay));
    this.#extendTimer.unref();
  }

  async #autoExtendTick(): Promise<void> {
    if (!this.valid) return;
    let result: ExtendResult;
    try {
      result = await this.#serial(() => this.#extendOnce(this.#ttl, true));
    } catch {
      result = { kind: "unavailable", outcomes: [] };
    }
    if (this.#state !== "held") return;
    if (result.kind === "extended") this.#scheduleExtension(this.#ttl / 3);
    // Nodes did not answer: try again soon, while validity lasts; the expiry timer reports the loss if not.
    else this.#scheduleExtension(Math.min(this.#ttl / 10, this.remainingMs / 3));
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }

  #armExpiry(): void {
    expiries.cancel(this.#expiry);
    this.#expiry = expiries.add(this.#expiresAt, () => {
      this.#expiry = undefined;
      this.#checkExpiry();
      if (this.#state === "held") this.#armExpiry();
    });
  }

  #checkExpiry(): void {
    if (this.#state === "held" && monotonicNow() >= this.#expiresAt) {
      const capped = monotonicNow() >= this.#holdEnd - drift(this.#ttl) - 1;
      this.#lose(capped ? "it reached its maxHold" : `its validity ran out (ttl ${this.#ttl} ms)`, []);
    }
  }

  #lose(why: string, outcomes: readonly NodeOutcome[]): void {
    if (this.#state !== "held") return;
    const reason = new LockLostError(this.resource, why, outcomes);
    this.#end("lost", reason);
    emit.lost({ resource: this.resource, primitive: this.primitive, fence: this.fence, reason });
  }

  /** `reason` undefined: released (the DOMException reason is made only if a signal needs it). */
  #end(how: "released" | "lost", reason: LockLostError | undefined): void {
    this.#state = how;
    expiries.cancel(this.#expiry);
    this.#expiry = undefined;
    clearTimeout(this.#extendTimer);
    this.#reason = reason;
    this.#controller?.abort(this.#endReason());
    this.#driver.ended(this, how);
  }
}

// The contract every lock primitive (the mutex, fair mode; semaphores and read-write locks later) fulfils for the
// acquisition driver (driver.ts). A primitive knows its keys and scripts: one attempt, with its own cleanup, how
// a waiter leaves, extend and release. It knows nothing about waiting: deadlines, aborts, wake-ups, the split-
// vote pause and building the lease are the driver's.
import type { LockContext } from "./context.js";
import type { NodeOutcome } from "./errors.js";
import type { ExtendResult } from "./lease.js";
import type { Abortable } from "./signals.js";
import type { WakeUp } from "./waiting/strategy.js";

export interface PrimitiveKeys {
  /** The pub/sub channel releases are announced on: wake-ups addressed to a waiter id (a channel, not a key). */
  readonly channel: string;
}

/** A waiter's place in the primitive's queue in Redis, for the attempts of a call that may wait. */
export interface Place {
  /** Public id of the waiter (it goes out in wake-up messages; the token never does). */
  readonly id: string;
  /** Attempts made so far with this place (the driver counts them). */
  attempts: number;
  /**
   * Whether a wake-up addressed to this waiter reaches it (pub/sub) or not (polling). A primitive that keeps the
   * lock for the first waiter must not queue one that cannot be told.
   */
  readonly reachable: boolean;
  /** Monotonic instant the primitive last (re)registered the place in Redis; the primitive's to keep. */
  registered: number | undefined;
  /** The waiter's arrival, as the primitive orders its queue (e.g. server µs); the primitive's to keep. */
  arrival: number | undefined;
}

export type AttemptResult =
  | {
      readonly kind: "acquired";
      /** Monotonic instant from which validity is counted. */
      readonly start: number;
      readonly fence: number | undefined;
      readonly outcomes: readonly NodeOutcome[];
      /**
       * Per node: settles once this attempt's request to it has answered or timed out. A release must be
       * sent after it, or a straggler's NOSCRIPT→EVAL fallback could set the key again behind the release.
       */
      readonly done: readonly Promise<void>[];
    }
  /**
   * Held by someone else. `retryAfter`: when to look again at the latest (the holder's shortest remaining TTL
   * seen, or a primitive's own refresh interval). `split`: this attempt took some nodes but not a quorum
   * (racing contenders split the vote). `mark`: what the primitive needs to date a hand-off (see `claim`).
   */
  | {
      readonly kind: "busy";
      readonly retryAfter: number | undefined;
      readonly outcomes: readonly NodeOutcome[];
      readonly split?: boolean;
      readonly mark?: unknown;
    }
  /** Too few nodes answered, or they answered too late for any validity to remain. */
  | { readonly kind: "unavailable"; readonly outcomes: readonly NodeOutcome[]; readonly detail?: string };

export type Acquired = Extract<AttemptResult, { kind: "acquired" }>;
export type Busy = Extract<AttemptResult, { kind: "busy" }>;

export interface ReleaseOutcome {
  /** Nodes that answered at all. */
  readonly answered: number;
  readonly outcomes: readonly NodeOutcome[];
}

export interface Primitive<K extends PrimitiveKeys = PrimitiveKeys> {
  keys(prefix: string, resource: string): K;
  /**
   * One attempt. With a `place`, a busy attempt also queues the waiter (or keeps its place), and a successful
   * one drops it. Anything short of a lease releases what it took, on every node that may hold it.
   */
  attempt(
    ctx: LockContext,
    keys: K,
    token: string,
    ttl: number,
    signal: Abortable | undefined,
    place: Place | undefined,
  ): Promise<AttemptResult>;
  /**
   * A wake-up addressed to this waiter (`message`, as published, and the node it came from) may say the lock was
   * handed to it: the lease; `pending` when it was handed on fewer nodes than a quorum so far (the driver waits a
   * moment for the other nodes' messages); undefined when there is nothing to take (the next attempt looks).
   * `last` is the waiter's last busy attempt: what the primitive learnt there, and counts since, is in its `mark`.
   */
  claim?(ctx: LockContext, message: WakeUp, ttl: number, last: Busy): Acquired | "pending" | undefined;
  /** The waiter gives up: drop its place, and pass on a lock handed or reserved to it meanwhile. */
  leave(
    ctx: LockContext,
    keys: K,
    token: string,
    place: Place,
    after: readonly Promise<void>[],
  ): Promise<void>;
  extend(ctx: LockContext, keys: K, token: string, ttl: number): Promise<ExtendResult>;
  /**
   * Frees the lease's keys (`after`: per node, what the release must follow; `place`: the waiter's place, if
   * the lease was taken by a call that waited) and wakes the next waiter.
   */
  release(
    ctx: LockContext,
    keys: K,
    token: string,
    after: readonly Promise<void>[] | undefined,
    place: Place | undefined,
  ): Promise<ReleaseOutcome>;
}

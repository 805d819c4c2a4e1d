import { randomBytes } from "node:crypto";
import type { Abortable } from "../signals.js";

/**
 * How a waiter learns that a busy lock may be free. The driver begins a waiter before its first attempt, so a
 * strategy that listens for wake-ups cannot miss one sent between a failed attempt and the wait.
 */
export interface WaitStrategy {
  /** Whether wake-ups addressed to a waiter reach it (pub/sub), or it only looks again from time to time (polling). */
  readonly reachable: boolean;
  /** A new waiter's id (see {@link waiterIds}). */
  newWaiterId(): string;
  /**
   * `channel`: where the primitive announces wake-ups; `id`: the waiter's id, from `newWaiterId`. A wake-up is
   * addressed to one waiter ("<kind>:<id>[:…]"), on its manager's own channel, "<channel>:<tag>": only that
   * manager receives it, only that waiter wakes, and `next` hands it the message.
   */
  begin(channel: string, id: string): Waiter;
  /** Releases what the strategy holds (subscriptions, connections). */
  close(): Promise<void>;
}

/** A message addressed to a waiter, as published, and the node that published it (its index in the manager's). */
export interface WakeUp {
  readonly text: string;
  readonly node: number;
}

export interface Waiter {
  /**
   * Resolves when another attempt is worth making, and never later than `deadline` (monotonic ms).
   * `retryAfter` is when to look again at the latest (e.g. the holder's remaining TTL: the lock is free by then).
   * Rejects with the signal's reason when `signal` aborts. Resolves with the messages addressed to this waiter
   * since the last call, oldest first, when they woke it.
   */
  next(
    retryAfter: number | undefined,
    deadline: number,
    signal: Abortable | undefined,
  ): Promise<readonly WakeUp[] | undefined>;
  /**
   * Whether wake-ups addressed to this waiter reach it already (its channel is subscribed). Until then, `next`
   * resolves as soon as they do, so that an attempt made after it sees anything published before. (A method,
   * not a getter: a getter in the object literal a waiter is made of cost ~1 µs per acquire.)
   */
  listening(): boolean;
  /** The waiter is done (acquired, failed or aborted); it must leave nothing behind. */
  end(): void;
}

/**
 * Waiter ids "<tag>.<n>". The tag is random, one per strategy (so per manager): a release publishes a wake-up on
 * the lock's channel suffixed with the tag of the waiter's id (lua-shared/publish.lua), so only the manager that
 * waits receives it, not every client that waits for the lock. The number tells this manager's waiters apart. An
 * id says nothing about the token; it costs no randomness per call.
 */
export function waiterIds(): { readonly tag: string; next(): string } {
  const tag = randomBytes(6).toString("base64url");
  let n = 0;
  return { tag, next: () => `${tag}.${(n++).toString(36)}` };
}

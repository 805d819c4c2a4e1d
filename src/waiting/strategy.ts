/**
 * How a waiter learns that a busy lock may be free. The driver begins a waiter before its first attempt, so a
 * strategy that listens for wake-ups cannot miss one sent between a failed attempt and the wait.
 */
export interface WaitStrategy {
  /** Whether wake-ups addressed to a waiter reach it (pub/sub), or it only looks again from time to time (polling). */
  readonly reachable: boolean;
  /**
   * `channel`: where the primitive announces wake-ups; `id`: the waiter's id. A wake-up is addressed to one
   * waiter ("<kind>:<id>[:…]"): only that waiter wakes, and `next` hands it the message.
   */
  begin(channel: string, id: string): Waiter;
  /** Releases what the strategy holds (subscriptions, connections). */
  close(): Promise<void>;
}

export interface Waiter {
  /**
   * Resolves when another attempt is worth making, and never later than `deadline` (monotonic ms).
   * `retryAfter` is when to look again at the latest (e.g. the holder's remaining TTL: the lock is free by then).
   * Rejects with the signal's reason when `signal` aborts. Resolves with the message addressed to this waiter,
   * when one woke it.
   */
  next(
    retryAfter: number | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined>;
  /**
   * Whether wake-ups addressed to this waiter reach it already (its channel is subscribed). Until then, `next`
   * resolves as soon as they do, so that an attempt made after it sees anything published before.
   */
  readonly listening: boolean;
  /** The waiter is done (acquired, failed or aborted); it must leave nothing behind. */
  end(): void;
}

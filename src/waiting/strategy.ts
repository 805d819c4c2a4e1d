/**
 * How a waiter learns that a busy lock may be free. The acquire loop calls `begin` before its first attempt,
 * so a strategy that listens for release notices cannot miss one sent between a failed attempt and the wait.
 */
export interface WaitStrategy {
  /**
   * `fairId`: the waiter's id in a fair queue; a hand-off announced for that id wakes it (and no one else)
   * and is handed to it by `next`.
   */
  begin(resource: string, fairId?: string): Waiter;
  /** This process released `resource` (`id` names the release as its published message does). */
  released(resource: string, id: string): void;
  /** Releases what the strategy holds (subscriptions, connections). */
  close(): Promise<void>;
}

export interface Waiter {
  /**
   * Called once before the first attempt of a call that may wait: resolves when it is worth attempting
   * (at once, unless others in this process already wait for the same lock), never later than `deadline`.
   */
  before(deadline: number, signal: AbortSignal | undefined): Promise<void>;
  /**
   * Resolves when another attempt is worth making, and never later than `deadline` (monotonic ms).
   * `retryAfter` is the holder's remaining TTL in ms when known (the lock is free by then at the latest).
   * Rejects with the signal's reason when `signal` aborts. Resolves with the hand-off message when the lock
   * was handed to this (fair) waiter and the strategy heard of it.
   */
  next(
    retryAfter: number | undefined,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined>;
  /** The waiter is done (acquired, failed or aborted); it must leave nothing behind. */
  end(): void;
}

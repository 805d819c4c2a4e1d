import { pause } from "../signals.js";
import { monotonicNow } from "../validity.js";
import { type Waiter, type WaitStrategy, waiterIds } from "./strategy.js";

/**
 * Retries after a randomised delay (interval × 0.5 … 1.5), so contending clients spread out instead of
 * retrying in lockstep. Never sleeps past the holder's remaining TTL or the deadline.
 */
export class PollStrategy implements WaitStrategy {
  readonly reachable = false;
  readonly #ids = waiterIds();

  constructor(private readonly interval: number) {}

  newWaiterId(): string {
    return this.#ids.next();
  }

  begin(): Waiter {
    const interval = this.interval;
    return {
      async next(retryAfter, deadline, signal) {
        const jittered = interval * (0.5 + Math.random());
        const delay = Math.min(jittered, retryAfter ?? jittered, deadline - monotonicNow());
        if (delay > 0) await pause(delay, signal);
        else if (signal?.aborted) throw signal.reason;
        return undefined; // whatever was handed over is found by the next attempt
      },
      listening: () => false,
      end() {},
    };
  }

  async close(): Promise<void> {}
}

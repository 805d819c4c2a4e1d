import type { RedisConnection } from "./clients/connection.js";

/** What every lock operation needs from its manager. */
export interface LockContext {
  readonly nodes: readonly RedisConnection[];
  /** floor(N/2)+1. */
  readonly quorum: number;
  readonly nodeTimeout: number;
  readonly prefix: string;
  readonly fencing: boolean;
  /** Registers background work (cleanups) that `close()` must wait for. */
  track(work: Promise<unknown>): void;
  /** What the nodes' clocks said lately, to date a waiter's arrival before its first attempt (quorum mode). */
  readonly serverClock: ServerClock;
}

/**
 * The nodes' clock (the median of the times a busy attempt's replies carried) minus this process's monotonic
 * clock, in µs, and when that was seen. Only an estimate: a waiter's arrival dated with it is the same on every
 * node (so the nodes' queues agree), and its error (half a round trip, plus clock-rate drift since `at`) only
 * moves the waiter that far in line.
 */
export interface ServerClock {
  offsetUs: number | undefined;
  /** Monotonic ms at which `offsetUs` was measured. */
  at: number;
}

/** How long an offset is used: rate drift between two clocks (up to ~0.05%) stays below 5 µs per 10 ms of this. */
export const SERVER_CLOCK_FRESH_MS = 10_000;

/** The nodes' time now, in µs, when a fresh estimate exists (see {@link ServerClock}). */
export function serverNowUs(clock: ServerClock, now: number): number | undefined {
  if (clock.offsetUs === undefined || now - clock.at > SERVER_CLOCK_FRESH_MS) return undefined;
  return Math.round(now * 1000 + clock.offsetUs);
}

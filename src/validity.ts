// The Redlock arithmetic, kept free of I/O so it can be unit-tested on its own.
import { performance } from "node:perf_hooks";

let clock: () => number = () => performance.now();

/** Monotonic milliseconds. Never `Date.now()`: wall-clock jumps must not stretch or shrink a lease. */
export const monotonicNow = (): number => clock();

/**
 * Test hook (not exported from the package): replaces the client's clock, e.g. with one that runs 20% slow,
 * to show what a clock-rate error outside the drift allowance does. Returns the function that restores it.
 */
export function useClock(replacement: () => number): () => void {
  const previous = clock;
  clock = replacement;
  return () => {
    clock = previous;
  };
}

/** Clock drift allowance for a TTL: 1% of it plus 2 ms (the Redlock paper's figure for Redis expiry precision). */
export function drift(ttl: number): number {
  return ttl * 0.01 + 2;
}

/** How many nodes must agree: a strict majority. */
export function quorumOf(nodes: number): number {
  return Math.floor(nodes / 2) + 1;
}

/**
 * Milliseconds of guaranteed ownership left for an attempt that began at `start` (monotonic) with `ttl`:
 * ttl − elapsed − drift. Zero or less means the attempt must be treated as failed.
 */
export function validityLeft(ttl: number, start: number, now: number): number {
  return ttl - (now - start) - drift(ttl);
}

/** The monotonic instant at which a lease taken at `start` with `ttl` stops being guaranteed. */
export function expiryOf(ttl: number, start: number): number {
  return start + ttl - drift(ttl);
}

/** Clock-rate error allowed between the client and a server over an interval: 1% (as in {@link drift}). */
const RATE_ERROR = 0.01;

/**
 * The earliest monotonic instant (client clock) at which a server event stamped `eventMicros` can have
 * happened, given a request sent at `sentAt` that the server ran at `serverMicros` (its own clock, µs).
 * The request ran after it was sent, and the server's clock may run up to 1% fast. Used for a fair hand-off:
 * the new holder's lease counts from this instant, so it never outlives the key on the server.
 */
export function serverEventStart(sentAt: number, serverMicros: number, eventMicros: number): number {
  const elapsed = (eventMicros - serverMicros) / 1000;
  return sentAt + (elapsed > 0 ? elapsed * (1 - RATE_ERROR) : elapsed);
}

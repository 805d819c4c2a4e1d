import { mutexKeys } from "../mutex/keys.js";
import type { PrimitiveKeys } from "../primitive.js";

/**
 * A semaphore's keys: inside the hash tag of the mutex of the same name (one Redis Cluster slot), sharing only
 * the fencing counter (fences of the name only go up, whichever primitive hands them out) and the wake-up
 * channel (wake-ups are addressed to a waiter id, so sharing it is harmless).
 */
export interface SemaphoreKeys extends PrimitiveKeys {
  /** Holders: a sorted set of token -> expiry (server ms). */
  readonly holders: string;
  /** Permits per holder (a hash), with their sum and the limit while anyone holds. */
  readonly permits: string;
  /** The fencing counter, the mutex's. */
  readonly fence: string;
  /** Waiters in arrival order (a sorted set scored by server µs). */
  readonly waiting: string;
  /** When each waiter's place expires unless refreshed, and the permits it wants (a hash). */
  readonly heartbeats: string;
}

export function semaphoreKeys(prefix: string, resource: string): SemaphoreKeys {
  const mutex = mutexKeys(prefix, resource);
  const base = `${mutex.lock}:semaphore`;
  return {
    holders: base,
    permits: `${base}:permits`,
    fence: mutex.fence,
    channel: mutex.channel,
    waiting: `${base}:waiting`,
    heartbeats: `${base}:heartbeats`,
  };
}

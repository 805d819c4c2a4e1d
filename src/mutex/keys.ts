/**
 * Key names for one resource. The resource sits in a Redis Cluster hash tag, so that every key of one
 * resource lands in one slot and multi-key scripts work on Cluster unchanged.
 */
export interface MutexKeys {
  /** The lock itself: its value is the owner's token. */
  readonly lock: string;
  /** The fencing counter: never expires, only goes up. */
  readonly fence: string;
  /** The pub/sub channel a release is announced on (a channel, not a key). */
  readonly channel: string;
  /** Fair mode: waiter ids in arrival order (a sorted set scored by server time). */
  readonly queue: string;
  /** Fair mode: each queued waiter's expiry, TTL and token (a hash). */
  readonly waiters: string;
}

export function mutexKeys(prefix: string, resource: string): MutexKeys {
  const base = `${prefix}{${resource}}`;
  return {
    lock: base,
    fence: `${base}:fence`,
    channel: `${base}:released`,
    queue: `${base}:queue`,
    waiters: `${base}:waiters`,
  };
}

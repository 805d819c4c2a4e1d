/**
 * Key names for one resource. The resource sits in a Redis Cluster hash tag, so that every key of one
 * resource lands in one slot and multi-key scripts work on Cluster unchanged.
 */
export interface MutexKeys {
  /** The lock itself: its value is the owner's token (or, for a moment, "r:" + the waiter it is kept for). */
  readonly lock: string;
  /** The fencing counter: never expires, only goes up. */
  readonly fence: string;
  /** The pub/sub channel wake-ups are addressed on (a channel, not a key). */
  readonly channel: string;
  /** Waiters in arrival order (a sorted set scored by server time): a release wakes the first alone. */
  readonly waiting: string;
  /** When each waiter's place expires unless refreshed (a hash): a crashed waiter is skipped. */
  readonly heartbeats: string;
  /** Fair mode: waiter ids in arrival order (a sorted set scored by server time). */
  readonly queue: string;
  /** Fair mode: each queued waiter's expiry, TTL and token (a hash). */
  readonly waiters: string;
  /**
   * A read-write lock's readers (a sorted set: token -> expiry, server ms). The write side is this mutex, so
   * the mutex's scripts refuse while it holds a live reader.
   */
  readonly readers: string;
  /** Readers waiting, in arrival order (a sorted set scored by server time): a writer's release wakes them. */
  readonly readWaiting: string;
  /** When each waiting reader's place expires unless refreshed (a hash). */
  readonly readHeartbeats: string;
}

/**
 * Put in front of a resource that begins with "}" (whose hash tag would otherwise be empty, so Redis Cluster
 * would hash each whole key and scatter them over slots), and of one that begins with this character itself, so
 * that no two resources share keys. Every other name keeps the keys it always had.
 */
const ESCAPE = "\u0000";

/** The hash tag's content: the resource, escaped only where its tag would be empty. */
function tagOf(resource: string): string {
  return resource.startsWith("}") || resource.startsWith(ESCAPE) ? ESCAPE + resource : resource;
}

export function mutexKeys(prefix: string, resource: string): MutexKeys {
  const base = `${prefix}{${tagOf(resource)}}`;
  return {
    lock: base,
    fence: `${base}:fence`,
    channel: `${base}:released`,
    waiting: `${base}:waiting`,
    heartbeats: `${base}:heartbeats`,
    queue: `${base}:queue`,
    waiters: `${base}:waiters`,
    readers: `${base}:readers`,
    readWaiting: `${base}:read-waiting`,
    readHeartbeats: `${base}:read-heartbeats`,
  };
}

// "Every call settles by its deadline": the longest each lock call may take, given its options, and a recorder
// of the calls that took longer than that plus a tolerance for a loaded machine.

import type { Lease } from "../../../src/index.js";
import { now } from "../../harness/checker.js";
import { whenAborted } from "../../support/adapters.js";

/** Scheduling slack on a busy 2-core machine (other test files run at the same time). */
export const EPSILON_MS = 500;

export interface CallOptions {
  readonly ttl: number;
  readonly wait: number;
  readonly nodeTimeout: number;
}

/**
 * acquire: its `wait`, then one last attempt: the vote (bounded by the node timeout, capped at the TTL), at most
 * three fence write-back rounds (one retried when nodes were only slow, and the restore's second round), each
 * bounded by the node timeout and all ending within the TTL, and, if it fails, the cleanup (the node timeout).
 */
export function acquireBound(o: CallOptions): number {
  const round = Math.min(o.nodeTimeout, o.ttl);
  return o.wait + round + Math.min(3 * round, o.ttl) + o.nodeTimeout;
}

/** release waits for every node up to the node timeout. */
export function releaseBound(o: Pick<CallOptions, "nodeTimeout">): number {
  return o.nodeTimeout;
}

/** extend: one vote, bounded by the node timeout capped at the TTL. */
export function extendBound(o: Pick<CallOptions, "nodeTimeout" | "ttl">): number {
  return Math.min(o.nodeTimeout, o.ttl);
}

export interface SlowCall {
  readonly op: string;
  readonly ms: number;
  readonly bound: number;
}

/** Runs `fn`, and records it in `slow` if it settled (either way) later than `bound` + EPSILON_MS. */
export async function timed<T>(
  op: string,
  bound: number,
  slow: SlowCall[],
  fn: () => Promise<T>,
): Promise<T> {
  const began = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - began;
    if (ms > bound + EPSILON_MS) slow.push({ op, ms: Math.round(ms), bound });
  }
}

/**
 * When `lease` ends: its signal's reason, the moment it aborted (`performance.now()`), and the end of the hold
 * on the checker's clock.
 */
export function whenLost(lease: Lease): Promise<{ reason: unknown; at: number; end: bigint }> {
  return whenAborted(lease.signal).then((reason) => ({ reason, at: performance.now(), end: now() }));
}

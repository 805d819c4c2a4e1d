// The demo's bookkeeping: a fencing register standing in for the protected resource, the holds seen,
// and the safety checks of the final report. No I/O.

export interface Hold {
  readonly worker: string;
  readonly fence: number;
  readonly waitMs: number;
  readonly start: bigint;
  readonly end: bigint;
}

/** The shared counter: refuses any read or write whose fence is below the highest it has seen. */
export class FencedCounter {
  value = 0;
  writes = 0;
  refused = 0;
  #highest = 0;

  admit(fence: number): boolean {
    if (fence < this.#highest) {
      this.refused++;
      return false;
    }
    this.#highest = fence;
    return true;
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Verdict {
  readonly overlaps: number;
  readonly fenceInversions: number;
  readonly lostUpdates: number;
  readonly safe: boolean;
}

/** Holds ordered by start must not overlap (on the system-wide monotonic clock) and fences must rise. */
export function check(holds: readonly Hold[], counter: FencedCounter): Verdict {
  const ordered = [...holds].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let overlaps = 0;
  let fenceInversions = 0;
  let latestEnd = -1n;
  let lastFence = Number.NEGATIVE_INFINITY;
  for (const hold of ordered) {
    if (hold.start < latestEnd) overlaps++;
    if (hold.end > latestEnd) latestEnd = hold.end;
    if (hold.fence <= lastFence) fenceInversions++;
    lastFence = Math.max(lastFence, hold.fence);
  }
  const lostUpdates = counter.writes - counter.value;
  return {
    overlaps,
    fenceInversions,
    lostUpdates,
    safe: overlaps === 0 && fenceInversions === 0 && lostUpdates === 0,
  };
}

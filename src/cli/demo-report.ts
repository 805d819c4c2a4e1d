// The demo's bookkeeping: a fencing register standing in for the protected resource, the sections seen, and
// the safety checks of the final report. No I/O.

/** One critical section, as a worker reports it. Times are process.hrtime (one monotonic clock per machine). */
export interface Hold {
  readonly worker: string;
  readonly fence: number;
  readonly waitMs: number;
  readonly start: bigint;
  readonly end: bigint;
  /** The lease was still valid when the section ended: only then does the lock promise exclusivity. */
  readonly valid: boolean;
}

/** The shared counter: refuses any read or write whose fence is below the highest it has seen. */
export class FencedCounter {
  value = 0;
  /** Writes accepted: each should have added one to `value`. */
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
  /** Sections that began while another holder's still-valid section was running. */
  readonly overlaps: number;
  /** Sections, in the order they began, whose fence was not above every earlier one. */
  readonly fenceInversions: number;
  /** Writes accepted, minus what the counter shows: updates two holders both made from one value. */
  readonly lostUpdates: number;
  readonly safe: boolean;
}

const byStart = (a: Hold, b: Hold) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);

/** Valid holders must not overlap, fences must rise in the order sections began, and no update may be lost. */
export function check(holds: readonly Hold[], counter: FencedCounter): Verdict {
  let overlaps = 0;
  let fenceInversions = 0;
  let validUntil = -1n;
  let lastFence = Number.NEGATIVE_INFINITY;
  for (const hold of [...holds].sort(byStart)) {
    if (hold.start < validUntil) overlaps++;
    // A lease that ran out mid-section no longer excludes anyone: the fence is what protects the counter then.
    if (hold.valid && hold.end > validUntil) validUntil = hold.end;
    if (hold.fence <= lastFence) fenceInversions++;
    lastFence = Math.max(lastFence, hold.fence);
  }
  // Counted at the counter, not from the sections reported: a worker killed mid-section never reports its own.
  const lostUpdates = counter.writes - counter.value;
  return {
    overlaps,
    fenceInversions,
    lostUpdates,
    safe: overlaps === 0 && fenceInversions === 0 && lostUpdates === 0,
  };
}

export interface Summary {
  readonly holds: readonly Hold[];
  readonly counter: FencedCounter;
  readonly errors: ReadonlyMap<string, number>;
  /** How long the workers ran, in ms. */
  readonly elapsedMs: number;
  readonly killed: { readonly url: string; readonly atMs: number } | undefined;
  /** A node was to be killed (the demo started the nodes, at least 3). */
  readonly killPlanned: boolean;
  /** Why the run ended early or untidily, if it did. */
  readonly trouble: readonly string[];
}

/** The final report's lines, and the verdict they end with. */
export function report(summary: Summary): { lines: string[]; verdict: Verdict } {
  const { holds, counter, errors, elapsedMs, killed, killPlanned } = summary;
  const verdict = check(holds, counter);
  const waits = holds.map((h) => h.waitMs).sort((a, b) => a - b);
  const perWorker = new Map<string, number>();
  for (const h of holds) perWorker.set(h.worker, (perWorker.get(h.worker) ?? 0) + 1);
  const counts = [...perWorker.values()];
  const expired = holds.filter((h) => !h.valid).length;
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const row = (label: string, value: string) => `  ${label.padEnd(24)}${value}`;
  const lines = [
    "Report",
    row(
      "sections done",
      `${holds.length} (${(holds.length / Math.max(elapsedMs / 1000, 0.001)).toFixed(0)}/s)`,
    ),
    row(
      "counter",
      `${counter.value} after ${counter.writes} accepted writes (lost updates: ${verdict.lostUpdates})`,
    ),
    row("overlapping holders", String(verdict.overlaps)),
    row(
      "fence order",
      verdict.fenceInversions === 0 ? "ok (strictly increasing)" : `${verdict.fenceInversions} inversions`,
    ),
    row(
      "rejected stale writes",
      `${counter.refused}${expired ? ` (${expired} sections outlived their lease)` : ""}`,
    ),
    row(
      "wait p50 / p99 / max",
      `${ms(percentile(waits, 50))} / ${ms(percentile(waits, 99))} / ${ms(waits.at(-1) ?? Number.NaN)}`,
    ),
    row("sections per worker", counts.length ? `${Math.min(...counts)} … ${Math.max(...counts)}` : "none"),
    row("errors", errors.size ? [...errors].map(([code, n]) => `${code} × ${n}`).join(", ") : "none"),
    row(
      "node killed",
      killed
        ? `${killed.url} (kill -9 at ${(killed.atMs / 1000).toFixed(1)}s)`
        : killPlanned
          ? "none (the run ended before the kill)"
          : "none (only nodes the demo starts are killed, 3 or more)",
    ),
    ...summary.trouble.map((t) => row("note", t)),
    "",
    verdict.safe
      ? "Safe: no overlap, fences in order, no lost update."
      : "UNSAFE: the lock did not keep its promises (see above).",
  ];
  return { lines, verdict };
}

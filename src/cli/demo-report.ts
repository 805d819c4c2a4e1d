// The demo's report: the sections seen, the shared checker's verdict on them and on the fenced counter (the
// protected resource), and wait times. No I/O.
import { type Hold as CheckedHold, HoldLog, type Verdict, verdict } from "./checker.js";
import { FencedCounter } from "./fenced-counter.js";

export { FencedCounter, type Verdict };

/** One critical section, as a worker reports it. Times are process.hrtime (one monotonic clock per machine). */
export interface Hold extends CheckedHold {
  readonly fence: number;
  readonly waitMs: number;
  /** The lease was still valid when the section ended: only then does the lock promise exclusivity. */
  readonly valid: boolean;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Valid holders must not overlap, fences must rise in the order sections began, and no update may be lost.
 * Lost updates are counted at the counter, not from the sections reported: a worker killed mid-section never
 * reports its own.
 */
export function check(holds: readonly Hold[], counter: FencedCounter): Verdict {
  return verdict(new HoldLog(holds), counter);
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
    ...(verdict.safe ? [] : new HoldLog(holds).violations()),
    verdict.safe
      ? "Safe: no overlap, fences in order, no lost update."
      : "UNSAFE: the lock did not keep its promises (see above).",
  ];
  return { lines, verdict };
}

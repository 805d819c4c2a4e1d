// The safety checker of the demo, the tests and the bench: who believed they held a lock (or permits, or a read
// side), and when; then whether holds overlapped that must not, and whether fences rose; with the protected
// resource (fenced-counter.ts), whether an update was lost. Pure: no Redis, no I/O.
import { AssertionError } from "node:assert";
import { invalidType, invalidValue } from "../errors.js";
import type { LostUpdateCounter } from "./fenced-counter.js";

/**
 * Monotonic nanoseconds. CLOCK_MONOTONIC is system-wide on Linux, so values taken in worker processes
 * on the same machine are comparable with each other and with this process's.
 */
export function now(): bigint {
  return process.hrtime.bigint();
}

/**
 * One period during which `worker` believed it held the lock. To keep the check sound, take `start`
 * after acquire resolved and `end` before release is sent (or when the holder learned the lock was
 * lost): any overlap between such conservative intervals is a real violation.
 */
export interface Hold {
  readonly worker: string;
  readonly fence?: number;
  readonly start: bigint;
  readonly end: bigint;
  /** A shared hold (a read-write lock's reader): it may overlap other shared holds, never an exclusive one. */
  readonly shared?: boolean;
  /** Permits held (a semaphore's), for {@link HoldLog.crowds}; 1 when absent. */
  readonly permits?: number;
  /** When the acquire call began, for {@link HoldLog.fencesAfterAsked}. */
  readonly asked?: bigint;
  /**
   * `false`: the lease had run out by `end`, so from some unknown instant on it excluded no one (its fence is
   * what protects then). Holds that start inside it are not counted as overlaps; its fence still must rise.
   */
  readonly valid?: boolean;
}

/** An instant at which more permits were held than allowed, and the holds that held them. */
export interface Crowd {
  readonly at: bigint;
  readonly permits: number;
  readonly holds: readonly Hold[];
}

export interface Overlap {
  /** The hold that started first. */
  readonly first: Hold;
  readonly second: Hold;
}

export interface FenceViolation {
  /** The earlier hold with the highest fence so far. */
  readonly earlier: Hold;
  /** A later hold whose fence is not strictly greater. */
  readonly later: Hold;
}

const SHOWN_VIOLATIONS = 5;

function byStart(a: Hold, b: Hold): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

function checked(hold: Hold): Hold {
  if (typeof hold.worker !== "string") throw invalidType("hold.worker", "a string", hold.worker);
  if (typeof hold.start !== "bigint" || typeof hold.end !== "bigint") {
    throw invalidType("hold.start and hold.end", "bigints from now()", hold.start);
  }
  if (hold.end < hold.start)
    throw invalidValue("hold.end", `not before its start (${hold.worker})`, hold.end);
  for (const flag of ["shared", "valid"] as const) {
    if (hold[flag] !== undefined && typeof hold[flag] !== "boolean") {
      throw invalidType(`hold.${flag}`, "a boolean", hold[flag]);
    }
  }
  if (hold.permits !== undefined && !(Number.isInteger(hold.permits) && hold.permits > 0)) {
    throw invalidType("hold.permits", "a positive integer", hold.permits);
  }
  if (hold.asked !== undefined && (typeof hold.asked !== "bigint" || hold.asked > hold.start)) {
    throw invalidValue(
      "hold.asked",
      `a bigint from now() no later than the start (${hold.worker})`,
      hold.asked,
    );
  }
  if (hold.fence !== undefined && !Number.isSafeInteger(hold.fence)) {
    throw invalidType("hold.fence", "a safe integer", hold.fence);
  }
  return Object.freeze({ ...hold });
}

export class HoldLog {
  readonly #holds: Hold[] = [];

  constructor(holds: Iterable<Hold> = []) {
    for (const hold of holds) this.record(hold);
  }

  record(hold: Hold): void {
    this.#holds.push(checked(hold));
  }

  get holds(): readonly Hold[] {
    return this.#holds;
  }

  /**
   * Every pair of holds that intersect, with a tolerance of 0: intervals are half-open `[start, end)`,
   * so a hold that starts at the very nanosecond another ends does not overlap it, and anything more does.
   * Two shared holds may overlap, and so may anything that starts inside a hold whose lease had run out.
   */
  overlaps(): Overlap[] {
    const sorted = [...this.#holds].sort(byStart);
    const found: Overlap[] = [];
    for (let i = 0; i < sorted.length; i++) {
      const first = sorted[i]!;
      if (first.valid === false) continue;
      for (let j = i + 1; j < sorted.length && sorted[j]!.start < first.end; j++) {
        const second = sorted[j]!;
        if (first.start < second.end && !(first.shared && second.shared)) found.push({ first, second });
      }
    }
    return found;
  }

  /**
   * Fencing violations: ordered by start, each fenced hold must carry a fence strictly greater than every
   * earlier one. Holds without a fence are skipped. With shared holds in the log (which overlap, so start order
   * says nothing about theirs), each fence must be strictly greater than that of every hold that ended before
   * it started, unless both are shared: a hold's start is taken after its acquire returned, so a reader granted
   * (and fenced) before another may report a later start, and a reader's fence orders it only after writers.
   */
  fencesIncreasing(): FenceViolation[] {
    if (this.#holds.some((h) => h.shared)) return this.#fencesAfterEnded();
    const found: FenceViolation[] = [];
    let highest: (Hold & { fence: number }) | undefined;
    for (const hold of [...this.#holds].sort(byStart)) {
      if (hold.fence === undefined) continue;
      const fenced = hold as Hold & { fence: number };
      if (highest !== undefined && fenced.fence <= highest.fence)
        found.push({ earlier: highest, later: fenced });
      if (highest === undefined || fenced.fence > highest.fence) highest = fenced;
    }
    return found;
  }

  #fencesAfterEnded(): FenceViolation[] {
    type Fenced = Hold & { fence: number };
    const fenced = this.#holds.filter((h): h is Fenced => h.fence !== undefined);
    const byEnd = [...fenced].sort((a, b) => (a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
    const found: FenceViolation[] = [];
    let ended = 0;
    let highest: Fenced | undefined;
    let highestExclusive: Fenced | undefined;
    for (const hold of [...fenced].sort(byStart)) {
      for (; ended < byEnd.length && byEnd[ended]!.end <= hold.start; ended++) {
        const done = byEnd[ended]!;
        if (highest === undefined || done.fence > highest.fence) highest = done;
        if (!done.shared && (highestExclusive === undefined || done.fence > highestExclusive.fence)) {
          highestExclusive = done;
        }
      }
      const bound = hold.shared ? highestExclusive : highest;
      if (bound !== undefined && hold.fence <= bound.fence) found.push({ earlier: bound, later: hold });
    }
    return found;
  }

  /**
   * A semaphore's safety: instants at which the holds together held more than `limit` permits (each hold's
   * `permits`, default 1), one entry per hold whose start crowds. Intervals are half-open, as in `overlaps`.
   */
  crowds(limit: number): Crowd[] {
    const sorted = [...this.#holds].sort(byStart);
    const found: Crowd[] = [];
    for (const hold of sorted) {
      const live = sorted.filter((h) => h.start <= hold.start && h.end > hold.start);
      const permits = live.reduce((n, h) => n + (h.permits ?? 1), 0);
      if (permits > limit) found.push({ at: hold.start, permits, holds: live });
    }
    return found;
  }

  /** The most permits (each hold's `permits`, default 1) held at one instant; intervals are half-open. */
  mostAtOnce(): number {
    const edges = this.#holds.flatMap((h) => [
      { at: h.start, step: h.permits ?? 1 },
      { at: h.end, step: -(h.permits ?? 1) },
    ]);
    // At the same instant an end comes first: a hold that starts as another ends does not add to it.
    edges.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.step - b.step));
    let held = 0;
    let most = 0;
    for (const { step } of edges) {
      held += step;
      most = Math.max(most, held);
    }
    return most;
  }

  /**
   * Fences that did not rise for holders that may overlap (a semaphore's): a hold whose acquire was `asked`
   * after another hold ended must carry a strictly greater fence. (Its start is no good here: a grant made
   * before the other hold began may be noticed late.) Holds without a fence or `asked` are skipped.
   */
  fencesAfterAsked(): FenceViolation[] {
    const fenced = this.#holds.filter((h) => h.fence !== undefined);
    const found: FenceViolation[] = [];
    for (const later of fenced) {
      if (later.asked === undefined) continue;
      for (const earlier of fenced) {
        if (earlier.end <= later.asked && earlier.fence! >= later.fence!) found.push({ earlier, later });
      }
    }
    return found;
  }

  /** Throws an AssertionError when more than `limit` permits were held at once, or fences did not rise. */
  assertWithin(limit: number): void {
    const crowds = this.crowds(limit);
    const fences = this.fencesAfterAsked();
    if (crowds.length === 0 && fences.length === 0) return;
    const { ms, show } = this.#shown();
    const lines = [
      `limit ${limit} violated (${this.#holds.length} holds, times relative to the first start)`,
    ];
    for (const crowd of crowds.slice(0, SHOWN_VIOLATIONS)) {
      lines.push(`  ${crowd.permits} permits at ${ms(crowd.at)}: ${crowd.holds.map(show).join(", ")}`);
    }
    for (const { earlier, later } of fences.slice(0, SHOWN_VIOLATIONS)) {
      lines.push(`  ${show(later)} asked at ${ms(later.asked!)}, no higher fence than ${show(earlier)}`);
    }
    throw new AssertionError({
      message: lines.join("\n"),
      operator: "assertWithin",
      stackStartFn: this.assertWithin,
    });
  }

  /** The first overlaps and fence violations, a line each under a heading; none when the log is safe. */
  violations(): string[] {
    const overlaps = this.overlaps();
    const fences = this.fencesIncreasing();
    if (overlaps.length === 0 && fences.length === 0) return [];
    const { show } = this.#shown();
    const lines = [`lock safety violated (${this.#holds.length} holds, times relative to the first start)`];
    if (overlaps.length > 0) {
      lines.push(`${overlaps.length} overlapping pair(s):`);
      for (const { first, second } of overlaps.slice(0, SHOWN_VIOLATIONS)) {
        lines.push(`  ${show(first)} overlaps ${show(second)}`);
      }
    }
    if (fences.length > 0) {
      lines.push(`${fences.length} fence(s) not increasing:`);
      for (const { earlier, later } of fences.slice(0, SHOWN_VIOLATIONS)) {
        lines.push(`  ${show(later)} comes after ${show(earlier)}`);
      }
    }
    return lines;
  }

  /** Throws an AssertionError naming the first violations, if there are any. */
  assertSafe(): void {
    const lines = this.violations();
    if (lines.length === 0) return;
    throw new AssertionError({
      message: lines.join("\n"),
      operator: "assertSafe",
      stackStartFn: this.assertSafe,
    });
  }

  /** How a violation shows a time (ms after the first start) and a hold. */
  #shown() {
    const origin = this.#holds.reduce((t, h) => (h.start < t ? h.start : t), this.#holds[0]?.start ?? 0n);
    const ms = (t: bigint): string => `${(Number(t - origin) / 1e6).toFixed(3)}ms`;
    const show = (h: Hold): string =>
      `${h.worker}${h.shared ? " (shared)" : ""}${h.permits === undefined ? "" : ` ×${h.permits}`}` +
      `${h.fence === undefined ? "" : ` fence ${h.fence}`}${h.valid === false ? " (expired)" : ""}` +
      ` [${ms(h.start)}, ${ms(h.end)})`;
    return { ms, show };
  }
}

export interface Verdict {
  /** Holds that began while another holder's still-valid, exclusive hold was running. */
  readonly overlaps: number;
  /** Holds, in the order they began, whose fence was not above every earlier one. */
  readonly fenceInversions: number;
  /** Writes accepted, minus what the counter shows: updates two holders both made from one value. */
  readonly lostUpdates: number;
  readonly safe: boolean;
}

/** The counts behind {@link HoldLog.assertSafe}, and the counter's lost updates. */
export function verdict(log: HoldLog, counter: LostUpdateCounter): Verdict {
  const overlaps = new Set(log.overlaps().map((o) => o.second)).size;
  const fenceInversions = new Set(log.fencesIncreasing().map((v) => v.later)).size;
  const lostUpdates = counter.lostUpdates;
  return {
    overlaps,
    fenceInversions,
    lostUpdates,
    safe: overlaps === 0 && fenceInversions === 0 && lostUpdates === 0,
  };
}

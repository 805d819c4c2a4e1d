/**
 * The safety checker: records who believed they held a lock, and when, then checks that no two holds
 * overlapped and that fencing tokens only went up. Pure: no Redis, no I/O.
 */
import { AssertionError } from "node:assert";

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

export class HoldLog {
  readonly #holds: Hold[] = [];

  record(hold: Hold): void {
    if (typeof hold.worker !== "string") throw new TypeError("hold.worker must be a string");
    if (typeof hold.start !== "bigint" || typeof hold.end !== "bigint") {
      throw new TypeError("hold.start and hold.end must be bigints from now()");
    }
    if (hold.end < hold.start) throw new RangeError(`hold of ${hold.worker} ends before it starts`);
    if (hold.shared !== undefined && typeof hold.shared !== "boolean") {
      throw new TypeError("hold.shared must be a boolean");
    }
    if (hold.permits !== undefined && !(Number.isInteger(hold.permits) && hold.permits > 0)) {
      throw new TypeError(`hold.permits must be a positive integer, got ${String(hold.permits)}`);
    }
    if (hold.asked !== undefined && (typeof hold.asked !== "bigint" || hold.asked > hold.start)) {
      throw new RangeError(
        `hold.asked of ${hold.worker} must be a bigint from now() no later than its start`,
      );
    }
    if (hold.fence !== undefined && !Number.isSafeInteger(hold.fence)) {
      throw new TypeError(`hold.fence must be a safe integer, got ${String(hold.fence)}`);
    }
    this.#holds.push(Object.freeze({ ...hold }));
  }

  get holds(): readonly Hold[] {
    return this.#holds;
  }

  /**
   * Every pair of holds that intersect, with a tolerance of 0: intervals are half-open `[start, end)`,
   * so a hold that starts at the very nanosecond another ends does not overlap it, and anything more does.
   */
  overlaps(): Overlap[] {
    const sorted = [...this.#holds].sort(byStart);
    const found: Overlap[] = [];
    for (let i = 0; i < sorted.length; i++) {
      const first = sorted[i]!;
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
    const origin = [...this.#holds].sort(byStart)[0]!.start;
    const ms = (t: bigint): string => `${(Number(t - origin) / 1e6).toFixed(3)}ms`;
    const show = (h: Hold): string =>
      `${h.worker} ×${h.permits ?? 1}${h.fence === undefined ? "" : ` fence ${h.fence}`} [${ms(h.start)}, ${ms(h.end)})`;
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

  /** Throws an AssertionError naming the first violations, if there are any. */
  assertSafe(): void {
    const overlaps = this.overlaps();
    const fences = this.fencesIncreasing();
    if (overlaps.length === 0 && fences.length === 0) return;
    const origin = [...this.#holds].sort(byStart)[0]!.start;
    const show = (hold: Hold): string => {
      const ms = (t: bigint): string => `${(Number(t - origin) / 1e6).toFixed(3)}ms`;
      const fence = hold.fence === undefined ? "" : ` fence ${hold.fence}`;
      return `${hold.worker}${hold.shared ? " (shared)" : ""}${fence} [${ms(hold.start)}, ${ms(hold.end)})`;
    };
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
    throw new AssertionError({
      message: lines.join("\n"),
      operator: "assertSafe",
      stackStartFn: this.assertSafe,
    });
  }
}

export type FencedRead<T> = { readonly ok: true; readonly value: T | undefined } | { readonly ok: false };

/**
 * A storage service that checks fencing tokens, as in Kleppmann's "How to do distributed locking": it
 * remembers the highest fence it has seen and rejects any access with a lower one, so a holder whose
 * lease expired (say, during a pause) cannot clobber the work of the next holder.
 */
export class FencingRegister<T = unknown> {
  #highest: number | undefined;
  #value: T | undefined;
  #accepted = 0;
  #rejections = 0;

  /** Accepts when `fence` ≥ the highest fence seen (the same holder may write again). */
  write(fence: number, value: T): { readonly ok: boolean } {
    if (!this.#admit(fence)) return { ok: false };
    this.#value = value;
    return { ok: true };
  }

  /** Reads are fenced too, so a stale holder cannot base a write on what it read. */
  read(fence: number): FencedRead<T> {
    return this.#admit(fence) ? { ok: true, value: this.#value } : { ok: false };
  }

  /** The last accepted value, unchecked: for the test's final assertions. */
  get value(): T | undefined {
    return this.#value;
  }

  get highestFence(): number | undefined {
    return this.#highest;
  }

  /** Reads and writes accepted. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Reads and writes rejected for carrying a stale fence. */
  get rejections(): number {
    return this.#rejections;
  }

  #admit(fence: number): boolean {
    if (!Number.isSafeInteger(fence))
      throw new TypeError(`fence must be a safe integer, got ${String(fence)}`);
    if (this.#highest !== undefined && fence < this.#highest) {
      this.#rejections++;
      return false;
    }
    this.#highest = fence;
    this.#accepted++;
    return true;
  }
}

/**
 * An unfenced counter incremented by read-modify-write (`write(read() + 1)`) with the lock held. If the
 * lock ever lets two holders in, their increments race and some are lost: `lostUpdates` turns positive.
 */
export class LostUpdateCounter {
  #value = 0;
  #writes = 0;

  read(): number {
    return this.#value;
  }

  write(value: number): void {
    this.#value = value;
    this.#writes++;
  }

  get value(): number {
    return this.#value;
  }

  /** Writes made; with no lost update, equal to `value`. */
  get writes(): number {
    return this.#writes;
  }

  /** Increments lost to races, assuming every write was `read() + 1`. */
  get lostUpdates(): number {
    return this.#writes - this.#value;
  }
}

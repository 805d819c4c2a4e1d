// The protected resource of the demo and the tests: a fencing register that refuses stale fences, and counters
// updated by read-modify-write that show lost updates. Pure: no I/O.
import { invalidType } from "../errors.js";

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
    if (!this.admit(fence)) return { ok: false };
    this.#value = value;
    return { ok: true };
  }

  /** Reads are fenced too, so a stale holder cannot base a write on what it read. */
  read(fence: number): FencedRead<T> {
    return this.admit(fence) ? { ok: true, value: this.#value } : { ok: false };
  }

  /** The fence check of a read or a write, alone: true (and `fence` is the highest now) unless it is stale. */
  admit(fence: number): boolean {
    if (!Number.isSafeInteger(fence)) throw invalidType("fence", "a safe integer", fence);
    if (this.#highest !== undefined && fence < this.#highest) {
      this.#rejections++;
      return false;
    }
    this.#highest = fence;
    this.#accepted++;
    return true;
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
}

/**
 * An unfenced counter incremented by read-modify-write (`write(read() + 1)`) with the lock held. If the
 * lock ever lets two holders in, their increments race and some are lost: `lostUpdates` turns positive.
 */
export class LostUpdateCounter {
  value = 0;
  /** Writes made; with no lost update, equal to `value`. */
  writes = 0;

  read(): number {
    return this.value;
  }

  write(value: number): void {
    this.value = value;
    this.writes++;
  }

  /** Increments lost to races, assuming every write was `read() + 1`. */
  get lostUpdates(): number {
    return this.writes - this.value;
  }
}

/**
 * The demo's counter: read-modify-write behind a fencing register, so a write only lands when its fence passes
 * `admit`. Overlapping holders alone lose nothing here (the older fence is refused); a lost update means two
 * holders were handed the same fence.
 */
export class FencedCounter extends LostUpdateCounter {
  readonly #fences = new FencingRegister<never>();

  admit(fence: number): boolean {
    return this.#fences.admit(fence);
  }

  /** Reads and writes refused for a stale fence. */
  get refused(): number {
    return this.#fences.rejections;
  }
}

// Timers for the hot path. Every vote waits a node timeout and every lease watches its expiry, and almost all of
// them are cancelled long before they fire. A Node.js timer per vote or lease costs more than it seems: each
// distinct duration gets a timer list of its own (a lease's is fractional, so always new), created and torn down
// around every uncontended acquire. Here one Node.js timer serves many deadlines: adding one later than the timer
// already armed, or cancelling one, touches no Node.js timer at all.
/** A pending deadline; pass it to {@link Deadlines.cancel}. */
export interface Deadline {
  /** Instant on the clock of its {@link Deadlines}, in ms. */
  readonly at: number;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
  readonly fire: () => void;
}

/**
 * Deadlines on a monotonic clock (`now`, in ms), in a binary min-heap, behind one Node.js timer armed for the
 * earliest (or earlier: it then finds nothing due and arms again). `keepAlive`: the timer holds the process open
 * while a deadline is pending (a vote in flight), else never (a lease's expiry).
 *
 * `afterIo`: due deadlines fire in the same turn of the event loop, but after its I/O (a setImmediate), not in
 * its timers phase, which comes first. After the loop was blocked (a long synchronous task, a GC pause, a
 * starved CPU), replies that arrived in time are then read before their timeouts fire: a node that answered is
 * not counted as timed out because this process was busy. For node timeouts, a liveness bound: a reply counted
 * a little late costs nothing (validity is measured from the request's start).
 */
export class Deadlines {
  readonly #heap: Deadline[] = [];
  readonly #keepAlive: boolean;
  readonly #now: () => number;
  readonly #afterIo: boolean;
  #timer: NodeJS.Timeout | undefined;
  /** Monotonic instant the timer fires at (Infinity: none armed). */
  #armedAt = Number.POSITIVE_INFINITY;
  #immediate: NodeJS.Immediate | undefined;

  constructor(keepAlive: boolean, now: () => number, afterIo = false) {
    this.#keepAlive = keepAlive;
    this.#now = now;
    this.#afterIo = afterIo;
  }

  /** Calls `fire` once, at `at` or a little after, unless cancelled first. */
  add(at: number, fire: () => void): Deadline {
    const entry: Deadline = { at, index: this.#heap.length, fire };
    this.#heap.push(entry);
    this.#up(entry.index);
    if (this.#heap.length === 1 && this.#keepAlive) this.#timer?.ref();
    if (at < this.#armedAt) this.#arm(at);
    return entry;
  }

  cancel(entry: Deadline | undefined): void {
    if (!entry || entry.index < 0) return;
    const heap = this.#heap;
    const i = entry.index;
    const last = heap.pop()!;
    entry.index = -1;
    if (last !== entry) {
      heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    // The timer stays armed: it fires once for nothing, or for a later deadline, rather than being re-armed
    // around every vote. It no longer holds the process open.
    if (heap.length === 0 && this.#keepAlive) this.#timer?.unref();
  }

  /** Pending deadlines (for tests). */
  get size(): number {
    return this.#heap.length;
  }

  #arm(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedAt = at;
    // Timers run on the event loop's millisecond clock, which may fire a little before `now` reaches `at` (or
    // long before, on a clock a test runs slow): the +1 and the check in #run cover that.
    this.#timer = setTimeout(() => this.#run(), Math.max(0, at - this.#now()) + 1);
    if (!this.#keepAlive) this.#timer.unref();
  }

  #run(): void {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const heap = this.#heap;
    if (this.#afterIo && heap.length > 0 && heap[0]!.at <= this.#now()) {
      // Due: fire after this turn's I/O (the poll phase), which may cancel some. Until then the timer stays
      // unarmed unless an earlier deadline is added; the immediate arms it again for the rest.
      this.#immediate ??= setImmediate(() => {
        this.#immediate = undefined;
        this.#fire();
      });
      return;
    }
    this.#fire();
  }

  #fire(): void {
    const heap = this.#heap;
    const now = this.#now();
    while (heap.length > 0 && heap[0]!.at <= now) {
      const entry = heap[0]!;
      this.cancel(entry);
      entry.fire();
    }
    if (heap.length > 0 && heap[0]!.at < this.#armedAt) this.#arm(heap[0]!.at);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent]!;
      if (above.at <= entry.at) break;
      heap[i] = above;
      above.index = i;
      i = parent;
    }
    heap[i] = entry;
    entry.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.at < heap[child]!.at) child++;
      const below = heap[child]!;
      if (below.at >= entry.at) break;
      heap[i] = below;
      below.index = i;
      i = child;
    }
    heap[i] = entry;
    entry.index = i;
  }
}

// The acquisition driver: what every primitive's acquire shares. It owns the deadline, the abort (translated
// once, here), the split-vote pause, the waiter's place and wake-ups, and leaving nothing behind; the primitive
// owns one attempt (primitive.ts).
import type { LockContext } from "./context.js";
import { LockAbortedError, LockUnavailableError } from "./errors.js";
import type { Acquired, AttemptResult, Busy, Place, Primitive, PrimitiveKeys } from "./primitive.js";
import { type Abortable, pause } from "./signals.js";
import { monotonicNow } from "./validity.js";
import type { WaitStrategy } from "./waiting/strategy.js";

/** The longest pause after a split vote that failed nodes (a node down or reconnecting) kept from a quorum, in ms. */
export const SPLIT_PAUSE_MAX = 100;
/** The longest a waiter that some nodes handed the lock to waits for the rest of a quorum's hand-offs, in ms. */
const HAND_OFF_GATHER_MAX = 50;
/**
 * The least it waits, in ms. With 2 ms, 10 managers contending on five local nodes made an attempt after about 1
 * section in 60 (0.08–0.15 requests per section above the 10 of a hand-off, lock and semaphore) because a node's
 * message came later; with 5 ms, 1 in 300–500 (0.01–0.03), at the same throughput.
 */
const HAND_OFF_GATHER_MIN = 5;

export interface DriveOptions {
  readonly ttl: number;
  /** How long to wait for a busy lock, in ms (0: one attempt). */
  readonly wait: number;
  /** The caller's signal and the manager's close(), as one. */
  readonly signal: Abortable | undefined;
}

/** The lease's makings, or the last busy attempt once `wait` ran out. `place`: the waiter's, if it had one. */
export interface Driven {
  readonly result: Acquired | Busy;
  readonly place: Place | undefined;
}

/**
 * Attempts until one succeeds, the lock turns out to be unreachable (fails fast: waiting does not bring nodes
 * back), the deadline passes (returns the last busy attempt), or the signal aborts (`LockAbortedError`). A call
 * that may wait has a place in the primitive's queue from its first failed attempt on; it leaves the queue
 * (passing on whatever was handed to it) unless it got the lock.
 */
export async function drive<K extends PrimitiveKeys>(
  ctx: LockContext,
  strategy: WaitStrategy,
  primitive: Primitive<K>,
  resource: string,
  keys: K,
  token: string,
  options: DriveOptions,
): Promise<Driven> {
  const { ttl, wait, signal } = options;
  if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
  const deadline = monotonicNow() + wait;
  const place: Place | undefined =
    wait > 0
      ? {
          id: strategy.newWaiterId(),
          attempts: 0,
          reachable: strategy.reachable,
          registered: undefined,
          arrival: undefined,
        }
      : undefined;
  const waiter = place ? strategy.begin(keys.channel, place.id) : undefined;
  let last: AttemptResult | undefined;
  let got: Acquired | undefined;
  /** Split votes in a row that had failed nodes (see the pause below). */
  let failedSplits = 0;
  try {
    for (;;) {
      const tried = monotonicNow();
      last = await primitive.attempt(ctx, keys, token, ttl, signal, place);
      const took = monotonicNow() - tried;
      if (place) place.attempts++;
      if (last.kind === "acquired") {
        if (signal?.aborted) {
          await primitive.release(ctx, keys, token, last.done, place);
          throw signal.reason;
        }
        got = last;
        return { result: last, place };
      }
      if (last.kind === "unavailable") {
        throw new LockUnavailableError(resource, "acquire", ctx.quorum, last.outcomes, last.detail);
      }
      if (!waiter || monotonicNow() >= deadline) return { result: last, place };
      if (last.split) {
        // Contenders that raced in step split the vote, and each one's cleanup wakes the next waiter at once:
        // they would race in step again. A random pause, on the scale of the attempt just made, sets them apart.
        // A vote that failed nodes kept from a quorum is no race: a node that is down or reconnecting fails at
        // once, and the next attempt would fail the same way within milliseconds. The bound of such pauses
        // doubles, up to SPLIT_PAUSE_MAX, so a waiter looks a few dozen times a second at most while a node is
        // away, not hundreds. Pauses are drawn from 0 up to the bound ("full jitter"), so that two contenders kept
        // from a quorum by the same failed node fall out of step (drawn from its upper half, they split again and
        // again: in test/faults/split.test.ts the first holder's wait had a median of 556 ms and up to 2.5 s over
        // 20 rounds; 345 ms and 1.5 s drawn from 0).
        const failed = last.outcomes.some((o) => o.status === "error" || o.status === "timeout");
        failedSplits = failed ? failedSplits + 1 : 0;
        const scale = Math.max(2, took);
        const bound = failed ? Math.min(SPLIT_PAUSE_MAX, scale * 2 ** failedSplits) : scale;
        const split = Math.random() * bound;
        await pause(Math.min(split, deadline - monotonicNow()), signal);
        continue;
      }
      failedSplits = 0;
      // A first attempt that left the waiter unqueued (in quorum mode when its manager had no fresh estimate of
      // the nodes' clocks to date the arrival) is followed at once by one that queues it, if the waiter listens
      // already: until then no release would wake it. (One that does not listen yet gets that attempt from
      // `next`, as soon as it does.)
      if (place!.attempts === 1 && place!.registered === undefined && waiter.listening()) continue;
      let messages = await waiter.next(last.retryAfter, deadline, signal);
      /** Until when to wait for the other nodes' hand-offs once some handed the lock (a quorum's). */
      let gatherUntil: number | undefined;
      while (messages !== undefined && primitive.claim) {
        let pending = false;
        for (const message of messages) {
          const handed = primitive.claim(ctx, message, ttl, last);
          if (handed === "pending") pending = true;
          else if (handed) {
            // On one node the hand-off took the waiter out of the queue: its release has no place to drop. On a
            // quorum, nodes that did not hand it the lock may still have it queued.
            if (ctx.nodes.length === 1) place!.registered = undefined;
            got = handed;
            return { result: handed, place };
          }
        }
        if (!pending) break;
        // The nodes publish their hand-offs as one release reaches each: the rest come about one request's
        // time apart. Without a quorum by then, the next attempt counts the handed nodes as granted.
        gatherUntil ??=
          monotonicNow() + Math.min(HAND_OFF_GATHER_MAX, Math.max(HAND_OFF_GATHER_MIN, 2 * took));
        if (monotonicNow() >= gatherUntil) break;
        messages = await waiter.next(undefined, Math.min(gatherUntil, deadline), signal);
      }
    }
  } catch (reason) {
    if (signal?.aborted) throw new LockAbortedError(resource, signal.reason);
    throw reason;
  } finally {
    waiter?.end();
    if (place?.registered !== undefined && !got) {
      const after = last && last.kind === "acquired" ? last.done : [];
      await primitive.leave(ctx, keys, token, place, after).catch(() => {});
    }
  }
}

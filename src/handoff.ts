// A lock handed straight to a waiter by a release (fair mode's, and the mutex's on one node for a waiter that
// waited long): the release set the waiter's token, bumped the fence for it and published
// "h:<waiter id>:<fence>:<server µs>". The waiter holds from that server instant on, without asking.
import type { LockContext } from "./context.js";
import type { Acquired, Busy } from "./primitive.js";
import { monotonicNow, serverEventStart, validityLeft } from "./validity.js";

/** Where the server's clock stood when a request of the waiter's ran: a busy attempt's `mark`. */
export interface ClockMark {
  /** Monotonic instant the request was sent (the server read its clock after it). */
  readonly sentAt: number;
  readonly serverMicros: number;
}

const settled = [Promise.resolve()];

/** A lease held on the one node of `ctx`, counted from `start`. */
export function oneNodeLease(ctx: LockContext, start: number, fence: number): Acquired {
  return {
    kind: "acquired",
    start,
    fence: ctx.fencing ? fence : undefined,
    outcomes: [{ node: ctx.nodes[0]!.label, status: "ok" }],
    done: settled,
  };
}

/**
 * The lease a hand-off message gives, dated by the clock mark of the waiter's last busy attempt; undefined when
 * the message is no hand-off, or dates the lease too conservatively to use (a stale mark: the next attempt finds
 * the lock held with this waiter's token and dates the lease from the TTL the server says is left).
 */
export function claimHandOff(
  ctx: LockContext,
  message: string,
  ttl: number,
  last: Busy,
): Acquired | undefined {
  const mark = last.mark as ClockMark | undefined;
  const [kind, , fence, at] = message.split(":");
  if (kind !== "h" || !mark) return undefined;
  const start = Math.min(monotonicNow(), serverEventStart(mark.sentAt, mark.serverMicros, Number(at)));
  return validityLeft(ttl, start, monotonicNow()) > 0 ? oneNodeLease(ctx, start, Number(fence)) : undefined;
}

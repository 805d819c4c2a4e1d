// A lock handed straight to a waiter by a release (fair mode's, the semaphore's, and the mutex's for a waiter that
// waited long): the release set the waiter's token, bumped the fence for it and published
// "h:<waiter id>:<fence>:<server µs>". The waiter holds from that server instant on, without asking: on one node
// at once, on a quorum once a quorum of nodes handed it the lock (see claimQuorumHandOff).
import type { LockContext } from "./context.js";
import type { NodeOutcome } from "./errors.js";
import { steadyFence } from "./fencing/agree.js";
import type { Acquired, Busy } from "./primitive.js";
import { monotonicNow, serverEventStart, validityLeft } from "./validity.js";
import type { WakeUp } from "./waiting/strategy.js";

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
  message: WakeUp,
  ttl: number,
  last: Busy,
): Acquired | undefined {
  const mark = last.mark as ClockMark | undefined;
  const [kind, , fence, at] = message.text.split(":");
  if (kind !== "h" || !mark) return undefined;
  const start = Math.min(monotonicNow(), serverEventStart(mark.sentAt, mark.serverMicros, Number(at)));
  return validityLeft(ttl, start, monotonicNow()) > 0 ? oneNodeLease(ctx, start, Number(fence)) : undefined;
}

/** What a refusing node said in a waiter's last busy attempt on a quorum (see {@link QuorumMark}). */
export interface NodeMark {
  /** The node's clock when it refused, µs. */
  readonly serverMicros: number;
  /** Its fencing counter then (every hand-off bumps it: a fence above it was handed after that refusal). */
  readonly counter: number;
  /** The connection's session the refusal came over (a new one may be a restarted server). */
  readonly session: unknown;
}

/**
 * A busy attempt's mark on a quorum, for a waiter that fences: per node, what it said when it refused (undefined
 * for a node that did not refuse: granted and undone, failed, or not asked), and the hand-offs counted since.
 */
export interface QuorumMark {
  /** Monotonic instant the attempt was sent. */
  readonly sentAt: number;
  readonly nodes: readonly (NodeMark | undefined)[];
  /** Nodes that handed this waiter the lock since: their fence and the (local, monotonic) instant they did. */
  readonly handed: Map<number, { readonly fence: number; readonly start: number }>;
}

/**
 * A hand-off on a quorum (mutex/release.lua and semaphore/release.lua with "2"; `ctx.quorum` is the primitive's):
 * each node hands the lock (or permits) to the first waiter(s) of its own queue, and publishes
 * "h:<waiter id>:<fence>:<server µs>". The waiter holds once a quorum of nodes did, with validity counted from the
 * earliest of them, and the highest fence when a quorum handed it that one (else its
 * next attempt, which counts the handed nodes as granted, agrees on a fence as any attempt does).
 *
 * A node's message counts only if the node refused this waiter in its last attempt, over the connection it still
 * has, with a fencing counter below the message's fence. A hand-off is then newer than that refusal, and nothing
 * this waiter sent can have taken it back: every request it sent the node before (a split vote's undo) ran before
 * the refusal, one connection running commands in order, and it sends the node nothing while it waits. An older
 * message (a hand-off that an undo of its own deleted, read late on the subscriber's connection) has a fence at
 * or below the counter the refusal reported, and only makes the driver attempt again. A new connection may lead to
 * a restarted server (that lost what it granted): its messages do not count either.
 */
export function claimQuorumHandOff(
  ctx: LockContext,
  message: WakeUp,
  ttl: number,
  last: Busy,
): Acquired | "pending" | undefined {
  const mark = last.mark as QuorumMark | undefined;
  const node = mark?.nodes[message.node];
  if (!mark || !node || message.text.charCodeAt(0) !== 104) return undefined; // 'h'
  const [, , fenceText, atText] = message.text.split(":");
  const fence = Number(fenceText);
  // (A refusal that saw no counter, 0, counts nothing: the hand-off then started one, which only an attempt's
  // agreement, asking every node, may take as a fence.)
  if (!(node.counter > 0 && fence > node.counter) || node.session === undefined) return undefined;
  if (ctx.nodes[message.node]!.session?.() !== node.session) return undefined;
  const now = monotonicNow();
  mark.handed.set(message.node, {
    fence,
    start: Math.min(now, serverEventStart(mark.sentAt, node.serverMicros, Number(atText))),
  });
  if (mark.handed.size < ctx.quorum) return "pending";
  // The fence as an attempt's agreement takes it without a write-back (fencing/agree.ts); otherwise an attempt.
  // (Every counter the refusals reported existed, and each hand-off counted up from it.)
  const agreed = steadyFence(ctx.quorum, mark.handed.values());
  let start = now;
  for (const h of mark.handed.values()) if (h.start < start) start = h.start;
  if (agreed === undefined || validityLeft(ttl, start, now) <= 0) return undefined;
  const outcomes: NodeOutcome[] = ctx.nodes.map((conn, i) => ({
    node: conn.label,
    status: mark.handed.has(i) ? "ok" : "pending",
  }));
  return {
    kind: "acquired",
    start,
    fence: agreed,
    outcomes,
    done: ctx.nodes.map(() => settled[0]!),
  };
}

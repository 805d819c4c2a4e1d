// What every primitive's attempt does with its vote once the nodes answered: too few answered (unavailable), busy
// (when to look again, and the waiter's arrival), or a lease (the fence agreed, validity left). The primitive owns
// its request, its scripts and its cleanup.
import type { RedisConnection } from "./clients/connection.js";
import { type LockContext, serverNowUs } from "./context.js";
import { agreeOnFence, type FenceKeys, type GrantedFence } from "./fencing/agree.js";
import type { ClockMark, NodeMark, QuorumMark } from "./handoff.js";
import type { AttemptResult, Place } from "./primitive.js";
import type { Verdict, VoteResult } from "./quorum.js";
import type { Abortable } from "./signals.js";
import { monotonicNow, validityLeft } from "./validity.js";

/**
 * One node's reply: granted (its fence), or refused (when to look again, in ms, and its clock in µs; for a waiter
 * on a quorum that may be handed the lock, its fencing counter and the connection's session: handoff.ts).
 */
export interface NodeReply extends GrantedFence {
  readonly retryAfter: number;
  readonly now: number;
  readonly counter?: number;
  readonly session?: unknown;
}

export type Failure = Exclude<AttemptResult, { kind: "acquired" }>;

/**
 * How long a waiter's place lasts without a refresh. A waiting call attempts at least once a second (a wake-up, or
 * the re-check in case one was lost), and refreshes its place at most every third of this: a crashed waiter is
 * skipped within this time, and the whole queue goes with its last place.
 */
export const PLACE_MS = 3_000;

/**
 * What one attempt does with the waiter's place: carry it (`queued`), only where it is refused (`first`: the
 * call's first attempt, so the uncontended path writes nothing to the queue and a contended call needs no second
 * attempt just to queue), and (re)register it (`register`: once it is a third of its lifetime old).
 */
export interface Queueing {
  readonly queued: boolean;
  readonly first: boolean;
  readonly register: boolean;
}

const UNQUEUED: Queueing = { queued: false, first: false, register: false };

/**
 * Whether an attempt's refusals must say where each node's fencing counter stands (the acquire scripts' optional
 * last argument, "1"): a queued waiter on a quorum that fences may be handed the lock or its permits node by node,
 * and counts only hand-offs made after its refusal there (handoff.ts).
 */
export function countsHandOffs(ctx: LockContext, q: Queueing): boolean {
  return q.queued && ctx.fencing && ctx.nodes.length > 1;
}

/**
 * A busy node's verdict: when to look again (ms) and its clock (µs); with `counted`, its fencing counter (0: none)
 * and the session of the connection the reply came over, read as it arrives (before any reconnect).
 */
export function refusal(
  conn: RedisConnection,
  counted: boolean,
  retryAfter: number,
  now: number,
  counter: unknown,
): Verdict<NodeReply> {
  return {
    status: "refused",
    value: {
      fence: 0,
      retryAfter,
      existed: true,
      now,
      counter: counted && counter !== undefined ? Number(counter) : undefined,
      session: counted ? conn.session?.() : undefined,
    },
  };
}

/**
 * The waiter's place as an acquire script takes it, in one argument (lua-shared/place.lua): "" when the attempt
 * carries none, else "<first 0|1>:<lifetime ms>:<arrival µs, or empty>:<waiter id>". One argument rather than
 * four: each argument of a script call costs time on the client and on the server, and the uncontended path reads
 * none of these.
 */
export function placeArg(place: Place | undefined, q: Queueing): string {
  if (!q.queued) return "";
  return `${q.first ? "1" : "0"}:${q.register ? PLACE_MS : 0}:${place!.arrival ?? ""}:${place!.id}`;
}

/**
 * Decides {@link Queueing} for an attempt that begins at `start`; `canQueue`: the primitive queues this waiter
 * (the mutex does not queue pollers: a lock kept for one would wait for its next look). In quorum mode the arrival
 * the nodes queue a waiter at must be the same on each: dated from what the nodes' clocks said lately
 * (ctx.serverClock); with no fresh estimate, the first attempt goes without a place and the nodes' replies date it.
 */
export function queueing(
  ctx: LockContext,
  place: Place | undefined,
  canQueue: boolean,
  start: number,
): Queueing {
  if (!place || !canQueue) return UNQUEUED;
  if (place.attempts === 0 && ctx.nodes.length > 1) place.arrival ??= serverNowUs(ctx.serverClock, start);
  const queued = place.attempts > 0 || ctx.nodes.length === 1 || place.arrival !== undefined;
  const first = queued && place.attempts === 0;
  const register = queued && (place.registered === undefined || start - place.registered > PLACE_MS / 3);
  if (register) place.registered = start;
  return { queued, first, register };
}

export interface Settling {
  /** Where the lease is held, for the fence agreement. */
  readonly holder: FenceKeys;
  readonly token: string;
  readonly ttl: number;
  /** Monotonic instant the attempt began. */
  readonly start: number;
  readonly signal: Abortable | undefined;
  readonly place: Place | undefined;
  /**
   * A node that grants this attempt keeps no place for the waiter: a first attempt queues only where it is
   * refused (see {@link Queueing}), and a primitive's script may drop the place with the grant.
   */
  readonly grantsKeepNoPlace: boolean;
  /** Undoes the attempt wherever it may hold (the primitive's cleanup), then gives `outcome` back. */
  failed(outcome: Failure): Promise<AttemptResult>;
  /** Stops waiting for nodes still answering, once the lease is made. */
  abandon(): void;
}

export async function settleAttempt(
  ctx: LockContext,
  round: VoteResult<NodeReply>,
  s: Settling,
): Promise<AttemptResult> {
  const { outcomes } = round;
  // Every node granted: the waiter has a place nowhere, nothing to drop when the lease ends (and an attempt that
  // still fails queues it again).
  if (s.grantsKeepNoPlace && s.place && outcomes.every((o) => o.status === "ok"))
    s.place.registered = undefined;
  if (!round.granted) {
    const errors = outcomes.filter((o) => o.status === "error" || o.status === "timeout").length;
    if (errors > ctx.nodes.length - ctx.quorum) return s.failed({ kind: "unavailable", outcomes });
    // When to look again: the shortest wait a refusing node gave. And the nodes' clock (the median of their
    // replies), which dates the waiter's arrival: the same on every node it queues on, so that their queues agree
    // on who is first whatever each node's latency to it. Kept, against the local clock at the middle of the
    // request, so later waiters can date their arrival before asking. (Plain loops: this runs at every busy
    // attempt.)
    let retryAfter: number | undefined;
    const times: number[] = [];
    let marks: (NodeMark | undefined)[] | undefined;
    for (let i = 0; i < round.verdicts.length; i++) {
      const v = round.verdicts[i];
      if (v?.status !== "refused") continue;
      const { retryAfter: wait, now, counter } = v.value;
      if (wait > 0 && (retryAfter === undefined || wait < retryAfter)) retryAfter = wait;
      if (now > 0) times.push(now);
      if (counter !== undefined && now > 0) {
        marks ??= new Array(ctx.nodes.length).fill(undefined);
        marks[i] = { serverMicros: now, counter, session: v.value.session };
      }
    }
    if (times.length > 0) {
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)]!;
      const now = monotonicNow();
      ctx.serverClock.offsetUs = median - ((s.start + now) / 2) * 1000;
      ctx.serverClock.at = now;
      if (s.place && s.place.arrival === undefined) s.place.arrival = median;
    }
    return s.failed({
      kind: "busy",
      retryAfter,
      outcomes,
      split: outcomes.some((o) => o.status === "ok"),
      // Dates a lock a release hands to this waiter later (handoff.ts): on one node by the node's clock, on a
      // quorum by each refusing node's clock and fencing counter.
      mark:
        ctx.nodes.length === 1 && times.length === 1
          ? ({ sentAt: s.start, serverMicros: times[0]! } satisfies ClockMark)
          : marks
            ? ({ sentAt: s.start, nodes: marks, handed: new Map() } satisfies QuorumMark)
            : undefined,
    });
  }

  const tooLate = () =>
    s.failed({
      kind: "unavailable",
      outcomes,
      detail: `${ctx.quorum} node${ctx.quorum === 1 ? "" : "s"} granted after ${Math.round(monotonicNow() - s.start)} ms, leaving no validity of the ${s.ttl} ms TTL`,
    });

  let fence: number | undefined;
  if (ctx.fencing) {
    const granted: NodeReply[] = [];
    for (const v of round.verdicts) if (v?.status === "ok") granted.push(v.value);
    let agreed = agreeOnFence(ctx, s.holder, s.token, s.ttl, s.start, granted, s.signal);
    // No await when the fence needs no write-back (the usual case): an await costs a turn of the microtask queue.
    if (typeof agreed === "object") agreed = await agreed;
    if (agreed === "late") return tooLate();
    if (agreed === "unwritten") {
      return s.failed({
        kind: "unavailable",
        outcomes,
        detail: `the fence could not be written to ${ctx.quorum} nodes that still hold the lease`,
      });
    }
    fence = agreed;
  }

  if (validityLeft(s.ttl, s.start, monotonicNow()) <= 0) return tooLate();
  // Stop waiting for the stragglers: their NOSCRIPT→EVAL fallback is off from now on, so the release need not
  // wait for their replies to be sure nothing it sends is overtaken (one connection applies commands in order).
  s.abandon();
  return { kind: "acquired", start: s.start, fence, outcomes, done: round.done };
}

/**
 * Undoes an attempt wherever it may hold, each undo queued behind that node's acquire (`undo(nodes)`). Nodes
 * that took it are waited for (bounded by the node timeout), and with `pending` those still answering too, so a
 * caller who sees the attempt fail finds no key of its own on a node that answers; failed and timed-out nodes get
 * the delete in the background. A busy attempt's vote was decided once every node answered or timed out (the
 * acquire votes' `refusalWaitsForAll`; a node that left its previous request unanswered is not waited for, so a
 * frozen node stalls one attempt, not every one), so it has no nodes still answering: it undoes where it was
 * granted and where it failed. The waiter keeps its place.
 */
export async function undoAttempt(
  ctx: LockContext,
  round: VoteResult<unknown>,
  pending: boolean,
  undo: (nodes: readonly number[]) => Promise<unknown>,
): Promise<void> {
  const wait: number[] = [];
  const background: number[] = [];
  round.outcomes.forEach((o, i) => {
    if (o.status === "ok" || (pending && o.status === "pending")) wait.push(i);
    else if (o.status !== "refused") background.push(i);
  });
  if (background.length > 0) ctx.track(undo(background));
  if (wait.length > 0) await undo(wait);
}

// The one place where requests fan out to the nodes and votes are counted. A single node is a quorum of one:
// there is no second code path.
import type { RedisConnection } from "./clients/connection.js";
import { type Deadline, Deadlines } from "./deadlines.js";
import type { NodeOutcome } from "./errors.js";
import { emit } from "./events.js";
import type { Abortable } from "./signals.js";

export type Verdict<T> = { readonly status: "ok" | "refused"; readonly value: T };

export interface VoteOptions {
  /** Successes needed for the vote to pass. */
  readonly quorum: number;
  /** Per-node timeout in ms. */
  readonly timeout: number;
  /** Wait for every node (up to its timeout) instead of settling as soon as the outcome is known. */
  readonly waitForAll?: boolean;
  /** Aborting rejects the vote at once with the signal's reason; requests still in flight are abandoned. */
  readonly signal?: Abortable | undefined;
  /** What is being voted on, for `quorumlock:node-error` events. */
  readonly about?: { readonly operation: string; readonly key: string };
  /**
   * Once every other node answered and the outcome is still open, time out at once the nodes that did not answer
   * their previous request in time either (see {@link lagging}). For acquire attempts, which a caller retries:
   * with one node frozen, a split of the others would otherwise cost the whole node timeout at every attempt.
   */
  readonly skipLagging?: boolean;
  /**
   * A refusal is decided only once every node answered (or timed out, or was skipped as lagging); a grant still
   * decides at once. For acquire attempts: a refused attempt then knows which nodes granted it and undoes it
   * there alone, where it would otherwise send an undo to every node still answering (two of five, nearly
   * always refusing too). A refused attempt's waiter waits anyway, so this costs it no time.
   */
  readonly refusalWaitsForAll?: boolean;
  /**
   * A refusal counts toward the quorum as a success does. For releases: a node that answers "not held here" has
   * nothing of the lease left, which is all a release asks of it. (Counted as failures, two such answers out of
   * five decided a semaphore's release, whose quorum is four, as failed while every node was answering.)
   */
  readonly refusalsAnswer?: boolean;
}

/**
 * Connections whose latest request timed out, until they answer anything again (a late reply counts): a frozen
 * or stopped node. Deciding a vote without them is safe (a node that is not waited for counts as failed), and
 * an attempt that skipped one undoes its command there, queued behind it, as after any timeout.
 */
const lagging = new WeakSet<RedisConnection>();

export interface VoteResult<T> {
  readonly granted: boolean;
  /** Per-node outcomes when the vote was decided (nodes still in flight are `pending`). */
  readonly outcomes: readonly NodeOutcome[];
  /** Per-node verdict values, for the nodes that answered `ok` or `refused` before the decision. */
  readonly verdicts: readonly (Verdict<T> | undefined)[];
  /**
   * Per node: settles once that node's request has answered or been abandoned. Commands chained after it
   * reach the node after the request did (one connection applies commands in order).
   */
  readonly done: readonly Promise<void>[];
}

/** Abandons every request still in flight (used when the caller gives up on a decided vote). */
export type Abandon = () => void;

/**
 * Set once the vote stops waiting for a request (timeout, abort, `abandon`). A plain flag rather than an
 * AbortSignal: one is made per node per request, on the hot path, and only the NOSCRIPT fallback reads it.
 */
export interface Abandoned {
  readonly aborted: boolean;
}

/**
 * The node timeouts of every vote in this process, behind one Node.js timer. On the event loop's own clock, as
 * a setTimeout would be: a node timeout is no validity, and a test that moves the client's clock leaves it alone.
 * Fired after the event loop's I/O: a reply that arrived while this process was blocked counts.
 */
const timeouts = new Deadlines(true, () => performance.now(), true);

/**
 * Sends `request` to every node in parallel (with its index in `nodes`) and counts the verdicts. Each request
 * gets a flag that is set when the caller stops waiting for it (timeout, abort, or the vote decided without it and `abandon` called).
 * `done` is the result's `done`, also there when the vote rejected (aborted), so a cleanup can follow it.
 */
export function vote<T>(
  nodes: readonly RedisConnection[],
  request: (conn: RedisConnection, abandoned: Abandoned, index: number) => Promise<Verdict<T>>,
  options: VoteOptions,
): { result: Promise<VoteResult<T>>; abandon: Abandon; done: readonly Promise<void>[] } {
  const round = new Round<T>(nodes, options);
  const result = new Promise<VoteResult<T>>((resolve, reject) => {
    round.resolve = resolve;
    round.reject = reject;
  });
  round.start(request);
  return { result, abandon: () => round.abandon(), done: round.done };
}

/** One vote in progress: a class rather than closures, as it runs twice for every lock taken and freed. */
class Round<T> {
  readonly nodes: readonly RedisConnection[];
  readonly options: VoteOptions;
  readonly outcomes: NodeOutcome[];
  readonly verdicts: (Verdict<T> | undefined)[];
  /** Per node: the flag its request reads (see {@link Abandoned}). */
  readonly flags: { aborted: boolean }[];
  /** Per node: whether the vote stopped waiting for it (answered, timed out or abandoned). */
  readonly over: boolean[];
  readonly settle: (() => void)[];
  readonly done: Promise<void>[];
  open: number;
  ok = 0;
  notOk = 0;
  decided = false;
  unlisten: (() => void) | undefined = undefined;
  deadline: Deadline | undefined = undefined;
  resolve!: (r: VoteResult<T>) => void;
  reject!: (e: unknown) => void;

  constructor(nodes: readonly RedisConnection[], options: VoteOptions) {
    const n = nodes.length;
    this.nodes = nodes;
    this.options = options;
    this.open = n;
    this.outcomes = new Array(n);
    this.verdicts = new Array(n);
    this.flags = new Array(n);
    this.over = new Array(n);
    this.settle = new Array(n);
    this.done = new Array(n);
    for (let i = 0; i < n; i++) {
      this.outcomes[i] = { node: nodes[i]!.label, status: "pending" };
      this.verdicts[i] = undefined;
      this.flags[i] = { aborted: false };
      this.over[i] = false;
      this.done[i] = new Promise<void>((resolve) => {
        this.settle[i] = resolve;
      });
    }
  }

  start(request: (conn: RedisConnection, abandoned: Abandoned, index: number) => Promise<Verdict<T>>): void {
    // One deadline for the whole vote, not one per node: every node's request starts now with the same timeout.
    this.deadline = timeouts.add(performance.now() + this.options.timeout, () => this.expire());
    for (let i = 0; i < this.nodes.length; i++) {
      const conn = this.nodes[i]!;
      request(conn, this.flags[i]!, i).then(
        (verdict) => {
          lagging.delete(conn);
          this.finish(i, { node: conn.label, status: verdict.status }, verdict);
        },
        (error: unknown) => {
          lagging.delete(conn);
          this.finish(i, { node: conn.label, status: "error", error: asError(error) }, undefined);
        },
      );
    }
    const signal = this.options.signal;
    if (signal?.aborted) this.onAbort();
    else if (signal) this.unlisten = signal.onAbort(() => this.onAbort());
  }

  expire(): void {
    this.deadline = undefined;
    for (let i = 0; i < this.nodes.length; i++) {
      if (!this.over[i]) this.timeOut(i, `did not answer within ${this.options.timeout} ms`);
    }
  }

  timeOut(i: number, why: string): void {
    const conn = this.nodes[i]!;
    this.flags[i]!.aborted = true;
    lagging.add(conn);
    this.finish(
      i,
      { node: conn.label, status: "timeout", error: new Error(`${conn.label} ${why}`) },
      undefined,
    );
  }

  /** With `skipLagging`: once only lagging nodes are left to answer, stop waiting for them. */
  skipLagging(): void {
    const n = this.nodes.length;
    for (let i = 0; i < n; i++) if (!this.over[i] && !lagging.has(this.nodes[i]!)) return;
    for (let i = 0; i < n; i++) {
      if (!this.over[i])
        this.timeOut(i, "was not waited for: it left its previous request unanswered until that timed out");
    }
  }

  stop(i: number): boolean {
    if (this.over[i]) return false;
    this.over[i] = true;
    this.settle[i]!();
    if (--this.open === 0) {
      timeouts.cancel(this.deadline);
      this.deadline = undefined;
    }
    return true;
  }

  abandon(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      this.flags[i]!.aborted = true;
      this.stop(i);
    }
  }

  maybeDecide(): void {
    if (this.decided) return;
    const { quorum, waitForAll } = this.options;
    const n = this.nodes.length;
    const pending = n - this.ok - this.notOk;
    const known = this.ok >= quorum || this.notOk > n - quorum;
    const waitsForAll = waitForAll || (this.options.refusalWaitsForAll && this.ok < quorum);
    if (pending === 0 || (known && !waitsForAll)) {
      this.decided = true;
      this.unlisten?.();
      this.resolve({
        granted: this.ok >= quorum,
        outcomes: this.outcomes.slice(),
        verdicts: this.verdicts.slice(),
        done: this.done,
      });
    }
  }

  onAbort(): void {
    if (this.decided) return;
    this.decided = true;
    this.abandon();
    this.reject(this.options.signal?.reason);
  }

  finish(i: number, outcome: NodeOutcome, verdict: Verdict<T> | undefined): void {
    if (!this.stop(i)) return; // a late answer from a node the vote stopped waiting for
    // A node that fails after the vote was decided is still worth reporting.
    const about = this.options.about;
    if (outcome.error && about) emit.nodeError({ node: outcome.node, ...about, error: outcome.error });
    if (this.decided) return;
    this.outcomes[i] = outcome;
    this.verdicts[i] = verdict;
    if (outcome.status === "ok" || (outcome.status === "refused" && this.options.refusalsAnswer)) this.ok++;
    else this.notOk++;
    this.maybeDecide();
    if (!this.decided && this.options.skipLagging && outcome.status !== "timeout") this.skipLagging();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

// The one place where requests fan out to the nodes and votes are counted. A single node is a quorum of one:
// there is no second code path.
import type { RedisConnection } from "./clients/connection.js";
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
 * Sends `request` to every node in parallel and counts the verdicts. Each request gets a signal that aborts
 * when the caller stops waiting for it (timeout, abort, or the vote decided without it and `abandon` called).
 * `done` is the result's `done`, also there when the vote rejected (aborted), so a cleanup can follow it.
 */
export function vote<T>(
  nodes: readonly RedisConnection[],
  request: (conn: RedisConnection, abandoned: Abandoned) => Promise<Verdict<T>>,
  options: VoteOptions,
): { result: Promise<VoteResult<T>>; abandon: Abandon; done: readonly Promise<void>[] } {
  const n = nodes.length;
  const outcomes: NodeOutcome[] = nodes.map((c) => ({ node: c.label, status: "pending" }));
  const verdicts: (Verdict<T> | undefined)[] = new Array(n).fill(undefined);
  const flags = nodes.map(() => ({ aborted: false }));
  /** Per node: whether the vote stopped waiting for it (answered, timed out or abandoned). */
  const over: boolean[] = new Array(n).fill(false);
  const settle: (() => void)[] = new Array(n);
  const done = nodes.map((_, i) => new Promise<void>((resolve) => (settle[i] = resolve)));
  let open = n;
  let ok = 0;
  let notOk = 0;
  let decided = false;
  let unlisten: (() => void) | undefined;
  let resolveResult!: (r: VoteResult<T>) => void;
  let rejectResult!: (e: unknown) => void;
  const result = new Promise<VoteResult<T>>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  const timeOut = (i: number, why: string) => {
    flags[i]!.aborted = true;
    lagging.add(nodes[i]!);
    finish(
      i,
      { node: nodes[i]!.label, status: "timeout", error: new Error(`${nodes[i]!.label} ${why}`) },
      undefined,
    );
  };
  // One timer for the whole vote, not one per node: every node's request starts now and has the same timeout.
  const timer = setTimeout(() => {
    for (let i = 0; i < n; i++) if (!over[i]) timeOut(i, `did not answer within ${options.timeout} ms`);
  }, options.timeout);
  /** With `skipLagging`: once only lagging nodes are left to answer, stop waiting for them. */
  const skipLagging = () => {
    for (let i = 0; i < n; i++) if (!over[i] && !lagging.has(nodes[i]!)) return;
    for (let i = 0; i < n; i++) {
      if (!over[i])
        timeOut(i, "was not waited for: it left its previous request unanswered until that timed out");
    }
  };
  const stop = (i: number): boolean => {
    if (over[i]) return false;
    over[i] = true;
    settle[i]!();
    if (--open === 0) clearTimeout(timer);
    return true;
  };
  const abandon = () => {
    for (let i = 0; i < n; i++) {
      flags[i]!.aborted = true;
      stop(i);
    }
  };
  const snapshot = (): VoteResult<T> => ({
    granted: ok >= options.quorum,
    outcomes: outcomes.slice(),
    verdicts: verdicts.slice(),
    done,
  });
  const maybeDecide = () => {
    if (decided) return;
    const pending = n - ok - notOk;
    const known = ok >= options.quorum || notOk > n - options.quorum;
    if (pending === 0 || (known && !options.waitForAll)) {
      decided = true;
      unlisten?.();
      resolveResult(snapshot());
    }
  };
  const onAbort = () => {
    if (decided) return;
    decided = true;
    abandon();
    rejectResult(options.signal?.reason);
  };
  function finish(i: number, outcome: NodeOutcome, verdict: Verdict<T> | undefined): void {
    if (!stop(i)) return; // a late answer from a node the vote stopped waiting for
    // A node that fails after the vote was decided is still worth reporting.
    if (outcome.error && options.about)
      emit.nodeError({ node: outcome.node, ...options.about, error: outcome.error });
    if (decided) return;
    outcomes[i] = outcome;
    verdicts[i] = verdict;
    if (outcome.status === "ok") ok++;
    else notOk++;
    maybeDecide();
    if (!decided && options.skipLagging && outcome.status !== "timeout") skipLagging();
  }
  for (let i = 0; i < n; i++) {
    const conn = nodes[i]!;
    request(conn, flags[i]!).then(
      (verdict) => {
        lagging.delete(conn);
        finish(i, { node: conn.label, status: verdict.status }, verdict);
      },
      (error: unknown) => {
        lagging.delete(conn);
        finish(i, { node: conn.label, status: "error", error: asError(error) }, undefined);
      },
    );
  }

  if (options.signal?.aborted) onAbort();
  else unlisten = options.signal?.onAbort(onAbort);
  return { result, abandon, done };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

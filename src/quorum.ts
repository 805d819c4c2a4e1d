// The one place where requests fan out to the nodes and votes are counted. A single node is a quorum of one:
// there is no second code path.
import type { RedisConnection } from "./clients/connection.js";
import type { NodeOutcome } from "./errors.js";

export type Verdict<T> = { readonly status: "ok" | "refused"; readonly value: T };

export interface VoteOptions {
  /** Successes needed for the vote to pass. */
  readonly quorum: number;
  /** Per-node timeout in ms. */
  readonly timeout: number;
  /** Wait for every node (up to its timeout) instead of settling as soon as the outcome is known. */
  readonly waitForAll?: boolean;
  /** Aborting rejects the vote at once with the signal's reason; requests still in flight are abandoned. */
  readonly signal?: AbortSignal | undefined;
}

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
 * Sends `request` to every node in parallel and counts the verdicts. Each request gets a signal that aborts
 * when the caller stops waiting for it (timeout, abort, or the vote decided without it and `abandon` called).
 */
export function vote<T>(
  nodes: readonly RedisConnection[],
  request: (conn: RedisConnection, abandoned: AbortSignal) => Promise<Verdict<T>>,
  options: VoteOptions,
): { result: Promise<VoteResult<T>>; abandon: Abandon } {
  const n = nodes.length;
  const outcomes: NodeOutcome[] = nodes.map((c) => ({ node: c.label, status: "pending" }));
  const verdicts: (Verdict<T> | undefined)[] = new Array(n).fill(undefined);
  const controllers = nodes.map(() => new AbortController());
  let ok = 0;
  let notOk = 0;
  let decided = false;
  let resolveResult!: (r: VoteResult<T>) => void;
  let rejectResult!: (e: unknown) => void;
  const result = new Promise<VoteResult<T>>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  const abandon = () => {
    for (const c of controllers) c.abort();
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
      options.signal?.removeEventListener("abort", onAbort);
      resolveResult(snapshot());
    }
  };
  const onAbort = () => {
    if (decided) return;
    decided = true;
    abandon();
    rejectResult(options.signal?.reason);
  };

  const done = nodes.map(async (conn, i) => {
    const abandoned = controllers[i]!.signal;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), options.timeout);
      abandoned.addEventListener("abort", () => resolve("timeout"), { once: true });
    });
    try {
      const settled = await Promise.race([request(conn, abandoned), timedOut]);
      if (decided) return;
      if (settled === "timeout") {
        controllers[i]!.abort();
        outcomes[i] = {
          node: conn.label,
          status: "timeout",
          error: new Error(`${conn.label} did not answer within ${options.timeout} ms`),
        };
        notOk++;
      } else {
        verdicts[i] = settled;
        outcomes[i] = { node: conn.label, status: settled.status };
        if (settled.status === "ok") ok++;
        else notOk++;
      }
    } catch (error) {
      if (decided) return;
      outcomes[i] = { node: conn.label, status: "error", error: asError(error) };
      notOk++;
    } finally {
      clearTimeout(timer);
      maybeDecide();
    }
  });

  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return { result, abandon };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

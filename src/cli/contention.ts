// The contention loop of the demo, the bench and the tests' contender processes: `workers` async loops take a
// lease, hold it for a while, release, pause outside, until a deadline. What to take, what to do while holding
// and what to record are the caller's; the loop only keeps the time. It runs in the bench's hot path beside peer
// libraries, so it adds no await and no allocation per section to what the caller's functions do.
import { setTimeout as sleep } from "node:timers/promises";
import { type Hold, now } from "./checker.js";

/** One loop's parts; `worker` is the loop's index, 0 to workers − 1. */
export interface Contender<L> {
  /** Takes the lease (a lock, permits, a read or write side), resolving once it is held. */
  take(worker: number): Promise<L>;
  /** The critical section: holds the lease for a while, or works with it. */
  hold(lease: L, worker: number): Promise<unknown>;
  release(lease: L): Promise<unknown>;
  /**
   * A section done, before its release is sent: `asked` when `take` was called, `start` when it resolved, `end`
   * when `hold` did (system-wide monotonic ns, see {@link now}).
   */
  held(lease: L, worker: number, asked: bigint, start: bigint, end: bigint): void;
  /** `take`, `hold` or `release` threw; the loop goes on. */
  failed(error: unknown, worker: number): void;
}

export interface ContendOptions {
  readonly workers: number;
  /** When the loops stop taking, on the {@link now} clock (a section under way still ends). */
  readonly until: bigint;
  /** Pause after each section (or failure), in ms, as work done outside the lock; default 0: none. */
  readonly outsideMs?: number;
}

/** Runs the loops until `until`, resolving once every loop has let go. */
export async function contend<L>(contender: Contender<L>, options: ContendOptions): Promise<void> {
  const { workers, until, outsideMs = 0 } = options;
  const loop = async (worker: number) => {
    while (now() < until) {
      const asked = now();
      try {
        const lease = await contender.take(worker);
        const start = now();
        await contender.hold(lease, worker);
        contender.held(lease, worker, asked, start, now());
        await contender.release(lease);
      } catch (error) {
        contender.failed(error, worker);
      }
      if (outsideMs > 0) await sleep(outsideMs);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
}

/** How a failure is counted: by its code, else by what it says. */
export const codeOf = (error: unknown): string => (error as { code?: string } | null)?.code ?? String(error);

/** `until` for a run of `ms` milliseconds from now. */
export const deadline = (ms: number): bigint => now() + BigInt(Math.round(ms * 1e6));

/** A hold as a worker process sends it over IPC (JSON has no bigints). */
export type HoldMessage = { readonly type: "hold" } & Omit<Hold, "start" | "end" | "asked"> & {
    readonly start: string;
    readonly end: string;
    readonly asked?: string;
  };

export const isHoldMessage = (m: unknown): m is HoldMessage => (m as HoldMessage | null)?.type === "hold";

export function holdMessage(hold: Hold): HoldMessage {
  const { start, end, asked, ...rest } = hold;
  return {
    type: "hold",
    ...rest,
    start: String(start),
    end: String(end),
    ...(asked === undefined ? {} : { asked: String(asked) }),
  };
}

/** The hold a {@link HoldMessage} carries, for the checker's HoldLog. */
export function fromMessage(m: HoldMessage): Hold {
  const { type: _, start, end, asked, ...rest } = m;
  return {
    ...rest,
    start: BigInt(start),
    end: BigInt(end),
    ...(asked === undefined ? {} : { asked: BigInt(asked) }),
  };
}

// The contention rows' loops, shared by the in-process rows and the worker processes of the split rows: the shared
// contention driver (src/cli/contention.ts, also the demo's and the tests') runs one loop a library, each taking
// the lock, holding it HOLD_MS, releasing and spending OUTSIDE_MS outside, until `until`. Worker w locks through
// `libs[w]`: the same library for every worker (one shared manager/client) or one each (independent clients).
// Times are on the system-wide monotonic clock (process.hrtime), so holds from several processes line up.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { contend as run } from "../src/cli/contention.js";
import type { Library } from "./libraries.js";

// Every library here talks through ioredis (the peers take our clients; quorumlock opens its own), so
// counting at ioredis's sendCommand counts each request a library sends, subscriber connections included.
// INFO commandstats on the server also counts the calls a script makes inside.
let requests = 0;
const sendCommand = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<Redis["sendCommand"]>) {
  requests++;
  return sendCommand.apply(this, args);
};

export const HOLD_MS = 1;
export const OUTSIDE_MS = 1;

export interface Hold {
  readonly worker: number;
  readonly start: number;
  readonly end: number;
  readonly waited: number;
}

/** Monotonic milliseconds, the same clock in every process of this machine. */
export const systemNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Requests sent through ioredis in this process so far. */
export const requestsSent = (): number => requests;

/** `workers` libraries: one shared by all, or one each (as `workers` independent service instances). */
export function makeLibraries(make: () => Library, workers: number, independent: boolean): Library[] {
  if (independent) return Array.from({ length: workers }, () => make());
  const lib = make();
  return Array.from({ length: workers }, () => lib);
}

/** Closes each distinct library once. */
export async function closeLibraries(libs: readonly Library[]): Promise<void> {
  await Promise.all([...new Set(libs)].map((lib) => lib.close()));
}

/** Takes and releases a lock once through each distinct library, so that connections and scripts are ready. */
export async function warmUp(libs: readonly Library[], key: string): Promise<void> {
  for (const lib of new Set(libs)) await lib.acquire(key).then((release) => release());
}

/**
 * How long the workers of a contended row contend on a key of their own before the row is measured: the first time
 * a library contends in a shape (its id and node count) in this process, and every later time.
 */
const FIRST_WARM_UP_MS = 3_000;
const CONTENDED_WARM_UP_MS = 300;
const warmedUp = new Set<string>();

/**
 * {@link warmUp}, then the workers contend on `key` (for FIRST_WARM_UP_MS the first time in `shape`, then for
 * CONTENDED_WARM_UP_MS): the waiting code paths get compiled before the row is measured, as in a service that has
 * been running a while. With 0.3 s alone, quorumlock (first in every row) paid for the compiler in its CPU column:
 * measured in one process (10 managers, one node), alternating 3 s rounds with an older build of itself (each
 * build warming up apart), its CPU per section was 481 µs in its first round, 221 in its second, then 170–240;
 * the bench's row had shown 324–418.
 */
export async function warmUpContended(libs: readonly Library[], key: string, shape: string): Promise<void> {
  await warmUp(libs, key);
  const ms = warmedUp.has(shape) ? CONTENDED_WARM_UP_MS : FIRST_WARM_UP_MS;
  warmedUp.add(shape);
  await contend(libs, `${key}:contended`, systemNow() + ms);
}

export async function contend(
  libs: readonly Library[],
  key: string,
  until: number,
  firstWorker = 0,
): Promise<{ holds: Hold[]; errors: number; requests: number }> {
  const holds: Hold[] = [];
  let errors = 0;
  const sentBefore = requests;
  // Plain functions that hand back the library's own promises: no await or allocation beyond the library's.
  await run(
    {
      take: (w) => libs[w]!.acquire(key),
      hold: () => sleep(HOLD_MS),
      release: (release) => release(),
      held: (_, w, asked, start, end) => {
        const begun = Number(start) / 1e6;
        holds.push({
          worker: firstWorker + w,
          start: begun,
          end: Number(end) / 1e6,
          waited: begun - Number(asked) / 1e6,
        });
      },
      failed: () => {
        errors++;
      },
    },
    { workers: libs.length, until: BigInt(Math.round(until * 1e6)), outsideMs: OUTSIDE_MS },
  );
  return { holds, errors, requests: requests - sentBefore };
}

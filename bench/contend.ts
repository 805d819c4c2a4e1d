// The contention loop, shared by the in-process rows and the worker processes of row (e): `workers` async
// loops take the lock, hold it HOLD_MS, release, spend OUTSIDE_MS outside, until `until`. Times are on the
// system-wide monotonic clock (process.hrtime), so holds from several processes line up.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
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

export async function contend(
  lib: Library,
  key: string,
  workers: number,
  until: number,
  firstWorker = 0,
): Promise<{ holds: Hold[]; errors: number; requests: number }> {
  const holds: Hold[] = [];
  let errors = 0;
  const sentBefore = requests;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (systemNow() < until) {
        const asked = systemNow();
        try {
          const release = await lib.acquire(key);
          const start = systemNow();
          await sleep(HOLD_MS);
          const end = systemNow();
          holds.push({ worker: firstWorker + w, start, end, waited: start - asked });
          await release();
        } catch {
          errors++;
        }
        await sleep(OUTSIDE_MS);
      }
    }),
  );
  return { holds, errors, requests: requests - sentBefore };
}

// Fair mode, per client adapter: waiters queue in Redis in arrival order and a release hands the lock
// straight to the longest-waiting one. Holders use long TTLs, so a waiter that gets the lock promptly got it
// by a hand-off, not by an expiry.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { PLACE_MS } from "../../src/fair/index.js";
import type { Lease, LockManager } from "../../src/index.js";
import { spawnWorker } from "../harness/workers.js";
import { type Adapter, inspect } from "../support/adapters.js";
import { fresh as freshName } from "../support/names.js";
import { suiteNodes } from "../support/suite.js";
import { MEDIUM as T } from "../support/timeouts.js";

const fresh = (what: string) => freshName(`fair:${what}`);
const queuedWaiter = new URL("../fixtures/fair-waiter.ts", import.meta.url).pathname;

/** The fair queue's keys for a resource, as a node holds them: queue members and waiter entries. */
async function queueOf(url: string, resource: string): Promise<{ queue: string[]; waiters: string[] }> {
  return inspect([url], async ([node]) => ({
    queue: await node!.zrange(`quorumlock:{${resource}}:queue`, 0, -1),
    waiters: await node!.hkeys(`quorumlock:{${resource}}:waiters`),
  }));
}

/** Resolves once `count` waiters are queued for `resource` (their first attempt went through). */
async function queued(url: string, resource: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await queueOf(url, resource)).queue.length >= count) return;
    await sleep(10);
  }
  throw new Error(`${count} waiters never queued for ${resource}`);
}

export function fairSuite(adapter: Adapter): void {
  describe(`fair mode over ${adapter.name}`, () => {
    const env = suiteNodes(adapter, 1, { ttl: 30_000, fair: true });
    const manager = env.manager;

    it("hands the lock to waiters in arrival order, across managers, fences rising", T, async () => {
      const managers = [await manager(), await manager(), await manager()];
      const resource = fresh("order");
      const first = await managers[0]!.acquire(resource);
      const order: number[] = [];
      const fences: number[] = [first.fence!];
      const waiting: Promise<void>[] = [];
      for (let i = 0; i < 6; i++) {
        // Alternate managers, so that arrival order is not simply one process's order.
        const locks = managers[i % managers.length]!;
        waiting.push(
          locks.acquire(resource, { wait: 10_000 }).then(async (lease) => {
            order.push(i);
            fences.push(lease.fence!);
            await sleep(5);
            await lease.release();
          }),
        );
        await queued(env.urls[0]!, resource, i + 1);
      }
      await first.release();
      await Promise.all(waiting);
      assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
      for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!, `fences ${fences}`);
      assert.deepEqual(await queueOf(env.urls[0]!, resource), { queue: [], waiters: [] });
    });

    it("a hand-off costs the release script alone: the new holder sends nothing more", T, async () => {
      const holder = await manager();
      const waiter = await manager();
      const resource = fresh("direct");
      let calls = 0;
      for (let round = 0; round < 10; round++) {
        const held = await holder.acquire(resource);
        const waiting = waiter.acquire(resource, { wait: 10_000 });
        await queued(env.urls[0]!, resource, 1);
        await sleep(20); // the waiter's second attempt (after its subscription) has gone through
        await inspect(env.urls, ([node]) => node!.config("RESETSTAT"));
        const released = performance.now();
        await held.release();
        const lease = await waiting;
        const handoff = performance.now() - released;
        calls += await inspect(env.urls, async ([node]) => {
          const stats = (await node!.info("commandstats")).match(/cmdstat_evalsha:calls=(\d+)/);
          return Number(stats?.[1] ?? 0);
        });
        assert.ok(handoff < 200, `hand-off took ${handoff.toFixed(1)} ms`);
        assert.ok(lease.valid);
        // Counted from no later than the hand-off: at most the TTL, less the drift allowance.
        assert.ok(lease.remainingMs <= 30_000 - 300 - 2, `remaining ${lease.remainingMs}`);
        assert.ok(lease.remainingMs > 29_000, `remaining ${lease.remainingMs}`);
        await lease.release();
      }
      // One EVALSHA (the release) per round; a waiter's slow refresh (every 500 ms) may add one now and then.
      assert.ok(calls <= 12, `${calls} script calls in 10 hand-offs (an attempt after each would be 20)`);
    });

    it("tryAcquire does not jump the queue when the lock is free but someone waits", T, async () => {
      const plain = await manager({ fair: false });
      const locks = await manager();
      const other = await manager();
      const resource = fresh("try");
      const held = await plain.acquire(resource);
      const waiting = locks.acquire(resource, { wait: 10_000 });
      await queued(env.urls[0]!, resource, 1);
      // A non-fair release hands nothing on: the lock is free, with a waiter queued.
      await held.release();
      assert.equal(await other.tryAcquire(resource), null);
      const lease = await waiting;
      assert.ok(lease.valid);
      await lease.release();
    });

    it("a waiter that vanished is skipped: its place expires and the queue moves on", T, async () => {
      const locks = await manager();
      const resource = fresh("vanished");
      const held = await locks.acquire(resource);
      const child = spawnWorker(queuedWaiter, [], { NODE: env.urls[0]!, RESOURCE: resource });
      try {
        await child.waitFor((m) => m === "waiting", 15_000);
        await queued(env.urls[0]!, resource, 1);
        await child.kill();
        const behind = locks.acquire(resource, { wait: 10_000 });
        await queued(env.urls[0]!, resource, 2);
        await sleep(PLACE_MS + 200); // the killed waiter's place is stale now; the live one keeps refreshing
        const released = performance.now();
        await held.release();
        const lease = await behind;
        const waited = performance.now() - released;
        assert.ok(waited < 300, `the live waiter got the lock ${waited.toFixed(0)} ms after the release`);
        assert.deepEqual(await queueOf(env.urls[0]!, resource), { queue: [], waiters: [] });
        await lease.release();
      } finally {
        await child.kill();
      }
    });

    it("an aborted or timed-out waiter leaves its place, and nothing else, behind", T, async () => {
      const locks = await manager();
      const resource = fresh("leave");
      const held = await locks.acquire(resource);
      const controller = new AbortController();
      const aborted = locks.acquire(resource, { wait: 10_000, signal: controller.signal });
      const timedOut = locks.acquire(resource, { wait: 300 });
      await queued(env.urls[0]!, resource, 2);
      controller.abort();
      await assert.rejects(aborted, { name: "AbortError" });
      await assert.rejects(timedOut, { code: "ERR_LOCK_TIMEOUT" });
      assert.deepEqual(await queueOf(env.urls[0]!, resource), { queue: [], waiters: [] });
      await held.release();
      const keys = await inspect(env.urls, ([node]) => node!.keys(`quorumlock:{${resource}}*`));
      assert.deepEqual(keys, [`quorumlock:{${resource}}:fence`]);
    });

    it("a waiter that gives up as the lock reaches it passes the lock on at once", T, async () => {
      const holderSide = await manager();
      const quitterSide = await manager();
      const nextSide = await manager();
      for (let round = 0; round < 12; round++) {
        const resource = fresh("race");
        const held = await holderSide.acquire(resource);
        const controller = new AbortController();
        const quitter = quitterSide.acquire(resource, { wait: 10_000, signal: controller.signal }).then(
          (lease: Lease) => lease,
          () => undefined,
        );
        await queued(env.urls[0]!, resource, 1);
        const next = nextSide.acquire(resource, { wait: 10_000 });
        await queued(env.urls[0]!, resource, 2);
        // Release and abort together, the abort a little earlier or later each round.
        const released = held.release();
        await sleep(round % 4);
        controller.abort();
        await released;
        const quit = await quitter;
        if (quit) await quit.release(); // it won the race: fine, as long as it lets go
        const started = performance.now();
        const lease = await next;
        assert.ok(performance.now() - started < 500, `round ${round}: the next waiter was held up`);
        await lease.release();
        assert.deepEqual(await queueOf(env.urls[0]!, resource), { queue: [], waiters: [] });
      }
    });

    it("also hands over in order with polling instead of pub/sub", T, async () => {
      const locks: LockManager[] = [
        await manager({ wakeup: "poll", pollInterval: 20 }),
        await manager({ wakeup: "poll", pollInterval: 20 }),
      ];
      const resource = fresh("poll");
      const first = await locks[0]!.acquire(resource);
      const order: number[] = [];
      const waiting: Promise<void>[] = [];
      for (let i = 0; i < 4; i++) {
        waiting.push(
          locks[i % 2]!.acquire(resource, { wait: 10_000 }).then(async (lease) => {
            order.push(i);
            await lease.release();
          }),
        );
        await queued(env.urls[0]!, resource, i + 1);
      }
      await first.release();
      await Promise.all(waiting);
      assert.deepEqual(order, [0, 1, 2, 3]);
    });

    it("per call: fair and non-fair callers of one resource both get through", T, async () => {
      const locks = await manager({ fair: false });
      const resource = fresh("mixed");
      const held = await locks.acquire(resource);
      const fences: number[] = [];
      const holdBriefly = async (lease: Lease) => {
        fences.push(lease.fence!);
        await sleep(5);
        await lease.release();
      };
      const fair = locks.acquire(resource, { wait: 10_000, fair: true }).then(holdBriefly);
      await queued(env.urls[0]!, resource, 1);
      const plain = locks.acquire(resource, { wait: 10_000 }).then(holdBriefly);
      await held.release();
      await Promise.all([fair, plain]);
      assert.equal(fences.length, 2);
      assert.ok(fences.every((fence) => fence > held.fence!));
    });
  });
}

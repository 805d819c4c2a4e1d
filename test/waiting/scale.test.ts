import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { LockManager } from "../../src/index.js";
import { LINGER_MS } from "../../src/waiting/pubsub.js";
import { type RedisNode, startRedis } from "../harness/redis-node.js";
import { inspect } from "../support/adapters.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

for (const { fair, waiters: count, resources: spread } of [
  { fair: false, waiters: 10_000, resources: 100 },
  // Each fair waiter refreshes its place twice a second: 2,000 of them keep one Redis busy enough.
  { fair: true, waiters: 2_000, resources: 20 },
]) {
  describe(`${count.toLocaleString("en")} concurrent ${fair ? "fair " : ""}waiters over ${spread} resources`, () => {
    let node: RedisNode;
    before(async () => {
      node = await startRedis();
    });
    after(() => node?.stop());

    it("all get the lock, and memory, timers, subscriptions and abort listeners return to baseline", {
      timeout: 90_000,
    }, async () => {
      const holders = new LockManager({ nodes: [node.url], nodeTimeout: 5_000 });
      // Thousands of calls started in one tick keep the event loop busy for a while: allow for it.
      const locks = new LockManager({ nodes: [node.url], ttl: 10_000, nodeTimeout: 5_000, fair });
      try {
        const resources = Array.from({ length: spread }, (_, i) => `scale:${fair}:${i}`);
        const userSignal = new AbortController().signal;
        const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

        async function round(): Promise<number> {
          const held = await Promise.all(resources.map((r) => holders.acquire(r)));
          let sections = 0;
          const waiters = Array.from({ length: count }, async (_, i) => {
            // Half pass a signal of their own, half share one: both must leave no listener behind.
            const signal = i % 2 ? userSignal : new AbortController().signal;
            const lease = await locks.acquire(resources[i % spread]!, { wait: 60_000, signal });
            sections++;
            await lease.release();
          });
          // Settled as soon as they exist: whatever fails first is what the test reports.
          const settled = Promise.allSettled(waiters);
          await sleep(200); // everyone is waiting
          await Promise.all(held.map((lease) => lease.release()));
          const failed = (await settled).find((r) => r.status === "rejected");
          if (failed) throw failed.reason; // the first real failure, not what closing the manager does to the rest
          // Weakly held bookkeeping needs more than one collection to go.
          for (let i = 0; i < 3; i++) {
            await sleep(50);
            gc();
          }
          return sections;
        }

        // The first round grows what only grows once (driver queues, V8's own structures); a leak grows on.
        assert.equal(await round(), count);
        const baseline = { heap: process.memoryUsage().heapUsed, timers: timers() };
        assert.equal(await round(), count);
        const growth = process.memoryUsage().heapUsed - baseline.heap;
        assert.ok(
          growth < 4 * 1024 * 1024,
          `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MiB in the second round`,
        );
        assert.ok(timers() <= baseline.timers, `timers: ${baseline.timers} before, ${timers()} after`);
        assert.equal(
          getEventListeners(userSignal, "abort").length,
          0,
          "no abort listener left on the caller's signal",
        );
        await sleep(LINGER_MS + 200); // a channel stays subscribed for a moment after its last waiter left
        const channels = await inspect([node.url], ([n]) => n!.pubsub("CHANNELS", "quorumlock:*"));
        assert.deepEqual(channels, [], "no channel still subscribed");
        const left = await inspect([node.url], ([n]) => n!.keys("quorumlock:*"));
        assert.deepEqual(
          left.filter((key) => !key.endsWith(":fence")),
          [],
          "no lock, queue or waiter entry left",
        );
      } finally {
        await locks.close();
        await holders.close();
      }
    });
  });
}

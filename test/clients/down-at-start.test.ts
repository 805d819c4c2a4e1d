// A node that is down when the manager first connects must fail fast, as one that went down later does. Its
// commands used to wait in ioredis' offline queue for the next reconnect attempt (up to a second of backoff),
// so every vote that needed that node to decide (a split, a busy lock) waited the whole node timeout while it
// held the nodes it had taken: a fixture process that started while a minority was down stalled everyone.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { LockManager } from "../../src/index.js";
import { inspect, valuesOn } from "../support/adapters.js";
import { keysOf } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";

const NODE_TIMEOUT = 600;

describe("nodes down when the manager starts", () => {
  const env = useNodes(5);

  for (const how of ["from URLs", "injected ioredis clients"] as const) {
    it(`${how}: a vote that needs them to decide does not wait for them`, T, async () => {
      const { nodes } = env;
      const urls = env.urls();
      await Promise.all([nodes[3]!.kill(), nodes[4]!.kill()]);
      const injected = how === "from URLs" ? [] : urls.map((url) => new Redis(url, { lazyConnect: false }));
      for (const client of injected) client.on("error", () => {});
      const locks = new LockManager({
        nodes: how === "from URLs" ? urls : injected,
        nodeTimeout: NODE_TIMEOUT,
        ttl: 5_000,
      });
      try {
        // Long enough for the reconnect backoff to the dead nodes to pass the node timeout.
        await sleep(1_500);
        const resource = fresh("down-at-start");
        // Held elsewhere on one live node: two live nodes grant, one refuses, so only the dead ones could decide.
        await inspect(urls.slice(0, 1), ([n]) => n!.set(keysOf(resource).lock, "foreign", "PX", 10_000));
        for (let i = 0; i < 3; i++) {
          const started = performance.now();
          assert.equal(await locks.tryAcquire(resource), null);
          const took = performance.now() - started;
          assert.ok(
            took < NODE_TIMEOUT / 2,
            `tryAcquire took ${took.toFixed(0)} ms (node timeout ${NODE_TIMEOUT})`,
          );
        }
        // Once the nodes are up, the manager uses them.
        await Promise.all([nodes[3]!.restart(), nodes[4]!.restart()]);
        await inspect(urls.slice(0, 1), ([n]) => n!.del(keysOf(resource).lock));
        for (let tries = 0; ; tries++) {
          const lease = await locks.tryAcquire(resource);
          assert.ok(lease, "the lock is free");
          // The vote settles on the first three: the other two may apply the lock a moment later.
          let held = await valuesOn(urls, keysOf(resource).lock);
          for (let look = 0; look < 20 && !held.every((v) => v === lease.token); look++) {
            await sleep(25);
            held = await valuesOn(urls, keysOf(resource).lock);
          }
          await lease.release();
          if (held.every((v) => v === lease.token)) break;
          assert.ok(tries < 50, `the restarted nodes vote again (${held.map((v) => v === lease.token)})`);
          await sleep(100);
        }
      } finally {
        await locks.close();
        for (const client of injected) client.disconnect();
        await Promise.all([nodes[3]!.restart(), nodes[4]!.restart()]).catch(() => {});
      }
    });
  }
});

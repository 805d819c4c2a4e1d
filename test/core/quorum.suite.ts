// Quorum behaviour on 5 nodes, run per client adapter: which failures still give a lock, which must not,
// and how fast the answer comes. (Every subset of busy nodes is tried in test/faults/network.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockUnavailableError } from "../../src/index.js";
import { type Adapter, inspect, valuesOn } from "../support/adapters.js";
import { keysOf } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { suiteNodes } from "../support/suite.js";
import { MEDIUM as T } from "../support/timeouts.js";

export function quorumSuite(adapter: Adapter): void {
  describe(`quorum of 5 over ${adapter.name}`, () => {
    const env = suiteNodes(adapter, 5, { nodeTimeout: 200 });
    const manager = env.manager;

    it("needs 3 of 5", T, async () => {
      assert.equal((await manager()).quorum, 3);
    });

    it(
      "busy is not down: a lock held on a majority times out with ERR_LOCK_TIMEOUT, never ERR_LOCK_UNAVAILABLE",
      T,
      async () => {
        const locks = await manager();
        const resource = fresh("busy");
        await inspect(env.urls, (all) =>
          Promise.all(all.slice(0, 3).map((n) => n.set(keysOf(resource).lock, "foreign", "PX", 10_000))),
        );
        assert.equal(await locks.tryAcquire(resource), null);
        await assert.rejects(locks.acquire(resource, { wait: 300 }), { code: "ERR_LOCK_TIMEOUT" });
      },
    );

    it("works with 2 of 5 nodes dead, and fails fast with ERR_LOCK_UNAVAILABLE with 3 dead", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const resource = fresh("dead");
      await env.nodes[3]!.kill();
      await env.nodes[4]!.kill();
      try {
        const lease = await locks.acquire(resource);
        assert.ok(lease.valid);
        await lease.extend();
        await lease.release();
        await env.nodes[2]!.kill();
        const started = performance.now();
        await assert.rejects(locks.acquire(resource, { wait: 5_000 }), (error: LockUnavailableError) => {
          assert.ok(error instanceof LockUnavailableError);
          assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
          assert.equal(error.nodes.length, 5);
          // The dead nodes fail at once, so the live ones may not have answered when the vote was lost.
          for (const n of error.nodes.slice(0, 2))
            assert.ok(n.status === "ok" || n.status === "pending", n.status);
          for (const n of error.nodes.slice(2)) {
            assert.ok(n.status === "error" || n.status === "timeout", `${n.node}: ${n.status}`);
            assert.ok(n.error instanceof Error);
          }
          return true;
        });
        const took = performance.now() - started;
        assert.ok(took < 200 + 300, `failed after ${took} ms; the wait was 5 s, the node timeout 200 ms`);
        await assert.rejects(
          locks.tryAcquire(resource),
          { code: "ERR_LOCK_UNAVAILABLE" },
          "down is not busy",
        );
        const values = await valuesOn(env.urls.slice(0, 2), keysOf(resource).lock);
        assert.deepEqual(values, [null, null], "the failed attempt released the two nodes it got");
      } finally {
        await Promise.all([env.nodes[2]!.restart(), env.nodes[3]!.restart(), env.nodes[4]!.restart()]);
      }
      await sleep(300); // let the clients reconnect
      const lease = await locks.acquire(resource, { wait: 5_000 });
      await lease.release();
    });

    it("fails within its deadline with 3 of 5 nodes frozen, and cleans up once they thaw", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const resource = fresh("frozen");
      for (const i of [0, 1, 2]) env.nodes[i]!.pause();
      try {
        const started = performance.now();
        await assert.rejects(locks.acquire(resource, { wait: 5_000 }), (error: LockUnavailableError) => {
          assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
          assert.deepEqual(
            error.nodes.map((n) => n.status),
            ["timeout", "timeout", "timeout", "ok", "ok"],
          );
          return true;
        });
        const took = performance.now() - started;
        assert.ok(took < 200 + 300, `failed after ${took} ms with a 200 ms node timeout`);
      } finally {
        for (const i of [0, 1, 2]) env.nodes[i]!.resume();
      }
      // The thawed nodes apply the queued acquire and then the queued release: no key of ours remains.
      await sleep(300);
      assert.deepEqual(await valuesOn(env.urls, keysOf(resource).lock), [null, null, null, null, null]);
    });

    it(
      "hands out a fence above the last holder's even when node counters diverge (write-back round)",
      T,
      async () => {
        const locks = await manager({ ttl: 5_000 });
        const resource = fresh("diverge");
        const { fence } = keysOf(resource);
        // Node 0's counter runs far ahead of the others (e.g. it alone saw many acquisitions).
        const ahead = (await locks.tryAcquire(resource))!;
        await ahead.release();
        const high = ahead.fence! + 1_000_000_000;
        await inspect(env.urls, (all) => all[0]!.set(fence, String(high)));
        // Nodes 3 and 4 are busy, so the granting majority must be {0, 1, 2}: node 0's counter is in the fence.
        const { lock } = keysOf(resource);
        await inspect(env.urls, (all) =>
          Promise.all([all[3]!.set(lock, "foreign"), all[4]!.set(lock, "foreign")]),
        );
        const first = await locks.acquire(resource);
        assert.equal(first.fence, high + 1);
        await first.release();
        await inspect(env.urls, (all) => Promise.all([all[3]!.del(lock), all[4]!.del(lock)]));
        // Without node 0, nodes 1-4 hold counters far below unless the write-back raised nodes 1 and 2.
        await env.nodes[0]!.kill();
        try {
          const second = await locks.acquire(resource);
          assert.ok(second.fence! > first.fence!, `${second.fence} must exceed ${first.fence}`);
          await second.release();
        } finally {
          await env.nodes[0]!.restart();
        }
      },
    );

    it("fences keep going up after every node restarted without its data", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const resource = fresh("restart");
      const before = await locks.acquire(resource);
      await before.release();
      await Promise.all(env.nodes.map((n) => n.restart()));
      await sleep(300);
      const after = await locks.acquire(resource, { wait: 5_000 });
      assert.ok(after.fence! > before.fence!, `${after.fence} must exceed ${before.fence}`);
      await after.release();
    });
  });
}

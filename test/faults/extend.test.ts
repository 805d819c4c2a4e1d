// Extensions that shorten a lease: whatever an extension's outcome, the lease must not outlive what a node may
// hold by now, and maxHold must not turn the next automatic extension into a shortening one.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CHANNELS, type ExtendedEvent, type Lease, LockManager } from "../../src/index.js";
import { drift } from "../../src/validity.js";
import { lockKey } from "../support/keys.js";
import { useCluster } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";

const NODE_TIMEOUT = 300;

describe("extensions that shorten a lease", () => {
  const env = useCluster({ nodes: 3 });

  for (const count of [1, 3]) {
    it(
      `on ${count} node(s): a shorter extension that times out while the nodes apply it late cuts the lease to it, ` +
        "so the next holder never finds the old one still valid",
      T,
      async () => {
        const { cluster, direct } = env;
        const urls = cluster.urls.slice(0, count);
        const a = new LockManager({ nodes: urls, nodeTimeout: NODE_TIMEOUT });
        const b = new LockManager({ nodes: urls, nodeTimeout: NODE_TIMEOUT });
        const resource = `shorten-${count}`;
        try {
          const lease = await a.acquire(resource, { ttl: 10_000 });
          await (await b.acquire(`${resource}:warm-up`)).release();
          // Every node stops answering for 700 ms, then applies what was queued: the 1 s TTL lands late.
          await Promise.all(direct.slice(0, count).map((d) => d.call("CLIENT", "PAUSE", "700", "ALL")));
          const sent = performance.now();
          await assert.rejects(lease.extend(1_000), { code: "ERR_LOCK_UNAVAILABLE" });
          const bound = sent + 1_000 - drift(1_000) - performance.now();
          assert.ok(
            lease.remainingMs <= bound + 1,
            `the lease may not outlive the shorter TTL: ${lease.remainingMs.toFixed(0)} ms left, at most ${bound.toFixed(0)}`,
          );
          let second: Lease | null = null;
          while (!second) {
            assert.ok(performance.now() - sent < 5_000, "the shortened key expires within the shorter TTL");
            second = await b.tryAcquire(resource).catch(() => null);
            if (!second) await sleep(20);
          }
          assert.equal(lease.valid, false, "once B holds the lock, A's lease is no longer valid");
          assert.ok(lease.signal.aborted);
          await second.release();
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      },
    );
  }

  it("a longer extension that times out keeps the validity the lease had", T, async () => {
    const { cluster, direct } = env;
    const locks = new LockManager({ nodes: cluster.urls, nodeTimeout: NODE_TIMEOUT });
    try {
      const lease = await locks.acquire("lengthen", { ttl: 3_000 });
      const before = lease.remainingMs;
      await Promise.all(direct.map((d) => d.call("CLIENT", "PAUSE", "500", "ALL")));
      await assert.rejects(lease.extend(20_000), { code: "ERR_LOCK_UNAVAILABLE" });
      assert.ok(lease.valid);
      assert.ok(lease.remainingMs <= before, "not lengthened without a quorum's confirmation");
      assert.ok(lease.remainingMs > before - 1_000, "nor cut");
      await sleep(300); // the paused nodes answer, then release
      await lease.release();
    } finally {
      await locks.close();
    }
  });

  it(
    "a manual extension capped by maxHold keeps the TTL asked for: the next automatic extension does not shorten the keys",
    T,
    async () => {
      const locks = new LockManager({ nodes: env.cluster.urls.slice(0, 1) });
      const automatic: ExtendedEvent[] = [];
      const listener = (event: unknown) => {
        if ((event as ExtendedEvent).automatic) automatic.push(event as ExtendedEvent);
      };
      subscribe(CHANNELS.extended, listener);
      try {
        const lease = await locks.acquire("capped", { ttl: 3_000, maxHold: 12_000, autoExtend: true });
        await lease.extend(60_000); // capped by maxHold to about 12 s
        const until = performance.now() + 3_000;
        while (automatic.length === 0) {
          assert.ok(performance.now() < until, "an automatic extension ran within ttl/3");
          await sleep(20);
        }
        const pttl = await env.direct[0]!.pttl(lockKey("capped"));
        assert.ok(pttl > 8_000, `the automatic extension kept the key until maxHold, not 3 s: pttl ${pttl}`);
        assert.ok(lease.remainingMs > 8_000);
        await lease.release();
      } finally {
        unsubscribe(CHANNELS.extended, listener);
        await locks.close();
      }
    },
  );
});

// Slow and lossy networks, through a fault proxy in front of each of 5 nodes.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "../../src/index.js";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { valuesOn } from "../support/adapters.js";

const T = { timeout: 30_000 };
const TTL = 1_000;

describe("latency and lost replies on 5 nodes", () => {
  let nodes: RedisNodes;
  let proxies: FaultProxy[];
  let locks: LockManager;
  let n = 0;
  const fresh = () => `latency:${++n}`;
  /** True when a lock can be taken and released on all five nodes (no node failing). */
  async function everyNodeAnswers(): Promise<boolean> {
    const resource = fresh();
    const lease = await locks.tryAcquire(resource).catch(() => null);
    if (!lease) return false;
    const values = await valuesOn(nodes.urls(), `quorumlock:{${resource}}`);
    await lease.release();
    return values.every((v) => v === lease.token);
  }

  before(async () => {
    nodes = await startRedisNodes(5);
    proxies = await Promise.all(nodes.map((node) => startProxy(node)));
    locks = new LockManager({ nodes: proxies.map((p) => p.url), ttl: TTL, nodeTimeout: 2_000 });
  });
  beforeEach(async () => {
    for (const p of proxies) p.heal();
    // Healing drops the proxied sockets; wait until every client has reconnected.
    for (let tries = 0; ; tries++) {
      const lease = await locks.tryAcquire(fresh()).catch(() => null);
      await lease?.release();
      if (lease && lease.valid === false && (await everyNodeAnswers())) break;
      if (tries > 60) throw new Error("clients did not reconnect after heal");
      await sleep(50);
    }
  });
  after(async () => {
    await locks?.close();
    await Promise.all((proxies ?? []).map((p) => p.close()));
    await nodes?.stopAll();
  });

  it("a slow minority costs nothing: the quorum answers without it", T, async () => {
    // Locked before, so that every node has its fence counter: a resource's first acquisition waits for every
    // node (the restore, docs/SAFETY.md).
    const resource = fresh();
    await (await locks.acquire(resource)).release();
    for (const i of [3, 4]) proxies[i]!.setMode({ kind: "delay", ms: TTL / 4 });
    const lease = await locks.acquire(resource);
    assert.ok(lease.remainingMs > TTL * 0.9, `remaining ${lease.remainingMs.toFixed(0)} ms`);
    await lease.release();
  });

  it(
    "a slow majority shrinks validity by the time it took (validity = ttl − elapsed − drift)",
    T,
    async () => {
      for (const i of [2, 3, 4]) proxies[i]!.setMode({ kind: "delay", ms: TTL / 8 }); // ~ttl/4 per round trip
      const started = performance.now();
      const lease = await locks.acquire(fresh());
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= TTL / 4, `took ${elapsed.toFixed(0)} ms`);
      assert.ok(
        lease.remainingMs <= TTL - elapsed - (TTL * 0.01 + 2) + 5,
        `remaining ${lease.remainingMs.toFixed(0)} ms`,
      );
      assert.ok(lease.remainingMs > 0);
      await lease.release();
    },
  );

  it(
    "a majority slower than the TTL: the attempt fails within its deadline and cleans up everywhere",
    T,
    async () => {
      const resource = fresh();
      for (const i of [2, 3, 4]) proxies[i]!.setMode({ kind: "delay", ms: TTL });
      const started = performance.now();
      await assert.rejects(locks.acquire(resource, { wait: 5_000 }), { code: "ERR_LOCK_UNAVAILABLE" });
      const took = performance.now() - started;
      assert.ok(took < TTL + 500, `settled after ${took.toFixed(0)} ms`);
      // The delayed nodes apply the acquire late, and the delete queued behind it right after.
      await sleep(2 * TTL + 500);
      assert.deepEqual(await valuesOn(nodes.urls(), `quorumlock:{${resource}}`), [
        null,
        null,
        null,
        null,
        null,
      ]);
    },
  );

  it(
    "replies dropped by one node: quorum from the others, and release still clears that node",
    T,
    async () => {
      const resource = fresh();
      proxies[0]!.setMode({ kind: "drop-replies" });
      const lease = await locks.acquire(resource);
      assert.equal(
        (await valuesOn([nodes[0]!.url], `quorumlock:{${resource}}`))[0],
        lease.token,
        "applied, reply lost",
      );
      await lease.release();
      await sleep(100);
      assert.deepEqual(await valuesOn(nodes.urls(), `quorumlock:{${resource}}`), [
        null,
        null,
        null,
        null,
        null,
      ]);
    },
  );
});

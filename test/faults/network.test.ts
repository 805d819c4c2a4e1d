// Scenarios 5, 6 and 11, through a fault proxy in front of each of five nodes: slow nodes, lost replies, and
// every subset of nodes held by someone else.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fenceSync } from "../../src/fencing/scripts.generated.js";
import type { Lease } from "../../src/index.js";
import { release } from "../../src/mutex/scripts.generated.js";
import { drift } from "../../src/validity.js";
import { lockKey } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { useCluster } from "../support/nodes.js";
import { LONGEST as T } from "../support/timeouts.js";
import { acquireBound, EPSILON_MS, releaseBound, type SlowCall, timed } from "./support/bounds.js";
import { spiedManager } from "./support/cluster.js";
import { settledValues, strayKeys, valuesOf } from "./support/spy.js";

const TTL = 1_000;
const NONE = [null, null, null, null, null];

describe("slow and lossy networks", () => {
  const env = useCluster({ proxies: true, aged: TTL });

  it(
    "scenario 5: delays of 0, ttl/4, ttl/2 and ttl on two or three nodes: validity is ttl − elapsed − drift, and an " +
      "attempt that ran out of time fails and cleans up everywhere",
    T,
    async () => {
      const { cluster, direct } = env;
      const ttl = 600;
      // The per-node timeout is capped at the TTL, so a node as slow as the TTL counts as failed.
      const options = { ttl, wait: 0, nodeTimeout: 2 * ttl, quarantine: TTL };
      const fenced = spiedManager(cluster.urls, options);
      const unfenced = spiedManager(cluster.urls, { ...options, fencing: false });
      const slow: SlowCall[] = [];
      const cases = [2, 3].flatMap((count) =>
        [0, ttl / 4, ttl / 2, ttl].map((d) => ({ count, d, manager: fenced, fencing: true })),
      );
      // Without fencing an acquire is one round trip, so a majority delayed by ttl/4 still grants, with half the TTL.
      cases.push({ count: 3, d: ttl / 4, manager: unfenced, fencing: false });
      try {
        // Connected and admitted by the quarantine (one INFO per connection) before the delays start.
        for (const { locks } of [fenced, unfenced]) await (await locks.acquire(fresh("warm-up"))).release();
        for (const { count, d, manager, fencing } of cases) {
          const what = `${count} nodes delayed by ${d} ms each way${fencing ? "" : ", fencing off"}`;
          const { locks, spy } = manager;
          const resource = fresh("delay");
          // Locked before, so every node has its fence counter: the first acquisition of a resource waits for
          // every node (the restore, docs/SAFETY.md), and this is about the steady state.
          await (await locks.acquire(resource)).release();
          for (const p of cluster.proxies.slice(5 - count)) p.setMode({ kind: "delay", ms: d });
          const began = performance.now();
          let lease: Lease | null = null;
          let code: string | undefined;
          try {
            lease = await timed("acquire", acquireBound(options), slow, () => locks.tryAcquire(resource));
          } catch (error) {
            code = (error as { code?: string }).code;
          }
          const elapsed = performance.now() - began;
          const remaining = lease?.remainingMs ?? 0;
          if (lease) {
            assert.ok(elapsed < ttl - drift(ttl), `${what}: granted after ${elapsed.toFixed(0)} ms`);
            const bound = ttl - elapsed - drift(ttl) + 5;
            assert.ok(
              remaining > 0 && remaining <= bound,
              `${what}: ${remaining.toFixed(0)} ms left of ${bound}`,
            );
            await timed("release", releaseBound(options), slow, () => lease!.release());
          } else {
            assert.equal(code, "ERR_LOCK_UNAVAILABLE", `${what}: ${code}`);
          }
          // A round trip through a delayed majority costs 2d of the TTL. Fencing adds no second round trip here:
          // every node has the same counter (the resource was locked on all of them just before), so the
          // write-back is skipped.
          const expected = count === 2 || d === 0 || d === ttl / 4;
          assert.equal(lease !== null, expected, `${what}: ${lease ? "granted" : "failed"}`);
          if (count === 2) assert.ok(remaining > ttl - 150, `${what}: the slow minority cost validity`);
          const token = spy.tokens.at(-1)!;
          assert.deepEqual(await strayKeys(spy, direct, lockKey(resource), token), [], what);
          for (const p of cluster.proxies) p.setMode({ kind: "pass" }); // what is on its way still arrives
          await sleep(2 * d + 200);
          assert.deepEqual(await valuesOf(direct, lockKey(resource)), NONE, `${what}: clean everywhere`);
        }
        assert.deepEqual(slow, []);
      } finally {
        for (const p of cluster.proxies) p.heal();
        await fenced.close();
        await unfenced.close();
      }
    },
  );

  it(
    "a node whose script cache was flushed under a live connection and that answers after the quorum takes part " +
      "again from the next attempt: after its late NOSCRIPT the connection sends the scripts' source again",
    T,
    async () => {
      const { cluster, direct } = env;
      const { locks, close } = spiedManager(cluster.urls, { ttl: 2_000, nodeTimeout: 1_000 });
      try {
        // The resource's fencing counters exist and agree everywhere: no fence write-back round (which waits
        // for every node when a counter is missing) keeps the votes below open until the slow nodes answer.
        const resource = fresh("script-cache");
        for (let i = 0; i < 2; i++) await (await locks.acquire(resource)).release();
        // The acquire script alone is missing: a release that fell back to EVAL would be overtaken, on its
        // connection, by the next acquire, which the old lock would then refuse there.
        for (const n of direct.slice(3)) {
          await n.script("FLUSH");
          for (const script of [release, fenceSync]) await n.script("LOAD", script.source);
        }
        // Always the last two to answer: the vote is decided and its stragglers abandoned before their NOSCRIPT
        // comes back, so the acquire is not sent again as EVAL (a cleanup may have followed it already). 150 ms,
        // not 40: in one clean-clone CI run on a loaded machine, node 3's NOSCRIPT came back while the vote was
        // still open (node 3 then took the first attempt through its fallback EVAL).
        for (const p of cluster.proxies.slice(3)) p.setMode({ kind: "delay", ms: 150 });
        const held: boolean[][] = [];
        for (let i = 0; i < 3; i++) {
          const lease = await locks.acquire(resource);
          const values = await settledValues(direct, lockKey(resource), Array(5).fill(lease.token));
          held.push(values.map((v) => v === lease.token));
          await lease.release();
        }
        assert.deepEqual(held[0], [true, true, true, false, false], "the first attempt: NOSCRIPT on the two");
        assert.deepEqual(held.slice(1), [Array(5).fill(true), Array(5).fill(true)], "then held on all five");
      } finally {
        for (const p of cluster.proxies) p.heal();
        await close();
      }
    },
  );

  it(
    "a majority slower than the TTL is unavailable, not busy: acquire fails after one attempt whatever its wait, " +
      "and cleans up everywhere",
    T,
    async () => {
      const { cluster, direct } = env;
      // The per-node timeout is capped at the TTL, so the delayed nodes count as failed.
      const options = { ttl: TTL, wait: 5_000, nodeTimeout: 2 * TTL, quarantine: TTL };
      const { locks, spy, close } = spiedManager(cluster.urls, options);
      try {
        await (await locks.acquire(fresh("warm-up"))).release();
        const resource = fresh("slow-majority");
        for (const p of cluster.proxies.slice(2)) p.setMode({ kind: "delay", ms: TTL });
        const began = performance.now();
        await assert.rejects(locks.acquire(resource), { code: "ERR_LOCK_UNAVAILABLE" });
        const took = performance.now() - began;
        assert.ok(
          took < TTL + EPSILON_MS,
          `settled after ${took.toFixed(0)} ms with a ${options.wait} ms wait`,
        );
        const token = spy.tokens.at(-1)!;
        assert.deepEqual(await strayKeys(spy, direct, lockKey(resource), token), []);
        // The delayed nodes apply the acquire late, and the delete queued behind it right after.
        await sleep(2 * TTL + 500);
        assert.deepEqual(await valuesOf(direct, lockKey(resource)), NONE);
      } finally {
        for (const p of cluster.proxies) p.heal();
        await close();
      }
    },
  );

  it(
    "scenario 6: replies dropped by one node: a quorum from the others, and release still clears that node",
    T,
    async () => {
      const { cluster, direct } = env;
      const options = { ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL };
      const { locks, spy, close } = spiedManager(cluster.urls, options);
      const slow: SlowCall[] = [];
      try {
        const resource = fresh("drop");
        // Connected and admitted first (the previous test healed the proxies, so the clients reconnect): a node
        // that never answered at all would not even be sent the acquire. The resource itself too: its first
        // acquisition would wait for every node (the restore).
        for (let tries = 0; ; tries++) {
          const warm = await locks.acquire(resource);
          const values = await settledValues(direct, lockKey(resource), Array(5).fill(warm.token));
          await warm.release();
          if (values.every((v) => v === warm.token)) break;
          assert.ok(tries < 20, `every node takes part again (${values})`);
        }
        cluster.proxies[0]!.setMode({ kind: "drop-replies" });
        const lease = await timed("acquire", acquireBound(options), slow, () => locks.acquire(resource));
        assert.ok(lease.remainingMs > TTL - 200);
        await sleep(50);
        assert.equal(
          (await valuesOf(direct.slice(0, 1), lockKey(resource)))[0],
          lease.token,
          "applied, reply lost",
        );
        await timed("release", releaseBound(options), slow, () => lease.release());
        // A release settles once a quorum answered; the silent node applies its delete a moment later.
        assert.deepEqual(
          await settledValues(direct, lockKey(resource), NONE),
          NONE,
          "the release reached the silent node too",
        );
        assert.equal(spy.answered(lease.token, 0), false, "its replies never came");
        assert.deepEqual(slow, []);
      } finally {
        cluster.proxies[0]!.heal();
        await close();
      }
    },
  );

  it(
    "an acquire aborted while a slow majority still owes its vote rejects only once no node holds any of it",
    T,
    async () => {
      const { cluster, direct } = env;
      const options = { ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL };
      const { locks, close } = spiedManager(cluster.urls, options);
      try {
        await (await locks.acquire(fresh("warm-up"))).release();
        const resource = fresh("abort");
        for (const p of cluster.proxies.slice(2)) p.setMode({ kind: "delay", ms: 150 });
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 40);
        await assert.rejects(locks.acquire(resource, { signal: controller.signal }), { name: "AbortError" });
        // The slow nodes apply the acquire ~150 ms in; whatever they took must be gone by the rejection.
        const until = performance.now() + 600;
        while (performance.now() < until) {
          assert.deepEqual(await valuesOf(direct, lockKey(resource)), NONE, "no key after the rejection");
          await sleep(5);
        }
      } finally {
        for (const p of cluster.proxies) p.heal();
        await close();
      }
    },
  );

  it(
    "scenario 11: acquire succeeds exactly when a majority is free, for all 32 subsets of nodes held by a foreign token",
    T,
    async () => {
      const { cluster, direct } = env;
      const options = { ttl: 5_000, wait: 0, nodeTimeout: 800, quarantine: 5_000 };
      const { locks, spy, close } = spiedManager(cluster.urls, options);
      const slow: SlowCall[] = [];
      try {
        for (let mask = 0; mask < 32; mask++) {
          const resource = fresh(`subset-${mask}`);
          const clogged = [0, 1, 2, 3, 4].filter((i) => mask & (1 << i));
          await Promise.all(clogged.map((i) => direct[i]!.set(lockKey(resource), "foreign", "PX", 10_000)));
          const lease = await timed("acquire", acquireBound(options), slow, () => locks.tryAcquire(resource));
          assert.equal(lease !== null, clogged.length <= 2, `clogged ${clogged.join(",") || "none"}`);
          if (lease) await timed("release", releaseBound(options), slow, () => lease.release());
          const token = spy.tokens.at(-1)!;
          assert.deepEqual(await strayKeys(spy, direct, lockKey(resource), token), [], `mask ${mask}`);
          assert.deepEqual(
            await valuesOf(direct, lockKey(resource)),
            [0, 1, 2, 3, 4].map((i) => (clogged.includes(i) ? "foreign" : null)),
            "the foreign keys are untouched, and none of ours is left",
          );
        }
        assert.deepEqual(slow, []);
      } finally {
        await close();
      }
    },
  );
});

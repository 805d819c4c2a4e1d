// Scenario 4: nodes frozen with SIGSTOP (a long fork, a stopped VM): one for longer than the TTL while clients
// contend, then three at once while a lease is held.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockLostError } from "../../src/index.js";
import { HoldLog, now } from "../harness/checker.js";
import { lockKey } from "../support/keys.js";
import { useCluster } from "../support/nodes.js";
import { LONG as T } from "../support/timeouts.js";
import { acquireBound, EPSILON_MS, extendBound, releaseBound, whenLost } from "./support/bounds.js";
import { finish, merged, progress, spawnContenders, spiedManager } from "./support/cluster.js";
import { ProtectedResource } from "./support/resource.js";
import { settledValues, strayKeys } from "./support/spy.js";

const TTL = 1_000;
const OPTIONS = { ttl: TTL, wait: 5_000, nodeTimeout: 300, quarantine: TTL };
const NONE = [null, null, null, null, null];

/** How a call ended and how long it took. */
async function timedOutcome<T>(work: Promise<T>): Promise<{ value?: T; code?: string; ms: number }> {
  const began = performance.now();
  try {
    const value = await work;
    return { value, ms: performance.now() - began };
  } catch (error) {
    return { code: (error as { code?: string }).code ?? String(error), ms: performance.now() - began };
  }
}

describe("frozen nodes", () => {
  // A node a failing test left frozen is still stopped: a kill ends a paused node too.
  const env = useCluster({ aged: TTL });

  it(
    "scenario 4a: one node frozen for longer than the TTL: acquisitions go on with four, and the commands it " +
      "applies late cost nothing but availability",
    T,
    async () => {
      const { cluster, direct } = env;
      const resource = new ProtectedResource();
      const name = "one-frozen";
      const workers = spawnContenders(cluster, resource, {
        name,
        processes: 3,
        durationMs: 6_000,
        options: OPTIONS,
      });
      const frozen = cluster.nodes[4]!;
      try {
        while (progress(workers) < 10) await sleep(50);
        const mark = progress(workers);
        frozen.pause();
        await sleep(TTL + 500);
        const whileFrozen = progress(workers) - mark;
        frozen.resume();
        const log = new HoldLog();
        const summary = merged(await finish(workers, log));
        log.assertSafe();
        resource.assertClean();
        assert.ok(whileFrozen >= 5, `only ${whileFrozen} sections while a node was frozen`);
        assert.deepEqual(summary.errors, {}, "a frozen minority costs no acquisition");
        assert.deepEqual(summary.slow, []);
        assert.deepEqual(summary.strays, []);
        // Every late acquire was followed on its connection by its release: nothing is left on any node.
        // A lock kept for a waiter lapses within 250 ms if the waiter does not come.
        assert.deepEqual(await settledValues(direct, lockKey(name), NONE), NONE);
      } finally {
        frozen.resume();
        await Promise.all(workers.map((w) => w.kill()));
      }
    },
  );

  // Nodes 0 and 1 held by someone else, 2 and 3 free: every attempt gets two grants and two refusals, and only
  // the frozen node could decide it. Or nodes 0-2 held: three refusals decide it, but an acquire vote still waits
  // for every node before it settles a refusal (it undoes only where it was granted), so it meets the frozen node
  // too.
  for (const [layout, held] of [
    ["a split vote", [0, 1]],
    ["a refused vote", [0, 1, 2]],
  ] as const) {
    it(
      `scenario 4c: ${layout} with one node frozen waits for that node once: after one timeout, attempts are ` +
        "decided by the nodes that answer, until it answers again",
      T,
      async () => {
        const { cluster, direct } = env;
        const name = `frozen-${held.length}`;
        const other = "someone else";
        const nodeTimeout = 2_000;
        const client = spiedManager(cluster.urls, { ttl: 10_000, nodeTimeout, quarantine: 0 });
        const frozen = cluster.nodes[4]!;
        const hold = () => Promise.all(held.map((i) => direct[i]!.set(lockKey(name), other, "PX", 60_000)));
        try {
          await hold();
          frozen.pause();
          const first = await timedOutcome(client.locks.tryAcquire(name));
          assert.equal(first.value, null, `${layout} is busy`);
          // (A Node.js timer runs on the event loop's cached clock: up to a millisecond early by performance.now().)
          assert.ok(
            first.ms >= nodeTimeout - 5,
            `the first attempt waited ${first.ms.toFixed(1)} ms for the frozen node`,
          );
          for (let i = 0; i < 3; i++) {
            const next = await timedOutcome(client.locks.tryAcquire(name));
            assert.equal(next.value, null, `${layout} is busy`);
            assert.ok(next.ms < nodeTimeout / 2, `attempt ${i + 2} waited ${next.ms.toFixed(0)} ms`);
            assert.deepEqual(
              await strayKeys(client.spy, direct, lockKey(name), client.spy.tokens.at(-1)!),
              [],
              "a busy attempt undoes its grants",
            );
          }
          frozen.resume();
          // The thawed node applies the queued acquires, then the deletes behind them.
          const expected = [0, 1, 2, 3, 4].map((i) => (held.includes(i as never) ? other : null));
          assert.deepEqual(await settledValues(direct, lockKey(name), expected), expected);
          if (held.length === 2) {
            // Its late replies mark it as answering again (an attempt sent before they arrive may still skip it):
            // with its grant, three of five grant.
            let lease: Lease | null = null;
            for (let tries = 0; !lease && tries < 20; tries++) lease = await client.locks.tryAcquire(name);
            assert.ok(lease, "the thawed node is waited for again");
            await lease.release();
          }
        } finally {
          frozen.resume();
          await Promise.all(held.map((i) => direct[i]!.del(lockKey(name))));
          await client.close();
        }
      },
    );
  }

  it(
    "scenario 4b: three of five frozen: nothing hangs, every call settles by its deadline, the lease ends on time",
    T,
    async () => {
      const { cluster, direct } = env;
      const name = "three-frozen";
      const holder = spiedManager(cluster.urls, OPTIONS);
      const other = spiedManager(cluster.urls, OPTIONS);
      const majority = [0, 1, 2].map((i) => cluster.nodes[i]!);
      const log = new HoldLog();
      try {
        const lease = await holder.locks.acquire(name, { autoExtend: true });
        const holdStart = now();
        const aborted = whenLost(lease);
        for (const node of majority) node.pause();
        const frozenAt = performance.now();

        const extended = await timedOutcome(lease.extend());
        assert.equal(extended.code, "ERR_LOCK_UNAVAILABLE", "the lease keeps its validity, no more");
        assert.ok(
          extended.ms <= extendBound(OPTIONS) + EPSILON_MS,
          `extend took ${extended.ms.toFixed(0)} ms`,
        );
        // A lost vote may be decided before the frozen nodes time out (two refusals and one timeout already lose
        // it), so "busy" is a fair answer too; what matters is that nothing succeeds and nothing hangs.
        const once = { ...OPTIONS, wait: 0 };
        const tried = await timedOutcome(other.locks.tryAcquire(name));
        assert.ok(tried.value === null || tried.code === "ERR_LOCK_UNAVAILABLE", `tryAcquire: ${tried.code}`);
        assert.ok(tried.ms <= acquireBound(once) + EPSILON_MS, `tryAcquire took ${tried.ms.toFixed(0)} ms`);

        const { reason, at, end } = await aborted;
        assert.ok(reason instanceof LockLostError, `aborted with ${String(reason)}`);
        assert.ok(
          at - frozenAt <= TTL + EPSILON_MS,
          `the signal aborted ${(at - frozenAt).toFixed(0)} ms after the freeze`,
        );
        log.record({ worker: "holder", fence: lease.fence!, start: holdStart, end });

        const waited = await timedOutcome(other.locks.acquire(name, { wait: 1_000 }));
        assert.ok(
          ["ERR_LOCK_UNAVAILABLE", "ERR_LOCK_TIMEOUT"].includes(waited.code!),
          `acquire: ${waited.code}`,
        );
        const bound = acquireBound({ ...OPTIONS, wait: 1_000 });
        assert.ok(waited.ms <= bound + EPSILON_MS, `acquire took ${waited.ms.toFixed(0)} ms`);
        const released = await timedOutcome(lease.release());
        assert.equal(released.code, undefined, "releasing a lease that ran out is not an error");
        assert.ok(
          released.ms <= releaseBound(OPTIONS) + EPSILON_MS,
          `release took ${released.ms.toFixed(0)} ms`,
        );

        for (const node of majority) node.resume();
        await sleep(300); // the thawed nodes work through what was queued: acquires, then the deletes behind them
        for (const token of [...other.spy.tokens, lease.token]) {
          const spy = other.spy.tokens.includes(token) ? other.spy : holder.spy;
          assert.deepEqual(
            await strayKeys(spy, direct, lockKey(name), token),
            [],
            "no key left by a failed call",
          );
        }
        // A lock kept for a waiter lapses within 250 ms if the waiter does not come.
        assert.deepEqual(await settledValues(direct, lockKey(name), NONE), NONE);

        // Same servers, same connections: no quarantine, work resumes at once.
        const next = await other.locks.acquire(name, { wait: 0 });
        log.record({ worker: "next", fence: next.fence!, start: now(), end: now() });
        assert.ok(next.fence! > lease.fence!);
        await next.release();
        log.assertSafe();
      } finally {
        for (const node of majority) node.resume();
        await holder.close();
        await other.close();
      }
    },
  );
});

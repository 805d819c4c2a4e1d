// Scenarios 2, 3 and 10: nodes killed -9 and restarted empty (a minority, then a majority), and a holder
// process killed -9. The restart quarantine is on throughout.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CHANNELS,
  type Lease,
  type LockError,
  LockLostError,
  type LockUnavailableError,
} from "../../src/index.js";
import { HoldLog, now } from "../harness/checker.js";
import type { WorkerProcess } from "../harness/workers.js";
import { lockKey } from "../support/keys.js";
import { quarantineOf, useCluster } from "../support/nodes.js";
import { LONG as T } from "../support/timeouts.js";
import { EPSILON_MS, whenLost } from "./support/bounds.js";
import { finish, merged, progress, spawnClient, spawnContenders, spiedManager } from "./support/cluster.js";
import { ProtectedResource } from "./support/resource.js";
import { settledValues, strayKeys } from "./support/spy.js";

const TTL = 1_000;
const OPTIONS = { ttl: TTL, wait: 5_000, nodeTimeout: 800, quarantine: TTL };

describe("crashes", () => {
  const env = useCluster({ aged: TTL });

  async function started(workers: WorkerProcess[]): Promise<void> {
    for (let tries = 0; progress(workers) < 10; tries++) {
      if (tries > 200) throw new Error("the contenders made no progress");
      await sleep(50);
    }
  }

  it(
    "scenario 2: two of five nodes killed -9 mid-run and restarted after the max TTL: work goes on throughout",
    T,
    async () => {
      const resource = new ProtectedResource();
      const { cluster, direct } = env;
      const workers = spawnContenders(cluster, resource, {
        name: "kill-two",
        processes: 3,
        durationMs: 9_000,
        options: OPTIONS,
      });
      try {
        await started(workers);
        const [a, b] = [cluster.nodes[3]!, cluster.nodes[4]!];
        let mark = progress(workers);
        await Promise.all([a.kill(), b.kill()]);
        await sleep(TTL + 300); // down for longer than the longest TTL
        const whileDown = progress(workers) - mark;
        await cluster.restart(3, 4);
        mark = progress(workers);
        await sleep(quarantineOf(TTL)); // back, but quarantined
        const whileQuarantined = progress(workers) - mark;
        mark = progress(workers);
        const log = new HoldLog();
        const summary = merged(await finish(workers, log));
        const afterwards = progress(workers) - mark;
        log.assertSafe();
        resource.assertClean();
        assert.deepEqual(summary.errors, {}, "losing a minority costs no acquisition");
        assert.deepEqual(summary.slow, []);
        assert.deepEqual(summary.strays, []);
        for (const [phase, n] of Object.entries({ whileDown, whileQuarantined, afterwards })) {
          assert.ok(n >= 10, `only ${n} sections ${phase}`);
        }
        // The restarted nodes vote again once their quarantine is over.
        await cluster.aged(TTL);
        const { locks, close } = spiedManager(cluster.urls, OPTIONS);
        try {
          const lease = await locks.acquire("kill-two-after");
          const all = Array(5).fill(lease.token);
          assert.deepEqual(await settledValues(direct, lockKey("kill-two-after"), all), all);
          await lease.release();
        } finally {
          await close();
        }
      } finally {
        await Promise.all(workers.map((w) => w.kill()));
      }
    },
  );

  it(
    "scenario 3: three of five killed -9: acquire fails fast, the holder's signal aborts when its validity ends, " +
      "and progress resumes only once the restarted nodes' quarantine (the TTL) has passed",
    T,
    async () => {
      const { cluster, direct } = env;
      await cluster.aged(TTL); // a client that connects now must see every node as old
      const resource = "majority";
      const holder = spiedManager(cluster.urls, OPTIONS);
      const other = spiedManager(cluster.urls, OPTIONS);
      const log = new HoldLog();
      const majority = [2, 3, 4].map((i) => cluster.nodes[i]!);
      const events: { channel: string; event: Record<string, unknown> }[] = [];
      const listeners = [CHANNELS.extended, CHANNELS.lost, CHANNELS.nodeError].map((channel) => {
        const listener = (event: unknown) =>
          events.push({ channel, event: event as Record<string, unknown> });
        subscribe(channel, listener);
        return () => unsubscribe(channel, listener);
      });
      try {
        const lease = await holder.locks.acquire(resource, { autoExtend: true });
        const holdStart = now();
        const aborted = whenLost(lease);
        await sleep(TTL / 2); // extended once meanwhile
        const killedAt = performance.now();
        await Promise.all(majority.map((n) => n.kill()));

        // Down is not busy: the call fails at once, whatever its wait, and leaves nothing behind.
        const began = performance.now();
        await assert.rejects(other.locks.acquire(resource, { wait: 5_000 }), {
          code: "ERR_LOCK_UNAVAILABLE",
        });
        const took = performance.now() - began;
        assert.ok(took < OPTIONS.nodeTimeout + EPSILON_MS, `failed after ${took.toFixed(0)} ms`);
        const token = other.spy.tokens.at(-1)!;
        assert.deepEqual(await strayKeys(other.spy, direct, lockKey(resource), token), []);

        // Restarted at once, empty, while the holder's lease is still valid: a majority that forgot it.
        await cluster.restart(2, 3, 4);
        const restartedAt = performance.now();
        const { reason, at, end } = await aborted;
        assert.ok(reason instanceof LockLostError, `aborted with ${String(reason)}`);
        assert.equal(lease.valid, false);
        assert.ok(
          at - killedAt <= TTL + EPSILON_MS,
          `the signal aborted ${(at - killedAt).toFixed(0)} ms after the kill`,
        );
        log.record({ worker: "holder", fence: lease.fence!, start: holdStart, end });
        // Reported on the lock's channels too: extended in the background, then the extensions failing on the
        // dead nodes, then lost.
        const mine = events.filter((e) => e.event.resource === resource || e.event.key === lockKey(resource));
        const extended = mine.find((e) => e.channel === CHANNELS.extended);
        assert.equal(extended?.event.automatic, true);
        const lost = mine.find((e) => e.channel === CHANNELS.lost);
        assert.ok(lost?.event.reason instanceof LockLostError);
        assert.equal(lost.event.fence, lease.fence);
        const failedExtensions = mine.filter(
          (e) => e.channel === CHANNELS.nodeError && e.event.operation === "extend",
        );
        assert.ok(failedExtensions.length > 0, "the failing extensions were reported per node");

        // Until the quarantine is over, every attempt fails as unavailable, naming quarantined nodes.
        let next: Lease | undefined;
        let quarantinedSeen = 0;
        while (!next) {
          try {
            next = await other.locks.acquire(resource, { wait: 0 });
          } catch (error) {
            const e = error as LockUnavailableError;
            assert.equal(e.code, "ERR_LOCK_UNAVAILABLE");
            const codes = e.nodes.map((n) => (n.error as LockError | undefined)?.code);
            quarantinedSeen = Math.max(
              quarantinedSeen,
              codes.filter((c) => c === "ERR_NODE_QUARANTINED").length,
            );
            assert.ok(!e.nodes.some((n) => n.status === "refused"), "a quarantined node never looks busy");
            await sleep(50);
          }
        }
        const resumedAt = performance.now();
        const nextStart = now();
        assert.ok(quarantinedSeen >= 1, "the failures named the quarantined nodes");
        assert.ok(
          resumedAt - restartedAt >= TTL,
          `resumed ${(resumedAt - restartedAt).toFixed(0)} ms after the restart`,
        );
        assert.ok(
          resumedAt - restartedAt <= quarantineOf(TTL) + EPSILON_MS,
          `resumed only ${(resumedAt - restartedAt).toFixed(0)} ms after the restart`,
        );
        assert.ok(next.fence! > lease.fence!, "the next holder's fence is higher");
        log.record({ worker: "next", fence: next.fence!, start: nextStart, end: now() });
        await next.release();
        assert.deepEqual(await strayKeys(other.spy, direct, lockKey(resource), next.token), []);
        log.assertSafe();
      } finally {
        for (const stop of listeners) stop();
        await holder.close();
        await other.close();
      }
    },
  );

  it(
    "scenario 10: a holder killed -9: the next holder gets the lock within the TTL plus a small delta",
    T,
    async () => {
      const { cluster } = env;
      await cluster.aged(TTL);
      const resource = new ProtectedResource();
      const name = "killed-holder";
      const holder = spawnClient(cluster, { mode: "hold", resource: name, ...OPTIONS }, resource);
      const next = spiedManager(cluster.urls, OPTIONS);
      const log = new HoldLog();
      try {
        const acquired = await holder.waitFor(
          (m): m is { type: "acquired"; fence: number; start: string } =>
            (m as { type?: string }).type === "acquired",
        );
        assert.ok(resource.register.write(acquired.fence, 1).ok);
        const killed = now();
        await holder.kill();
        const killedAt = performance.now();
        const lease = await next.locks.acquire(name, { wait: 5_000 });
        const start = now();
        const took = performance.now() - killedAt;
        assert.ok(took <= TTL + 300, `took ${took.toFixed(0)} ms after the kill with a ${TTL} ms TTL`);
        assert.ok(
          Number(start - BigInt(acquired.start)) / 1e6 >= TTL - 50,
          "not handed over before the key expired",
        );
        assert.ok(lease.fence! > acquired.fence);
        assert.ok(resource.register.write(lease.fence!, 2).ok);
        log.record({ worker: "killed", fence: acquired.fence, start: BigInt(acquired.start), end: killed });
        log.record({ worker: "next", fence: lease.fence!, start, end: now() });
        await lease.release();
        log.assertSafe();
        resource.assertClean();
      } finally {
        await next.close();
        await holder.kill();
      }
    },
  );
});

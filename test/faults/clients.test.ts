// Scenarios 7, 8 and the clock negative control of 12: clients frozen with SIGSTOP while holding or while
// acquiring, and a client whose clock runs at the wrong rate.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldLog, now } from "../harness/checker.js";
import { lockKey } from "../support/keys.js";
import { useCluster } from "../support/nodes.js";
import { LONG as T } from "../support/timeouts.js";
import { isHold, spawnClient, spiedManager } from "./support/cluster.js";
import { ProtectedResource } from "./support/resource.js";
import { settledValues, valuesOf } from "./support/spy.js";

const TTL = 1_000;
const OPTIONS = { ttl: TTL, wait: 5_000, nodeTimeout: 800, quarantine: TTL };

type Acquired = { type: "acquired"; fence: number; token: string; start: string };
const isAcquired = (m: unknown): m is Acquired => (m as Acquired).type === "acquired";
const is =
  <T extends { type: string }>(type: T["type"]) =>
  (m: unknown): m is T =>
    (m as { type?: string }).type === type;

describe("paused and drifting clients", () => {
  const env = useCluster({ proxies: true, aged: TTL });
  /** A client process that takes the lock on `name` and then does what the test tells it. */
  const holder = (
    name: string,
    resource: ProtectedResource,
    extra: { autoExtend?: boolean; clockRate?: number },
  ) => spawnClient(env.cluster, { mode: "hold", resource: name, ...extra, ...OPTIONS }, resource);

  it(
    "scenario 7: a holder frozen past its TTL: the next holder gets a higher fence, the stale holder's write is " +
      "refused by the fencing register, and on resume its lease is invalid and its signal aborted",
    T,
    async () => {
      const { cluster, direct } = env;
      const name = "paused-holder";
      const resource = new ProtectedResource();
      const stale = holder(name, resource, { autoExtend: true });
      const next = spiedManager(cluster.urls, OPTIONS);
      const log = new HoldLog();
      try {
        const acquired = await stale.waitFor(isAcquired);
        stale.send({ type: "write" });
        assert.equal((await stale.waitFor(is<{ type: "wrote"; ok: boolean }>("wrote"))).ok, true);
        const pausedAt = now();
        stale.pause(); // its auto-extension freezes with it
        // Kept alive until the end: the checks below outlast a 1 s TTL on a loaded machine. (An extension never
        // re-creates a deleted key, so a clean-up that took the key would still show.)
        const lease = await next.locks.acquire(name, { autoExtend: true });
        const start = now();
        // Where it holds the lock: a majority at least (a node where the stale key outlived the others by a few ms
        // refused it).
        const all = Array(5).fill(lease.token);
        const granted = (await settledValues(direct, lockKey(name), all)).map((v) => v === lease.token);
        assert.ok(granted.filter(Boolean).length >= 3, `granted by ${granted}`);
        assert.ok(lease.fence! > acquired.fence, "the next holder's fence is higher");
        assert.ok(resource.write(lease.fence!, 1).ok);
        stale.resume();
        stale.send({ type: "write" }); // a write the stale holder had already decided on
        assert.equal((await stale.waitFor(is<{ type: "wrote"; ok: boolean }>("wrote"))).ok, false, "refused");
        stale.send({ type: "report" });
        const report = await stale.waitFor(
          is<{ type: "report"; valid: boolean; aborted: boolean; reason?: string }>("report"),
        );
        assert.deepEqual(
          { valid: report.valid, aborted: report.aborted, reason: report.reason },
          { valid: false, aborted: true, reason: "LockLostError" },
        );
        assert.equal(resource.register.value, 1, "the next holder's write stands");
        // The resumed holder's clean-up of its lost lease spares the next holder's key, wherever it is.
        await sleep(100);
        const values = await valuesOf(direct, lockKey(name));
        assert.deepEqual(
          values.filter((_, i) => granted[i]),
          all.filter((_, i) => granted[i]),
        );
        log.record({ worker: "stale", fence: acquired.fence, start: BigInt(acquired.start), end: pausedAt });
        log.record({ worker: "next", fence: lease.fence!, start, end: now() });
        log.assertSafe();
        await lease.release();
        stale.send({ type: "release" });
        await stale.waitFor(is("released"));
      } finally {
        await next.close();
        await stale.kill();
      }
    },
  );

  it(
    "scenario 8: a client frozen right after sending its acquire: on resume more than the TTL has passed, so the " +
      "acquire fails and deletes what it got",
    T,
    async () => {
      const name = "paused-acquirer";
      // The per-node timeout is capped at the TTL: whichever the resumed client notices first, the replies that
      // came too late or the timeouts, it is the TTL that ran out.
      const options = { ...OPTIONS, nodeTimeout: 5_000 };
      const { cluster, direct } = env;
      const client = spawnClient(cluster, { mode: "acquire", resource: name, ...options });
      try {
        await client.waitFor(is("ready"));
        // Requests reach the nodes 300 ms after they are sent and replies take as long to come back, so the
        // client is surely frozen between sending and hearing, and the keys outlive its TTL by 300 ms.
        for (const p of cluster.proxies) p.setMode({ kind: "delay", ms: 300 });
        client.send({ type: "go" });
        await client.waitFor(is("acquiring"));
        await sleep(50);
        client.pause();
        await sleep(TTL);
        const ttls = await Promise.all(direct.map((d) => d.pttl(lockKey(name))));
        assert.ok(Math.min(...ttls) > 100, `the keys are there for ${Math.min(...ttls)} ms more`);
        const resumed = performance.now();
        for (const p of cluster.proxies) p.setMode({ kind: "pass" }); // let the cleanup through at once
        client.resume();
        const outcome = await client.waitFor(
          is<{
            type: "acquired-once";
            ok: boolean;
            code?: string;
            message?: string;
            strays: number[];
            straysAfterClose: number[];
          }>("acquired-once"),
        );
        const gone = await valuesOf(direct, lockKey(name));
        const after = performance.now() - resumed;
        assert.equal(outcome.ok, false, "no lease");
        assert.equal(outcome.code, "ERR_LOCK_UNAVAILABLE", outcome.message);
        assert.match(outcome.message!, /leaving no validity|did not answer within 1000 ms/);
        assert.deepEqual(outcome.strays, [], "nothing of its own left on the nodes that answered");
        assert.deepEqual(outcome.straysAfterClose, [], "nor anywhere once its cleanups finished");
        assert.deepEqual(gone, [null, null, null, null, null]);
        assert.ok(after < Math.min(...ttls), "deleted by the failed acquire, not expired");
      } finally {
        for (const p of cluster.proxies) p.heal();
        await client.kill();
      }
    },
  );

  for (const { rate, safe } of [
    { rate: 0.995, safe: true },
    { rate: 0.8, safe: false },
  ]) {
    it(
      safe
        ? `a client clock running ${((1 - rate) * 100).toFixed(1)}% slow stays within the drift allowance: no overlap`
        : "scenario 12 (negative control): a client clock running 20% slow overstays its lease, and the checker sees it",
      T,
      async () => {
        const name = `clock-${rate}`;
        const resource = new ProtectedResource();
        const drifting = holder(name, resource, { clockRate: rate });
        const next = spiedManager(env.cluster.urls, OPTIONS);
        try {
          await drifting.waitFor(isAcquired);
          drifting.send({ type: "work" }); // read-modify-write for as long as its lease says it is valid
          const lease = await next.locks.acquire(name);
          const start = now();
          let end = start;
          const until = performance.now() + 400;
          while (performance.now() < until && lease.valid) {
            const read = resource.read(lease.fence!);
            await sleep(2);
            resource.write(lease.fence!, read.count + 1);
            end = now();
          }
          const stale = await drifting.waitFor(isHold);
          const log = new HoldLog();
          log.record({
            worker: "holder",
            fence: stale.fence,
            start: BigInt(stale.start),
            end: BigInt(stale.end),
          });
          log.record({ worker: "next", fence: lease.fence!, start, end });
          if (safe) {
            log.assertSafe();
            resource.assertClean();
          } else {
            assert.equal(log.overlaps().length, 1, "the slow-clock holder still believed it held the lock");
            assert.throws(() => log.assertSafe(), /lock safety violated/);
            assert.throws(() => resource.assertClean(), "its late accesses were refused or lost updates");
          }
          await lease.release();
        } finally {
          await next.close();
          await drifting.kill();
        }
      },
    );
  }
});

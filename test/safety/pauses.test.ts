// A client paused past its TTL, and a node that forgets its data: what fencing and the checker see.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "../../src/index.js";
import { FencingRegister, HoldLog, now } from "../harness/checker.js";
import { startProxy } from "../harness/proxy.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { spawnWorker } from "../harness/workers.js";
import { valuesOn } from "../support/adapters.js";

const holderScript = new URL("./fixtures/holder.ts", import.meta.url).pathname;
const acquirerScript = new URL("./fixtures/acquirer.ts", import.meta.url).pathname;
type Acquired = { type: "acquired"; fence: number };
type Report = { type: "report"; valid: boolean; aborted: boolean; reason?: string; fence: number };

describe("pauses and data loss", () => {
  let nodes: RedisNodes;
  before(async () => {
    nodes = await startRedisNodes(5);
  });
  after(() => nodes?.stopAll());

  it("a holder frozen past its TTL: the next holder gets a higher fence, the stale writes are refused, and on resume the lease says it is gone", {
    timeout: 30_000,
  }, async () => {
    const resource = "paused-holder";
    const register = new FencingRegister<string>();
    const holder = spawnWorker(holderScript, [nodes.urls().join(","), resource, "500"]);
    const locks = new LockManager({ nodes: nodes.urls() });
    try {
      const { fence: stale } = await holder.waitFor(
        (m): m is Acquired => (m as Acquired).type === "acquired",
      );
      assert.ok(register.write(stale, "holder's first write").ok);
      holder.pause(); // auto-extension freezes with it
      const next = await locks.acquire(resource, { wait: 5_000 });
      assert.ok(next.fence! > stale, "the next holder's fence is higher");
      assert.ok(register.write(next.fence!, "next holder's write").ok);
      holder.resume();
      holder.send({ type: "report" });
      const report = await holder.waitFor((m): m is Report => (m as Report).type === "report");
      assert.equal(report.valid, false, "the resumed holder's lease is no longer valid");
      assert.equal(report.aborted, true, "and its signal has aborted");
      assert.equal(report.reason, "LockLostError");
      assert.equal(register.write(stale, "holder's late write").ok, false, "the stale fence is refused");
      assert.equal(register.value, "next holder's write");
      await next.release();
    } finally {
      await locks.close();
      await holder.kill();
    }
  });

  it("a client frozen in the middle of acquiring fails on resume and releases what it got", {
    timeout: 30_000,
  }, async () => {
    // Replies take 150 ms each way, so the client is frozen after its requests went out and before any answer.
    const proxies = await Promise.all(nodes.map((node) => startProxy(node)));
    const acquirer = spawnWorker(acquirerScript, [
      proxies.map((p) => p.url).join(","),
      "frozen-acquirer",
      "500",
    ]);
    try {
      for (const p of proxies) p.setMode({ kind: "delay", ms: 150 });
      await acquirer.waitFor((m) => (m as { type: string }).type === "attempting");
      acquirer.pause();
      await sleep(900); // longer than the TTL: the keys it set have expired by the time it reads the replies
      acquirer.resume();
      const result = (await acquirer.waitFor((m) => (m as { type: string }).type === "result")) as {
        acquired: boolean;
        code?: string;
        message?: string;
      };
      assert.equal(result.acquired, false, "an attempt whose validity ran out is not a lease");
      assert.equal(result.code, "ERR_LOCK_UNAVAILABLE", result.message);
      // On resume the overdue node timers and the queued replies race: either way the attempt must fail.
      assert.match(result.message ?? "", /leaving no validity|did not answer within/);
      await sleep(600);
      assert.deepEqual(await valuesOn(nodes.urls(), "quorumlock:{frozen-acquirer}"), [
        null,
        null,
        null,
        null,
        null,
      ]);
    } finally {
      await acquirer.kill();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });

  it("negative control: a node restarted empty at once while holding part of a quorum lets a second holder in, and the checker sees it", {
    timeout: 30_000,
  }, async () => {
    // This is the hazard the Redis docs answer with a delayed restart (or fsync). It must trip the checker;
    // if it did not, the checker could not be trusted to see a violation anywhere else.
    const a = new LockManager({ nodes: nodes.urls().slice(0, 3), ttl: 5_000 });
    const b = new LockManager({ nodes: nodes.urls().slice(0, 3), ttl: 5_000 });
    const log = new HoldLog();
    try {
      const first = await a.acquire("restart-hazard");
      const firstStart = now();
      await Promise.all([nodes[0]!.restart(), nodes[1]!.restart()]);
      await sleep(300); // reconnect
      const second = await b.acquire("restart-hazard", { wait: 3_000 });
      const secondStart = now();
      assert.ok(first.valid, "the first lease still believes it holds the lock");
      await sleep(5);
      log.record({ worker: "a", fence: first.fence!, start: firstStart, end: now() });
      log.record({ worker: "b", fence: second.fence!, start: secondStart, end: now() });
      assert.equal(log.overlaps().length, 1, "the checker reports the two overlapping holders");
      assert.throws(() => log.assertSafe());
      await Promise.all([first.release(), second.release()]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// Work going on while nodes die, scripts vanish and holders crash, checked for overlap and fence order.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "../../src/index.js";
import { HoldLog } from "../harness/checker.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { spawnWorker, type WorkerProcess } from "../harness/workers.js";
import { inspect } from "../support/adapters.js";

const contender = new URL("../fixtures/contender.ts", import.meta.url).pathname;
const slowClock = new URL("../fixtures/slow-clock-holder.ts", import.meta.url).pathname;
const holderScript = new URL("./fixtures/holder.ts", import.meta.url).pathname;
type Hold = { type: "hold"; worker: string; fence: number; start: string; end: string; valid: boolean };
type Done = { type: "done"; sections: number; errors: Record<string, number> };

function contenders(urls: string[], resource: string, ms: number, processes = 3): WorkerProcess[] {
  return Array.from({ length: processes }, () =>
    spawnWorker(contender, [], {
      NODES: urls.join(","),
      ADAPTER: "ioredis",
      RESOURCE: resource,
      WORKERS: "3",
      DURATION_MS: String(ms),
    }),
  );
}

async function finish(children: WorkerProcess[]) {
  const done = await Promise.all(
    children.map((c) => c.waitFor((m): m is Done => (m as Done).type === "done", 30_000)),
  );
  const log = new HoldLog();
  for (const child of children) {
    for (const m of child.received as Hold[]) {
      if (m.type === "hold")
        log.record({ worker: m.worker, fence: m.fence, start: BigInt(m.start), end: BigInt(m.end) });
    }
  }
  return { log, done };
}

describe("disruptions while contenders work", () => {
  let nodes: RedisNodes;
  before(async () => {
    nodes = await startRedisNodes(5);
  });
  after(() => nodes?.stopAll());

  it("two of five nodes killed mid-run, restarted after the TTL: work goes on throughout, safely", {
    timeout: 40_000,
  }, async () => {
    const children = contenders(nodes.urls(), "kill-two", 9_000);
    const sections = () => children.reduce((n, c) => n + c.received.length, 0);
    try {
      // The processes take a moment to start (more on a loaded machine): kill nodes once work is under way.
      for (let waited = 0; sections() < 20 && waited < 6_000; waited += 50) await sleep(50);
      const before = sections();
      await Promise.all([nodes[3]!.kill(), nodes[4]!.kill()]);
      await sleep(2_100); // longer than the contenders' 2 s TTL
      const during = sections() - before;
      await Promise.all([nodes[3]!.restart(), nodes[4]!.restart()]);
      const { log } = await finish(children);
      log.assertSafe();
      assert.ok(during >= 5, `only ${during} sections while two nodes were down`);
    } finally {
      await Promise.all(children.map((c) => c.kill()));
    }
  });

  it("SCRIPT FLUSH on every node mid-run costs no failure (EVAL fallback)", { timeout: 40_000 }, async () => {
    const children = contenders(nodes.urls(), "flush", 3_000);
    try {
      for (let i = 0; i < 5; i++) {
        await sleep(400);
        await inspect(nodes.urls(), (all) => Promise.all(all.map((n) => n.script("FLUSH"))));
      }
      const { log, done } = await finish(children);
      log.assertSafe();
      assert.ok(log.holds.length > 30);
      for (const d of done) assert.deepEqual(d.errors, {}, "no errors");
    } finally {
      await Promise.all(children.map((c) => c.kill()));
    }
  });

  it("a holder killed -9: the next holder gets the lock within the TTL and a small delta", {
    timeout: 30_000,
  }, async () => {
    const holder = spawnWorker(holderScript, [nodes.urls().join(","), "killed-holder", "800"]);
    const locks = new LockManager({ nodes: nodes.urls() });
    try {
      const { fence } = await holder.waitFor(
        (m): m is { type: "acquired"; fence: number } => (m as { type: string }).type === "acquired",
      );
      await holder.kill();
      const killed = performance.now();
      const next = await locks.acquire("killed-holder", { wait: 5_000 });
      const took = performance.now() - killed;
      assert.ok(took < 800 + 300, `took ${took.toFixed(0)} ms after the kill with an 800 ms TTL`);
      assert.ok(next.fence! > fence);
      await next.release();
    } finally {
      await locks.close();
      await holder.kill();
    }
  });

  it("negative control: a client clock running 20% slow overstays its lease, and the checker sees it", {
    timeout: 30_000,
  }, async () => {
    // Outside the system model (drift is allowed 1% + 2 ms): this must trip the checker, or the checker is blind.
    const urls = nodes.urls();
    const holder = spawnWorker(slowClock, [urls.join(","), "slow-clock", "1000"]);
    const locks = new LockManager({ nodes: urls });
    try {
      await holder.waitFor((m) => (m as { type: string }).type === "acquired");
      const next = await locks.acquire("slow-clock", { wait: 5_000 });
      const start = process.hrtime.bigint();
      const stale = await holder.waitFor((m): m is Hold => (m as Hold).type === "hold", 10_000);
      const log = new HoldLog();
      log.record({ worker: "slow", fence: stale.fence, start: BigInt(stale.start), end: BigInt(stale.end) });
      log.record({ worker: "next", fence: next.fence!, start, end: process.hrtime.bigint() });
      assert.equal(log.overlaps().length, 1, "the slow-clock holder still believed it held the lock");
      await next.release();
    } finally {
      await locks.close();
      await holder.kill();
    }
  });
});

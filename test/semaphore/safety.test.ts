// Semaphore safety across processes: a checker over every hold of 3 worker processes never sees more than
// `limit` permits held at once, and sees fences rise, on 1 and 5 nodes, and on 5 while N − q nodes are frozen
// or killed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { semaphoreQuorum } from "../../src/semaphore/index.js";
import { everyProcessHeld, finish, sections, spawnContender } from "../fixtures/contenders.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import type { WorkerProcess } from "../harness/workers.js";

interface Run {
  readonly adapter: "ioredis" | "node-redis";
  readonly limit: number;
  /** Each hold takes 1 to this many permits. */
  readonly permits: number;
  readonly ms: number;
}

function start(urls: string[], resource: string, run: Run): WorkerProcess[] {
  return Array.from({ length: 3 }, () =>
    spawnContender({
      nodes: urls,
      adapter: run.adapter,
      resource,
      workers: 3,
      durationMs: run.ms,
      take: { kind: "permits", limit: run.limit, most: run.permits },
      holdMs: [2, 8],
    }),
  );
}

for (const [adapter, count] of [
  ["ioredis", 1],
  ["node-redis", 5],
] as const) {
  describe(`semaphore safety across processes: ${adapter}, ${count} node(s)`, () => {
    let nodes: RedisNodes;
    before(async () => {
      nodes = await startRedisNodes(count);
    });
    after(() => nodes?.stopAll());

    it("3 processes × 3 workers, limit 3, 1–2 permits each: never over the limit, fences rise", {
      timeout: 40_000,
    }, async () => {
      const run = { adapter, limit: 3, permits: 2, ms: 2_500 };
      const children = start(nodes.urls(), `sem-safety:${adapter}:${count}:${process.pid}`, run);
      try {
        const { log, done } = await finish(children, 30_000);
        log.assertWithin(run.limit);
        assert.ok(log.holds.length >= 30, `only ${log.holds.length} sections in 2.5 s`);
        assert.ok(log.mostAtOnce() >= 2, "holders shared the semaphore");
        assert.equal(new Set(log.holds.map((h) => h.worker.split("/")[0])).size, 3, "every process got in");
        for (const d of done) assert.deepEqual(d.errors, {}, "a busy semaphore never errors");
      } finally {
        await Promise.all(children.map((c) => c.kill()));
      }
    });
  });
}

describe("semaphore safety across processes: 5 nodes, N − q of them frozen, then killed", () => {
  let nodes: RedisNodes;
  before(async () => {
    nodes = await startRedisNodes(5);
  });
  after(() => nodes?.stopAll());

  it("limit 2 (q = 4 of 5): one node frozen, later another killed: work goes on, never over the limit", {
    timeout: 40_000,
  }, async () => {
    const run: Run = { adapter: "ioredis", limit: 2, permits: 2, ms: 7_000 };
    assert.equal(semaphoreQuorum(5, run.limit), 4);
    const children = start(nodes.urls(), `sem-disrupted:${process.pid}`, run);
    try {
      await everyProcessHeld(children, 20_000);
      for (let waited = 0; sections(children) < 20 && waited < 6_000; waited += 50) await sleep(50);
      const before = sections(children);
      nodes[4]!.pause();
      await sleep(1_500);
      const frozen = sections(children) - before;
      nodes[4]!.resume();
      await sleep(300);
      const killedAt = sections(children);
      await nodes[2]!.kill();
      await sleep(2_100); // past the workers' 2 s TTL: it comes back empty, as a node without persistence does
      const killed = sections(children) - killedAt;
      await nodes[2]!.restart();
      const { log } = await finish(children, 30_000);
      log.assertWithin(run.limit);
      assert.ok(frozen >= 10, `only ${frozen} sections while a node was frozen`);
      assert.ok(killed >= 10, `only ${killed} sections while a node was down`);
    } finally {
      nodes[4]!.resume();
      await Promise.all(children.map((c) => c.kill()));
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finish, spawnContender } from "../fixtures/contenders.js";
import { useNodes } from "../support/nodes.js";

async function contend(urls: string[], adapter: "ioredis" | "node-redis", processes: number, fair = false) {
  const resource = `contention:${adapter}:${urls.length}:${fair}:${process.pid}`;
  const children = Array.from({ length: processes }, () =>
    spawnContender({
      nodes: urls,
      adapter,
      resource,
      workers: 4,
      durationMs: 2_500,
      take: { kind: "lock", fair },
      holdMs: [1, 1],
    }),
  );
  try {
    return await finish(children, 20_000);
  } finally {
    await Promise.all(children.map((c) => c.kill()));
  }
}

for (const [adapter, count] of [
  ["ioredis", 1],
  ["ioredis", 5],
  ["node-redis", 1],
  ["node-redis", 5],
] as const) {
  describe(`mutual exclusion across processes: ${adapter}, ${count} node(s)`, () => {
    const env = useNodes(count);

    it("3 processes × 4 workers: progress, no two holders overlap, fences only go up", {
      timeout: 40_000,
    }, async () => {
      const { log, done } = await contend(env.nodes.urls(), adapter, 3);
      log.assertSafe();
      assert.ok(log.holds.length >= 30, `only ${log.holds.length} sections in 2.5 s`);
      assert.equal(
        done.reduce((n, d) => n + d.sections, 0),
        log.holds.length,
      );
      const workers = new Set(log.holds.map((h) => h.worker.split("/")[0]));
      assert.equal(workers.size, 3, "every process got the lock");
      for (const d of done) assert.deepEqual(d.errors, {}, "a busy lock never errors");
    });
  });
}

describe("fair mode across processes: 1 node", () => {
  const env = useNodes(1);

  for (const adapter of ["ioredis", "node-redis"] as const) {
    it(`${adapter}: 3 processes × 4 workers take turns: no overlap, fences up, every worker near the mean`, {
      timeout: 40_000,
    }, async () => {
      const { log, done } = await contend(env.nodes.urls(), adapter, 3, true);
      log.assertSafe();
      assert.ok(log.holds.length >= 30, `only ${log.holds.length} sections in 2.5 s`);
      for (const d of done) assert.deepEqual(d.errors, {}, "a busy lock never errors");
      const perWorker = new Map<string, number>();
      for (const h of log.holds) perWorker.set(h.worker, (perWorker.get(h.worker) ?? 0) + 1);
      assert.equal(perWorker.size, 12, "every worker got the lock");
      const mean = log.holds.length / 12;
      const fewest = Math.min(...perWorker.values());
      assert.ok(fewest >= 0.8 * mean, `fewest ${fewest} sections, mean ${mean.toFixed(1)}`);
    });
  }
});

// Semaphore safety across processes: a checker over every hold of 3 worker processes never sees more than
// `limit` permits held at once, and sees fences rise, on 1 and 5 nodes, and on 5 while N − q nodes are frozen
// or killed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { semaphoreQuorum } from "../../src/semaphore/index.js";
import { HoldLog } from "../harness/checker.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { spawnWorker, type WorkerProcess } from "../harness/workers.js";

const worker = new URL("./fixtures/permit-worker.ts", import.meta.url).pathname;
type Hold = {
  type: "hold";
  worker: string;
  fence: number;
  permits: number;
  asked: string;
  start: string;
  end: string;
  valid: boolean;
};
type Done = { type: "done"; sections: number; errors: Record<string, number> };

interface Run {
  readonly adapter: string;
  readonly limit: number;
  /** Each hold takes 1 to this many permits. */
  readonly permits: number;
  readonly ms: number;
}

function start(urls: string[], resource: string, run: Run): WorkerProcess[] {
  return Array.from({ length: 3 }, () =>
    spawnWorker(worker, [], {
      NODES: urls.join(","),
      ADAPTER: run.adapter,
      RESOURCE: resource,
      LIMIT: String(run.limit),
      PERMITS: String(run.permits),
      WORKERS: "3",
      DURATION_MS: String(run.ms),
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
      if (m.type !== "hold") continue;
      assert.ok(m.valid, "a holder's lease was valid throughout its section");
      log.record({
        worker: m.worker,
        fence: m.fence,
        permits: m.permits,
        asked: BigInt(m.asked),
        start: BigInt(m.start),
        end: BigInt(m.end),
      });
    }
  }
  return { log, done };
}

/** The most permits held at once over the run (to show the runs really shared the semaphore). */
function busiest(log: HoldLog): number {
  let most = 0;
  for (const hold of log.holds) {
    const live = log.holds.filter((h) => h.start <= hold.start && h.end > hold.start);
    most = Math.max(
      most,
      live.reduce((n, h) => n + (h.permits ?? 1), 0),
    );
  }
  return most;
}

const sections = (children: WorkerProcess[]) => children.reduce((n, c) => n + c.received.length, 0);

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
        const { log, done } = await finish(children);
        log.assertWithin(run.limit);
        assert.ok(log.holds.length >= 30, `only ${log.holds.length} sections in 2.5 s`);
        assert.ok(busiest(log) >= 2, "holders shared the semaphore");
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
    const run = { adapter: "ioredis", limit: 2, permits: 2, ms: 7_000 };
    assert.equal(semaphoreQuorum(5, run.limit), 4);
    const children = start(nodes.urls(), `sem-disrupted:${process.pid}`, run);
    try {
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
      const { log } = await finish(children);
      log.assertWithin(run.limit);
      assert.ok(frozen >= 10, `only ${frozen} sections while a node was frozen`);
      assert.ok(killed >= 10, `only ${killed} sections while a node was down`);
    } finally {
      nodes[4]!.resume();
      await Promise.all(children.map((c) => c.kill()));
    }
  });
});

// Scenarios 1 and 9: clients in several processes contend for one lock on five nodes, with the restart
// quarantine on; then the script caches are flushed under their feet.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HoldLog } from "../harness/checker.js";
import type { WorkerProcess } from "../harness/workers.js";
import { inspect } from "../support/adapters.js";
import { useCluster } from "../support/nodes.js";
import { LONG } from "../support/timeouts.js";
import { finish, merged, spawnContenders } from "./support/cluster.js";
import { ProtectedResource } from "./support/resource.js";

const TTL = 1_000;
const OPTIONS = { ttl: TTL, wait: 5_000, nodeTimeout: 800, quarantine: TTL };

describe("contention", () => {
  const env = useCluster({ aged: TTL });
  const contenders = (resource: ProtectedResource, name: string, processes: number, durationMs: number) =>
    spawnContenders(env.cluster, resource, { name, processes, durationMs, options: OPTIONS });

  async function checked(workers: WorkerProcess[], resource: ProtectedResource) {
    const log = new HoldLog();
    const summary = merged(await finish(workers, log));
    log.assertSafe();
    resource.assertClean();
    assert.equal(resource.counter.value, resource.counter.writes, "every increment counted");
    assert.deepEqual(summary.slow, [], "every call settled within its bound");
    assert.deepEqual(summary.strays, [], "no key left behind by a failed acquire or a release");
    return { log, summary };
  }

  it(
    "scenario 1: 8 clients in 4 processes contend for 8 s: progress, no overlap, fences rise, no update lost",
    LONG,
    async () => {
      // The issue asks for 30 s; 8 s of the same load keeps the suite short (see docs/SAFETY.md).
      const resource = new ProtectedResource();
      const workers = contenders(resource, "contention", 4, 8_000);
      try {
        const { log, summary } = await checked(workers, resource);
        assert.deepEqual(summary.errors, {}, "a busy lock never errors");
        assert.ok(log.holds.length >= 200, `only ${log.holds.length} sections in 8 s`);
        const processes = new Set(log.holds.map((h) => h.worker.split("/")[0]));
        assert.equal(processes.size, 4, "every process got the lock");
      } finally {
        await Promise.all(workers.map((w) => w.kill()));
      }
    },
  );

  it("scenario 9: SCRIPT FLUSH on every node mid-run costs no failure (EVAL fallback)", LONG, async () => {
    const resource = new ProtectedResource();
    const workers = contenders(resource, "flush", 3, 4_000);
    try {
      for (let i = 0; i < 6; i++) {
        await sleep(500);
        await inspect(env.cluster.direct, (all) => Promise.all(all.map((n) => n.script("FLUSH"))));
      }
      const { log, summary } = await checked(workers, resource);
      assert.deepEqual(summary.errors, {}, "no extra failure");
      assert.ok(log.holds.length >= 50, `only ${log.holds.length} sections`);
    } finally {
      await Promise.all(workers.map((w) => w.kill()));
    }
  });
});

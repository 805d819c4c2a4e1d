// Every key of one resource must land in one Redis Cluster slot, whatever the resource's name: the lock
// scripts take several keys, and a cluster refuses a script whose keys hash to different slots (CROSSSLOT).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { LockManager } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";

const NAMES = ["orders:42", "}", "}x", "}}", "x}", "{a}b", "{}", "\u0000", "\u0000}x", "a{b}c", "}ünï{cødé}"];

describe("key names", () => {
  let nodes: RedisNodes;
  let node: Redis;
  before(async () => {
    // One cluster-enabled server that owns every slot: it refuses scripts whose keys span slots.
    const config = join(tmpdir(), `quorumlock-keys-${randomBytes(6).toString("hex")}.conf`);
    nodes = await startRedisNodes(1, {
      extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", config],
    });
    node = new Redis(nodes[0]!.url);
    await node.call("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
    for (const until = performance.now() + 10_000; ; await sleep(20)) {
      if (/cluster_state:ok/.test(String(await node.call("CLUSTER", "INFO")))) break;
      assert.ok(performance.now() < until, "the one-node cluster came up");
    }
  });
  after(async () => {
    node?.disconnect();
    await nodes?.stopAll();
  });

  it("every key and the channel of a resource hash to one slot, for any name (a leading } included)", async () => {
    for (const name of NAMES) {
      const keys = Object.values(mutexKeys("quorumlock:", name));
      const slots = await Promise.all(keys.map((k) => node.call("CLUSTER", "KEYSLOT", k)));
      assert.equal(new Set(slots).size, 1, `${JSON.stringify(name)}: ${keys.join(", ")} in slots ${slots}`);
    }
  });

  it("no two names share keys, and names without a leading } or NUL keep the keys they always had", () => {
    const locks = NAMES.map((name) => mutexKeys("quorumlock:", name).lock);
    assert.equal(new Set(locks).size, NAMES.length);
    assert.equal(mutexKeys("quorumlock:", "orders:42").lock, "quorumlock:{orders:42}");
    assert.equal(mutexKeys("quorumlock:", "{a}b").lock, "quorumlock:{{a}b}");
  });

  it("a resource that begins with } locks, fences and queues on a cluster-enabled server", async () => {
    const locks = new LockManager({ nodes: [nodes[0]!.url], wait: 0 });
    try {
      for (const fair of [false, true]) {
        const first = await locks.acquire("}x", { fair });
        assert.equal(await locks.tryAcquire("}x", { fair }), null);
        const fence = first.fence!;
        await first.release();
        const second = await locks.acquire("}x", { fair });
        assert.ok(second.fence! > fence);
        await second.release();
      }
    } finally {
      await locks.close();
    }
  });
});

// Split votes: two clients that each reach a different half of the nodes first, with the fifth node silent, each
// take two nodes and neither gets three. Retrying in step would split the vote again and again (each one's
// cleanup wakes the other at once); the random pause after a split must set them apart.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LockManager } from "../../src/index.js";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";

const T = { timeout: 60_000 };
const DELAY_MS = 30;

describe("split votes", () => {
  let nodes: RedisNodes;
  let proxies: { a: FaultProxy[]; b: FaultProxy[] };
  before(async () => {
    nodes = await startRedisNodes(5);
    const each = () => Promise.all(nodes.map((node) => startProxy(node)));
    proxies = { a: await each(), b: await each() };
  });
  after(async () => {
    for (const p of [...(proxies?.a ?? []), ...(proxies?.b ?? [])]) await p.close();
    await nodes?.stopAll();
  });

  it(
    "two clients that split the vote in step do not keep splitting it: both get the lock, one after the other",
    T,
    async () => {
      const options = { ttl: 3_000, nodeTimeout: 300, wait: 8_000 };
      const a = new LockManager({ nodes: proxies.a.map((p) => p.url), ...options });
      const b = new LockManager({ nodes: proxies.b.map((p) => p.url), ...options });
      // Connected, and the scripts loaded, before the delays: the rounds below are about the vote alone.
      for (const locks of [a, b]) await (await locks.acquire("split:warm-up")).release();
      // a is late to nodes 2 and 3, b to nodes 0 and 1; node 4 answers nobody.
      for (const i of [2, 3]) proxies.a[i]!.setMode({ kind: "delay", ms: DELAY_MS });
      for (const i of [0, 1]) proxies.b[i]!.setMode({ kind: "delay", ms: DELAY_MS });
      for (const p of [proxies.a[4]!, proxies.b[4]!]) p.setMode({ kind: "blackhole" });
      try {
        for (let round = 0; round < 5; round++) {
          const resource = `split:${round}`;
          const started = performance.now();
          const took: number[] = [];
          await Promise.all(
            [a, b].map(async (locks) => {
              const lease = await locks.acquire(resource);
              took.push(performance.now() - started);
              await lease.release();
            }),
          );
          // Each split costs about one node timeout (the silent node) plus its cleanup; a handful at most.
          assert.ok(took[0]! < 4_000, `round ${round}: the first holder waited ${took[0]!.toFixed(0)} ms`);
        }
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});

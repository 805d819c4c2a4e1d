// An acquire that the vote gave up on must never reach the node later. Drivers can resend commands that were in
// flight when a connection dropped (ioredis does by default); by then the failed acquire's cleanup has already
// failed ("not connected"), so a replayed acquire would take the lock for nobody, for a whole TTL.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { LockManager, type NodeSpec } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { valuesOn } from "../support/adapters.js";

type Injected = { name: string; open(url: string): Promise<{ spec: NodeSpec; close(): void }> };
const clients: Injected[] = [
  {
    // ioredis' defaults: autoResendUnfulfilledCommands, maxRetriesPerRequest 20.
    name: "ioredis with its default options",
    async open(url) {
      const client = new Redis(url);
      client.on("error", () => {});
      return { spec: client, close: () => client.disconnect() };
    },
  },
  {
    name: "node-redis with its default options",
    async open(url) {
      const client = createClient({ url });
      client.on("error", () => {});
      await client.connect();
      return { spec: client as unknown as NodeSpec, close: () => client.destroy() };
    },
  },
];

describe("injected clients never replay a lock command after a reconnect", () => {
  let nodes: RedisNodes;
  let proxy: FaultProxy;
  before(async () => {
    nodes = await startRedisNodes(1);
    proxy = await startProxy(nodes[0]!);
  });
  after(async () => {
    await proxy?.close();
    await nodes?.stopAll();
  });

  for (const injected of clients) {
    it(`${injected.name}: an acquire cut off by a reset leaves no key once the node is back`, {
      timeout: 30_000,
    }, async () => {
      const resource = `replay-${injected.name}`;
      const { spec, close } = await injected.open(proxy.url);
      const locks = new LockManager({ nodes: [spec], ttl: 20_000, nodeTimeout: 300 });
      try {
        await (await locks.acquire("warm-up")).release(); // the connection has been up
        proxy.setMode({ kind: "blackhole" });
        const attempt = locks.acquire(resource, { wait: 0 }).then(
          () => assert.fail("acquired through a black hole"),
          (error: unknown) => error,
        );
        await sleep(50); // the acquire is on the wire
        proxy.setMode({ kind: "reset" }); // the connection drops with the acquire unanswered
        assert.equal(((await attempt) as { code?: string }).code, "ERR_LOCK_UNAVAILABLE");
        await sleep(100); // the cleanup has failed: the connection is still down
        proxy.heal();
        // Once a lock command gets through again, anything resent on reconnect has been applied before it.
        for (let tries = 0; ; tries++) {
          const lease = await locks.tryAcquire("probe").catch(() => undefined);
          if (lease) {
            await lease.release();
            break;
          }
          assert.ok(tries < 100, "the connection came back");
          await sleep(50);
        }
        assert.deepEqual(await valuesOn([nodes[0]!.url], mutexKeys("quorumlock:", resource).lock), [null]);
      } finally {
        await locks.close();
        close();
      }
    });
  }
});

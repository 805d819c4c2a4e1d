// A lease's token is the right to extend and release it: no error or event quorumlock produces may carry one,
// whatever the driver attaches to its own errors (ioredis puts the command's arguments on error replies).
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { CHANNELS, type Lease, LockManager, type NodeSpec } from "../../src/index.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { inspector } from "../support/adapters.js";

/** Tokens are 160 random bits in base64url: 27 characters. */
const TOKEN_LIKE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])/g;

/** Everything a user could log about a failure: the error in depth, its nodes, its cause. */
function logged(error: unknown): string {
  const e = error as { nodes?: unknown; cause?: unknown };
  return [
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(e.nodes, (_, value) => (value instanceof Error ? inspect(value, { depth: 10 }) : value)),
    inspect(e.cause, { depth: 10, showHidden: true }),
  ].join("\n");
}

type Driver = { name: string; specs(urls: string[]): Promise<{ specs: NodeSpec[]; close(): void }> };
const drivers: Driver[] = [
  { name: "ioredis from URLs", specs: async (urls) => ({ specs: urls, close: () => {} }) },
  {
    name: "injected ioredis",
    async specs(urls) {
      const clients = urls.map((url) => new Redis(url));
      return {
        specs: clients,
        close: () => {
          for (const c of clients) c.disconnect();
        },
      };
    },
  },
  {
    name: "injected node-redis",
    async specs(urls) {
      const clients = urls.map((url) => createClient({ url }));
      for (const c of clients) c.on("error", () => {});
      await Promise.all(clients.map((c) => c.connect()));
      return {
        specs: clients as unknown as NodeSpec[],
        close: () => {
          for (const c of clients) c.destroy();
        },
      };
    },
  },
];

describe("no error or event carries a lock token", () => {
  let nodes: RedisNodes;
  let gone: RedisNodes;
  before(async () => {
    [nodes, gone] = await Promise.all([startRedisNodes(3), startRedisNodes(1)]);
    await gone.stopAll(); // a master that no longer exists, as after a failover
  });
  after(() => nodes?.stopAll());

  /** Turns nodes 1 and 2 into replicas (read-only, keeping their data), and back into masters afterwards. */
  async function readOnly<T>(fn: () => Promise<T>): Promise<T> {
    const admin = nodes.slice(1).map((n) => inspector(n.url));
    try {
      await Promise.all(admin.map((a) => a.call("REPLICAOF", "127.0.0.1", String(gone[0]!.port))));
      return await fn();
    } finally {
      await Promise.all(admin.map((a) => a.call("REPLICAOF", "NO", "ONE")));
      for (const a of admin) a.disconnect();
    }
  }

  for (const driver of drivers) {
    it(`${driver.name}: acquire, extend and release on read-only nodes fail without the token`, {
      timeout: 20_000,
    }, async () => {
      const { specs, close } = await driver.specs(nodes.map((n) => n.url));
      const locks = new LockManager({ nodes: specs, ttl: 10_000 });
      const events: unknown[] = [];
      const onNodeError = (event: unknown) => events.push(event);
      subscribe(CHANNELS.nodeError, onNodeError);
      try {
        const lease: Lease = await locks.acquire(`readonly-${driver.name}`);
        const failures = await readOnly(async () => [
          await locks.acquire(`readonly-other-${driver.name}`, { wait: 0 }).then(
            () => assert.fail("acquired on one writable node of three"),
            (error: unknown) => error,
          ),
          await lease.extend(10_000).then(
            () => assert.fail("extended on one writable node of three"),
            (error: unknown) => error,
          ),
          await lease.release().then(
            () => assert.fail("released on one writable node of three"),
            (error: unknown) => error,
          ),
        ]);
        for (const failure of failures) {
          assert.equal((failure as { code?: string }).code, "ERR_LOCK_UNAVAILABLE", String(failure));
          assert.match(String(failure), /READONLY/, "the node's own reason is kept");
        }
        assert.ok(events.length >= 6, `node errors were published (${events.length})`);
        const text = [...failures.map(logged), ...events.map((e) => inspect(e, { depth: 10 }))].join("\n");
        assert.ok(!text.includes(lease.token), "the live lease's token appears nowhere");
        assert.deepEqual(text.match(TOKEN_LIKE) ?? [], [], "nor does any other token");
      } finally {
        unsubscribe(CHANNELS.nodeError, onNodeError);
        await locks.close();
        close();
      }
    });
  }
});

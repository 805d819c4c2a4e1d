import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { CHANNELS, LockManager } from "../../src/index.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { whenAborted } from "../support/adapters.js";

describe("lock events on node:diagnostics_channel", () => {
  let nodes: RedisNodes;
  const seen: { channel: string; event: Record<string, unknown> }[] = [];
  const listeners = Object.values(CHANNELS).map((channel) => {
    const listener = (event: unknown) => seen.push({ channel, event: event as Record<string, unknown> });
    return [channel, listener] as const;
  });

  before(async () => {
    nodes = await startRedisNodes(3);
    for (const [channel, listener] of listeners) subscribe(channel, listener);
  });
  after(async () => {
    for (const [channel, listener] of listeners) unsubscribe(channel, listener);
    await nodes?.stopAll();
  });

  it("publishes acquired, extended, released and lost, and never the token", {
    timeout: 10_000,
  }, async () => {
    const locks = new LockManager({ nodes: nodes.urls() });
    try {
      seen.length = 0;
      const lease = await locks.acquire("events", { ttl: 1_000 });
      await lease.extend(2_000);
      await lease.release();
      const short = await locks.acquire("events", { ttl: 100 });
      await whenAborted(short.signal);
      assert.deepEqual(
        seen.map((s) => s.channel),
        [CHANNELS.acquired, CHANNELS.extended, CHANNELS.released, CHANNELS.acquired, CHANNELS.lost],
      );
      assert.equal(seen[0]!.event.resource, "events");
      assert.equal(seen[0]!.event.fence, lease.fence);
      assert.equal(seen[1]!.event.ttl, 2_000);
      assert.equal(seen[1]!.event.automatic, false);
      assert.equal((seen[4]!.event.reason as Error).name, "LockLostError");
      const text = JSON.stringify(seen.map((s) => ({ ...s.event, reason: String(s.event.reason) })));
      assert.ok(!text.includes(lease.token) && !text.includes(short.token), "no token in any event");
    } finally {
      await locks.close();
    }
  });

  it("publishes node-error for a node that is down, while the lock still works on the others", {
    timeout: 10_000,
  }, async () => {
    const locks = new LockManager({ nodes: nodes.urls(), nodeTimeout: 200 });
    try {
      await nodes[2]!.kill();
      seen.length = 0;
      const lease = await locks.acquire("events-down");
      await lease.release();
      const errors = seen.filter((s) => s.channel === CHANNELS.nodeError).map((s) => s.event);
      assert.ok(errors.length >= 1);
      assert.equal(errors[0]!.node, `127.0.0.1:${nodes[2]!.port}`);
      assert.equal(errors[0]!.operation, "acquire");
      assert.equal(errors[0]!.key, "quorumlock:{events-down}");
      assert.ok(errors[0]!.error instanceof Error);
    } finally {
      await locks.close();
    }
  });
});

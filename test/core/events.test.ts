import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CHANNELS, LockManager } from "../../src/index.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { inspector, whenAborted } from "../support/adapters.js";
import { QUICK } from "../support/timeouts.js";

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

  it("publishes acquired, extended, released and lost, and never the token", QUICK, async () => {
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

  it(
    "publishes node-error for a node whose error arrives after the vote was decided without it",
    QUICK,
    async () => {
      const locks = new LockManager({ nodes: nodes.urls(), nodeTimeout: 2_000 });
      const admin = inspector(nodes[2]!.url);
      try {
        await (await locks.acquire("events-warm-up")).release(); // connections are up before the pause
        await admin.call("REPLICAOF", "127.0.0.1", "1"); // read-only: its acquire script fails
        seen.length = 0;
        nodes[2]!.pause();
        const lease = await locks.acquire("events-late"); // decided by nodes 0 and 1
        nodes[2]!.resume();
        const deadline = Date.now() + 2_000;
        const acquireErrors = () =>
          seen.filter((s) => s.channel === CHANNELS.nodeError && s.event.operation === "acquire");
        while (acquireErrors().length === 0 && Date.now() < deadline) await sleep(20);
        assert.equal(acquireErrors().length, 1, "the late failure of node 2 is reported once");
        assert.equal(acquireErrors()[0]!.event.node, `127.0.0.1:${nodes[2]!.port}`);
        await lease.release();
      } finally {
        nodes[2]!.resume();
        await admin.call("REPLICAOF", "NO", "ONE");
        admin.disconnect();
        await locks.close();
      }
    },
  );

  it(
    "publishes node-error for a node that is down, while the lock still works on the others",
    QUICK,
    async () => {
      const locks = new LockManager({ nodes: nodes.urls(), nodeTimeout: 200 });
      try {
        await nodes[2]!.kill();
        seen.length = 0;
        const lease = await locks.acquire("events-down");
        await lease.release();
        // The acquire was decided by nodes 0 and 1; node 2's failure (refused, or timed out after 200 ms) is
        // reported when it arrives, which may be after the release's own failure on node 2.
        const errors = () =>
          seen
            .filter((s) => s.channel === CHANNELS.nodeError && s.event.operation === "acquire")
            .map((s) => s.event);
        const deadline = Date.now() + 2_000;
        while (errors().length === 0 && Date.now() < deadline) await sleep(20);
        assert.ok(errors().length >= 1, "the acquire's failure on node 2 is reported");
        const [error] = errors();
        assert.equal(error!.node, `127.0.0.1:${nodes[2]!.port}`);
        assert.equal(error!.key, "quorumlock:{events-down}");
        assert.ok(error!.error instanceof Error);
      } finally {
        await locks.close();
      }
    },
  );
});

// How many attempts a contended acquire costs, counted by the server (INFO commandstats): a waiter on one node
// queues in the attempt that finds the lock busy, and one that listens already needs no attempt to cover the
// gap between that attempt and its wait, so a release costs the waiter one more attempt, not two.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LockManager } from "../../src/index.js";
import { inspector } from "../support/adapters.js";
import { fresh } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

describe("attempts per contended acquire", () => {
  const one = useNodes(1);

  it("one node: busy, queued, woken, taken: two attempts by the waiter", T, async () => {
    const resource = fresh("attempts");
    const holder = new LockManager({ nodes: one.urls() });
    const waiter = new LockManager({ nodes: one.urls() });
    const admin = inspector(one.urls()[0]!);
    const evalsha = async () =>
      Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0);
    try {
      // A first round subscribes the waiter's manager to the resource's channel (it lingers afterwards).
      let held = await holder.acquire(resource);
      let waiting = waiter.acquire(resource, { wait: 5_000 });
      await held.release();
      await (await waiting).release();

      held = await holder.acquire(resource);
      await admin.config("RESETSTAT");
      waiting = waiter.acquire(resource, { wait: 5_000 });
      // Released once the waiter is queued (the queue holds its id), so that its first attempt found it busy.
      const queue = `quorumlock:{${resource}}:waiting`;
      while ((await admin.zcard(queue)) === 0) await new Promise((r) => setTimeout(r, 2));
      await held.release();
      await (await waiting).release();
      // The waiter's busy attempt, the holder's release, the waiter's winning attempt and its release.
      assert.equal(await evalsha(), 4);
    } finally {
      admin.disconnect();
      await Promise.all([holder.close(), waiter.close()]);
    }
  });
});

// A client whose event loop is blocked (a long synchronous task, a GC pause, a starved CPU) while its requests
// are in flight: the nodes answer in time, but the replies wait in the socket until the loop runs again, and the
// loop's timers phase comes before its I/O. The node timeouts must not fire before those replies are read: a
// busy client is not an unavailable cluster.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LockManager } from "../../src/index.js";
import { fresh as freshName } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

const NODE_TIMEOUT = 100;
const BLOCKED_MS = 3 * NODE_TIMEOUT;

/** Blocks the event loop for `ms`. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // nothing: no timer, no I/O runs meanwhile
  }
}

/**
 * Starts `work` and blocks the loop once its requests are written: in the check phase of this turn of the loop,
 * which follows this turn's I/O (the caller must come from an I/O callback, e.g. just after awaiting a reply), so
 * no reply is read before the block. ioredis writes a command to its socket when it is sent. (node-redis writes
 * in a setImmediate of its own, which may come after this one: the block would then delay the request itself,
 * and the node timeout would be the request's, not a reply's. So this runs over ioredis alone.)
 */
async function blockedDuring<T>(work: () => Promise<T>): Promise<T> {
  const running = work();
  running.catch(() => {}); // judged below, after the block
  await new Promise((resolve) => setImmediate(resolve));
  block(BLOCKED_MS);
  return running;
}

describe("a blocked event loop while requests are in flight (ioredis, 5 nodes)", () => {
  const five = useNodes(5);
  let locks: LockManager;
  const fresh = () => freshName("blocked");
  before(async () => {
    locks = new LockManager({ nodes: five.urls(), ttl: 10_000, nodeTimeout: NODE_TIMEOUT });
    // Connections open and every script run once (a connection sends a script's source the first time): the calls
    // below send short commands at once.
    // Retried: a first request on a loaded machine may miss the short node timeout (connecting, loading).
    for (let tries = 1; ; tries++) {
      try {
        const lease = await locks.acquire(fresh());
        await lease.extend();
        await lease.release();
        break;
      } catch (error) {
        if (tries === 10) throw error;
      }
    }
  });
  after(async () => {
    await locks.close();
  });

  it(
    "acquire, extend and release count the replies that came in time, not the node timeouts",
    T,
    async () => {
      const resource = fresh();
      await locks.tryAcquire(fresh()).then((l) => l?.release()); // from an I/O callback
      const lease = await blockedDuring(() => locks.acquire(resource));
      assert.ok(lease.valid, "a lease, its validity measured from the request's start");
      assert.ok(lease.remainingMs <= 10_000 - BLOCKED_MS, `${lease.remainingMs} ms left`);

      await blockedDuring(() => lease.extend(10_000));
      assert.ok(lease.valid, "extended");

      await blockedDuring(() => lease.release());
      assert.equal(lease.valid, false);
      const again = await locks.tryAcquire(resource);
      assert.ok(again, "released on every node: free again");
      await again.release();
    },
  );
});

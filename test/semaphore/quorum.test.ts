// Why a quorum semaphore needs more than a majority, shown on real nodes, and the arithmetic behind it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager, LockUnavailableError } from "../../src/index.js";
import { semaphoreQuorum } from "../../src/semaphore/index.js";
import { semaphoreKeys } from "../../src/semaphore/keys.js";
import { type Hold, HoldLog } from "../harness/checker.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import { inspect } from "../support/adapters.js";

describe("the semaphore's quorum", () => {
  it("is the fewest nodes q with (limit+1)·q > N·limit: limit+1 leases cannot fit on N nodes", () => {
    for (let n = 1; n <= 9; n++) {
      for (let limit = 1; limit <= 12; limit++) {
        const q = semaphoreQuorum(n, limit);
        assert.ok(q <= n, `N ${n}, limit ${limit}: q ${q} exceeds the nodes`);
        assert.ok((limit + 1) * q > n * limit, `N ${n}, limit ${limit}: q ${q} lets limit+1 leases fit`);
        assert.ok((limit + 1) * (q - 1) <= n * limit, `N ${n}, limit ${limit}: q ${q} is more than needed`);
      }
    }
    assert.equal(semaphoreQuorum(5, 1), 3, "limit 1: the majority, as the mutex");
    assert.equal(semaphoreQuorum(3, 2), 3);
    assert.equal(semaphoreQuorum(5, 2), 4);
    assert.equal(semaphoreQuorum(5, 4), 5);
    assert.equal(semaphoreQuorum(1, 2 ** 31 - 1), 1);
    assert.equal(semaphoreQuorum(5, 2 ** 31 - 1), 5);
  });

  describe("on 3 nodes with limit 2 (q = 3)", () => {
    let nodes: RedisNodes;
    let locks: LockManager;
    before(async () => {
      nodes = await startRedisNodes(3);
      locks = new LockManager({ nodes: nodes.urls(), nodeTimeout: 200 });
    });
    after(async () => {
      await locks?.close();
      await nodes?.stopAll();
    });

    it("a permit granted by a majority but not by every node is no permit, and leaves nothing behind", async () => {
      // Leases A{1,2} and B{2,3} fill node 2 … here: two other holders fill node 3 alone. Nodes 1 and 2 grant a
      // majority; a third lease on them would be the C{1,3}-style overlap that puts 3 permits in use.
      const name = `sem-majority:${process.pid}`;
      const keys = semaphoreKeys("quorumlock:", name);
      const sem = locks.semaphore(name, { limit: 2 });
      assert.equal(sem.quorum, 3);
      await inspect([nodes[2]!.url], async ([node]) => {
        const until = Date.now() + 60_000;
        await node!.zadd(keys.holders, until, "other-1", until, "other-2");
        await node!.hset(keys.permits, "other-1", 1, "other-2", 1, ":used", 2, ":limit", 2);
      });
      assert.equal(await sem.tryAcquire(), null);
      const holders = await inspect(nodes.urls(), (all) =>
        Promise.all(all.map((n) => n.zrange(keys.holders, 0, -1))),
      );
      assert.deepEqual(holders, [[], [], ["other-1", "other-2"]]);
    });

    it("with a node down, no permit can be granted (N − q = 0), and the error says the nodes failed", async () => {
      const sem = locks.semaphore(`sem-down:${process.pid}`, { limit: 2 });
      nodes[1]!.pause();
      try {
        await assert.rejects(sem.acquire({ wait: 1_000 }), (error: LockUnavailableError) => {
          assert.ok(error instanceof LockUnavailableError);
          assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
          return true;
        });
        const mutexLike = locks.semaphore(`sem-down-1:${process.pid}`, { limit: 1 });
        const lease = await mutexLike.acquire({ wait: 1_000 });
        assert.ok(lease.valid, "limit 1 needs a majority only, as the mutex");
        await lease.release();
      } finally {
        nodes[1]!.resume();
      }
    });
  });
});

describe("waiters ahead, on a quorum where more than 16 leases hold (the walk looks each holder up alone)", () => {
  let nodes: RedisNodes;
  let locks: LockManager;
  before(async () => {
    nodes = await startRedisNodes(3);
    locks = new LockManager({ nodes: nodes.urls() });
  });
  after(async () => {
    await locks?.close();
    await nodes?.stopAll();
  });

  for (const holding of [8, 18]) {
    it(`${holding} holders of 20: a waiter wanting more than is free keeps newcomers off the permits it needs`, async () => {
      const name = `sem-ahead-${holding}:${process.pid}`;
      const keys = semaphoreKeys("quorumlock:", name);
      const sem = locks.semaphore(name, { limit: 20 });
      const held = [];
      for (let i = 0; i < holding; i++) held.push(await sem.acquire());
      const wanted = 20 - holding + 1;
      const waiting = sem.acquire({ permits: wanted, wait: 10_000 });
      await inspect(nodes.urls(), async (all) => {
        for (const node of all) while ((await node.zcard(keys.waiting)) === 0) await sleep(2);
      });
      // One permit short for the waiter; a newcomer's fits what is free, but would take what the waiter needs.
      assert.equal(await sem.tryAcquire({ permits: wanted - 1 }), null);
      await held.pop()!.release();
      const lease = await waiting;
      assert.ok(lease.valid);
      await lease.release();
      for (const h of held) await h.release();
    });
  }
});

describe("the checker's semaphore checks", () => {
  const at = (ms: number) => BigInt(ms) * 1_000_000n;
  const hold = (worker: string, from: number, to: number, extra: Partial<Hold> = {}): Hold => ({
    worker,
    start: at(from),
    end: at(to),
    ...extra,
  });

  it("counts permits held at once against the limit", () => {
    const log = new HoldLog();
    log.record(hold("a", 0, 10, { permits: 2 }));
    log.record(hold("b", 5, 15));
    assert.deepEqual(log.crowds(3), []);
    log.record(hold("c", 9, 12));
    assert.deepEqual(
      log.crowds(3).map((c) => [Number(c.at / 1_000_000n), c.permits]),
      [[9, 4]],
    );
    log.record(hold("d", 15, 20, { permits: 3 })); // starts as b ends: half-open intervals
    assert.equal(log.crowds(3).length, 1);
    assert.equal(log.mostAtOnce(), 4);
    assert.throws(() => log.assertWithin(3), /limit 3 violated/);
  });

  it("wants a higher fence from a hold asked for after another ended, and nothing of concurrent ones", () => {
    const log = new HoldLog();
    log.record(hold("a", 0, 10, { fence: 7, asked: at(0) }));
    log.record(hold("b", 8, 12, { fence: 5, asked: at(1) })); // granted before a ended: any order
    log.record(hold("c", 20, 25, { fence: 8, asked: at(11) }));
    assert.deepEqual(log.fencesAfterAsked(), []);
    log.assertWithin(2);
    log.record(hold("d", 30, 31, { fence: 8, asked: at(26) }));
    assert.equal(log.fencesAfterAsked().length, 1);
    assert.throws(() => log.assertWithin(2), /no higher fence/);
  });
});

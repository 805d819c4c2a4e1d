// How many attempts a contended acquire costs, counted by the server (INFO commandstats) or, per script, at the
// waiter's client (the fault suite's spy): a waiter queues in the attempt that finds the lock busy, and one that
// listens already needs no attempt to cover the gap between that attempt and its wait, so a release costs the
// waiter one more attempt, not two; on one node none, once it has waited long enough to be handed the lock. And
// what an uncontended lock and permit cost the server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockManager } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { STARVING_MS } from "../../src/mutex/release.js";
import { acquire as acquireScript, release as releaseScript } from "../../src/mutex/scripts.generated.js";
import {
  release as semaphoreRelease,
  acquire as semaphoreScript,
} from "../../src/semaphore/scripts.generated.js";
import { spiedNodes } from "../faults/support/spy.js";
import { inspector } from "../support/adapters.js";
import { fresh } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

describe("attempts per contended acquire", () => {
  const one = useNodes(1);
  const five = useNodes(5);

  /** Calls of `command` the node served since its stats were last reset (INFO commandstats). */
  const commandCalls = async (admin: ReturnType<typeof inspector>, command: string): Promise<number> =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await admin.info("commandstats"))?.[1] ?? 0);

  /**
   * One node: a holder, a waiter in another manager that queues, and a release `waited` ms after it queued; then
   * `check(held, value)` with the lock's value just after the release. Returns the scripts the node ran from the
   * waiter's first attempt to its release, that value, and how long after the waiter's arrival (µs, the server's
   * clock) the release had run at the latest.
   */
  async function oneNodeRound(
    waited: number,
    check: (held: Lease, value: string | null, lease: Lease) => Promise<void> | void,
  ): Promise<{ scripts: number; value: string | null; late: number }> {
    const resource = fresh("attempts");
    const holder = new LockManager({ nodes: one.urls() });
    const waiter = new LockManager({ nodes: one.urls() });
    const admin = inspector(one.urls()[0]!);
    const queue = `quorumlock:{${resource}}:waiting`;
    try {
      // A first round subscribes the waiter's manager to the resource's channel (it lingers afterwards).
      let held = await holder.acquire(resource);
      let waiting = waiter.acquire(resource, { wait: 5_000 });
      while ((await admin.zcard(queue)) === 0) await sleep(2);
      await held.release();
      await (await waiting).release();

      held = await holder.acquire(resource);
      await admin.config("RESETSTAT");
      waiting = waiter.acquire(resource, { wait: 5_000 });
      // Released once the waiter is queued (the queue holds its id), so that its first attempt found it busy.
      while ((await admin.zcard(queue)) === 0) await sleep(2);
      const arrival = Number((await admin.zrange(queue, 0, 0, "WITHSCORES"))[1]);
      if (waited > 0) await sleep(waited);
      await held.release();
      const value = await admin.get(`quorumlock:{${resource}}`);
      // Read after the release's reply: the release ran before this clock reading.
      const [seconds, micros] = await admin.time();
      const late = Number(seconds) * 1e6 + Number(micros) - arrival;
      const lease = await waiting;
      await check(held, value, lease);
      await lease.release();
      return { scripts: await commandCalls(admin, "evalsha"), value, late };
    } finally {
      admin.disconnect();
      await Promise.all([holder.close(), waiter.close()]);
    }
  }

  it("one node: busy, queued, woken, taken: two attempts by the waiter", T, async () => {
    // Released at once: freed, and the woken waiter takes it. Only a release that ran less than STARVING_MS after
    // the waiter's arrival (by the server's clock) shows this; on a slow machine a round may come later, and the
    // lock is handed over instead (the next test), so such a round is run again (five rounds at most).
    for (let round = 0; round < 5; round++) {
      const { scripts, value, late } = await oneNodeRound(0, () => {});
      if (late >= STARVING_MS * 1000) continue;
      assert.equal(value, null, `released ${late} µs after the waiter's arrival`);
      // The waiter's busy attempt, the holder's release, the waiter's winning attempt and its release.
      assert.equal(scripts, 4);
      return;
    }
    assert.fail(`five rounds in a row released ${STARVING_MS} ms or more after the waiter's arrival`);
  });

  it("one node: a waiter that waited long is handed the lock: one attempt by the waiter", T, async () => {
    const { scripts } = await oneNodeRound(20, (held, value, lease) => {
      // Set to the waiter's token by the release itself: never free in between, nothing for the waiter to take.
      assert.equal(value, lease.token);
      assert.equal(lease.fence, held.fence! + 1);
      assert.ok(lease.remainingMs > 29_000, `${lease.remainingMs} ms left`);
    });
    // The waiter's busy attempt (which queued it), the holder's release (which handed the lock over), its release.
    assert.equal(scripts, 3);
  });

  for (const fair of [false, true]) {
    it(
      `one node, ${fair ? "fair" : "default"} mode: an attempt that finds the lock held does not look for readers`,
      T,
      async () => {
        // Readers never hold while the lock key exists (rwlock/acquire.lua refuses then), so an attempt that finds it
        // held needs no EXISTS of the readers: that is most of the attempts when the lock is contended. Counted on
        // tryAcquire, whose attempt takes the same path as a waiting call's first one: a waiting call's later
        // attempts (the one right after it subscribes, say) would come in at times the test does not choose.
        const resource = fresh("busy-no-readers");
        const holder = new LockManager({ nodes: one.urls(), fair });
        const waiter = new LockManager({ nodes: one.urls(), fair });
        const admin = inspector(one.urls()[0]!);
        try {
          const held = await holder.acquire(resource);
          await admin.config("RESETSTAT");
          assert.equal(await waiter.tryAcquire(resource), null);
          assert.equal(await waiter.tryAcquire(resource), null);
          // (A manager's first call of a script sends it whole, EVAL; later calls EVALSHA.)
          assert.equal(
            (await commandCalls(admin, "eval")) + (await commandCalls(admin, "evalsha")),
            2,
            "two refused attempts",
          );
          assert.equal(await commandCalls(admin, "exists"), 0);
          await held.release();
        } finally {
          admin.disconnect();
          await Promise.all([holder.close(), waiter.close()]);
        }
      },
    );
  }

  it(
    "one node: a queued waiter's attempt looks for readers only when the lock is free or kept for it",
    T,
    async () => {
      // The same exclusion as above, on a waiter's later attempts (sent here as the driver sends them: "0", already
      // queued; lifetime 0, no refresh due). A key that exists, held by another or kept for another waiter, means no
      // reader holds; a free lock, or one kept for this waiter, may have readers and is looked at.
      const resource = fresh("queued-no-readers");
      const keys = mutexKeys("quorumlock:", resource);
      const scriptKeys = [keys.lock, keys.fence, keys.waiting, keys.heartbeats, keys.readers];
      const holder = new LockManager({ nodes: one.urls() });
      const admin = inspector(one.urls()[0]!);
      const attempt = () =>
        admin.eval(
          acquireScript.source,
          5,
          ...scriptKeys,
          "waiter-token",
          10_000,
          "1",
          "0:0::w.1",
        ) as Promise<number | number[]>;
      const looked = async (expected: unknown, what: string) => {
        await admin.config("RESETSTAT");
        const reply = await attempt();
        assert.equal(Array.isArray(reply) ? reply[0] : "taken", expected, what);
        return commandCalls(admin, "exists");
      };
      try {
        const held = await holder.acquire(resource);
        assert.equal(await looked(0, "held by another: refused"), 0);
        await held.release();
        await admin.set(keys.lock, "r:w.2", "PX", 10_000);
        assert.equal(await looked(0, "kept for another waiter: refused"), 0);
        await admin.set(keys.lock, "r:w.1", "PX", 10_000);
        assert.equal(await looked("taken", "kept for this waiter: taken"), 1);
        await admin.del(keys.lock);
        assert.equal(await looked("taken", "free: taken"), 1);
      } finally {
        admin.disconnect();
        await holder.close();
      }
    },
  );

  for (const fencing of [true, false]) {
    it(
      `five nodes: a manager that saw the nodes' clock lately queues in its first busy attempt, at one arrival on every node; ${fencing ? "the release hands it the lock" : "without fencing, the release keeps the lock for it and its next attempt takes it"}`,
      T,
      async () => {
        const resource = fresh("attempts-5");
        const urls = five.urls();
        const holder = new LockManager({ nodes: urls });
        const spy = spiedNodes(urls);
        const calls = () => spy.calls(acquireScript.sha1);
        const waiter = new LockManager({ nodes: spy.clients, fencing });
        const admins = urls.map(inspector);
        const queue = `quorumlock:{${resource}}:waiting`;
        const queued = async () => {
          for (const admin of admins) while ((await admin.zcard(queue)) === 0) await sleep(2);
        };
        // What node 0 publishes for the waiter: a hand-off ("h:…") or a wake-up ("w:…").
        const watcher = inspector(urls[0]!);
        const kinds: string[] = [];
        watcher.on("pmessage", (_pattern: string, _channel: string, message: string) =>
          kinds.push(message[0]!),
        );
        await watcher.psubscribe(`${mutexKeys("quorumlock:", resource).channel}*`);
        try {
          // A first round subscribes the waiter's manager to the resource's channel and shows it the nodes' clock.
          let held = await holder.acquire(resource);
          let waiting = waiter.acquire(resource, { wait: 5_000 });
          await queued();
          await held.release();
          await (await waiting).release();

          // Votes settle on a quorum: a release may reach the last nodes later, and an acquire sent before it would
          // be refused there. So the counted round starts from a lock free on every node, held on every node.
          const lock = `quorumlock:{${resource}}`;
          for (const admin of admins) while ((await admin.exists(lock)) === 1) await sleep(2);
          held = await holder.acquire(resource);
          for (const admin of admins) while ((await admin.get(lock)) !== held.token) await sleep(2);
          const before = calls();
          const releases = spy.calls(releaseScript.sha1);
          kinds.length = 0;
          waiting = waiter.acquire(resource, { wait: 5_000 });
          await queued();
          const places = await Promise.all(admins.map((a) => a.zrange(queue, 0, -1, "WITHSCORES")));
          assert.equal(new Set(places.map((p) => p.join(" "))).size, 1, `one place: ${places.join(" | ")}`);
          assert.equal(calls() - before, 5, "queued by its first attempt");
          // Waited long enough for each node's release to hand it the lock (or keep it for it, without fencing).
          await sleep(STARVING_MS * 2);
          await held.release();
          await (await waiting).release();
          // The busy attempt that queued it, on each node; without fencing, the one that takes the kept lock too.
          assert.equal(calls() - before, fencing ? 5 : 10);
          assert.deepEqual(kinds, [fencing ? "h" : "w"], "what node 0 published for the waiter");
          // And its release on each node: no undo of the busy attempt, which every node refused (its vote waited
          // for all five replies rather than undo blindly where two were still on their way).
          assert.equal(spy.calls(releaseScript.sha1) - releases, 5);
        } finally {
          watcher.disconnect();
          for (const admin of admins) admin.disconnect();
          await Promise.all([holder.close(), waiter.close()]);
          spy.close();
        }
      },
    );
  }
  for (const [count, fencing] of [
    [1, true],
    [5, true],
    [5, false],
  ] as const) {
    it(
      count === 1
        ? "semaphore, 1 node: a waiter queues in its first busy attempt and the release hands it the permit"
        : fencing
          ? `semaphore, ${count} nodes: a waiter queues in its first busy attempt and each node's release hands it the permit`
          : `semaphore, ${count} nodes, without fencing: a waiter queues in its first busy attempt and takes the permit in the next`,
      T,
      async () => {
        const name = fresh(`attempts-semaphore-${count}-${fencing}`);
        const urls = (count === 1 ? one : five).urls();
        const holder = new LockManager({ nodes: urls });
        const spy = spiedNodes(urls);
        const calls = () => spy.calls(semaphoreScript.sha1);
        const waiter = new LockManager({ nodes: spy.clients, fencing });
        const admins = urls.map(inspector);
        const queue = `quorumlock:{${name}}:semaphore:waiting`;
        const holders = `quorumlock:{${name}}:semaphore`;
        const queued = async () => {
          for (const admin of admins) while ((await admin.zcard(queue)) === 0) await sleep(2);
        };
        try {
          // A first round subscribes the waiter's manager and (on five nodes) shows it the nodes' clock. On five
          // nodes the woken attempt can reach a node before the holder's release does (the release settles on a
          // quorum); if that splits its vote, the undo and the next attempt are legitimate but not the path counted
          // here, so such a round is not checked, and a counted one is run again (three at most). So is a round in
          // which a fencing waiter heard the third node's hand-off only after it stopped gathering them (twice its
          // last attempt's time, at least 5 ms: on a loaded machine the five messages can spread wider) and made an
          // attempt, which takes the handed permits as granted.
          const expected = count === 1 ? 2 : fencing ? count : 2 * count;
          let counted = false;
          for (const round of ["warm", "counted", "counted", "counted"]) {
            if (counted) break;
            // Every node free, then held on every node (see the mutex test above).
            for (const admin of admins) while ((await admin.exists(holders)) === 1) await sleep(2);
            const held = await holder.semaphore(name, { limit: 1 }).acquire();
            for (const admin of admins) {
              while ((await admin.zscore(holders, held.token)) === null) await sleep(2);
            }
            const before = calls();
            const waiting = waiter.semaphore(name, { limit: 1 }).acquire({ wait: 5_000 });
            await queued();
            if (round === "counted") assert.equal(calls() - before, count, "queued by its first attempt");
            const drops = spy.calls(semaphoreRelease.sha1);
            await held.release();
            const granted = await waiting;
            // (The warm round too: its undo's releases would be counted as drops below.)
            if (calls() - before > expected) {
              await granted.release();
              for (const admin of admins) while ((await admin.zcard(queue)) > 0) await sleep(2);
              continue;
            }
            if (count === 1) {
              // One node: the release handed the permit over (fence bumped for it) and dropped the waiter's place,
              // with no request of the waiter's own to drop it.
              assert.ok(granted.fence! > held.fence!, "a fence above the releaser's");
              assert.equal(await admins[0]!.zcard(queue), 0, "the granted waiter left the queue");
              await sleep(50);
              assert.equal(spy.calls(semaphoreRelease.sha1), drops, "no separate request to drop the place");
            } else {
              // Quorum mode: the place is dropped now only on the nodes that did not grant (at most N - q = 2 of
              // 5 for limit 1); where the waiter holds, it is skipped until its release drops it.
              await sleep(50);
              assert.ok(spy.calls(semaphoreRelease.sha1) - drops <= 2, "drops only where it did not grant");
            }
            await granted.release();
            if (round === "counted") {
              if (count === 1) {
                assert.equal(calls() - before, 1, "then handed the permit, without asking again");
                // Nothing of the hand-off is left once the permit is freed.
                assert.equal(await admins[0]!.exists(`${holders}:permits`), 0, "the permits hash is gone");
              } else if (fencing) {
                assert.equal(
                  calls() - before,
                  count,
                  "then handed the permit by a quorum, without asking again",
                );
                assert.ok(granted.fence! > held.fence!, "a fence above the releaser's");
              } else assert.equal(calls() - before, 2 * count, "then woken and granted");
              counted = true;
            }
            for (const admin of admins) while ((await admin.zcard(queue)) > 0) await sleep(2);
          }
          assert.ok(
            counted,
            "three counted rounds in a row took another path (a split vote, or a late hand-off)",
          );
        } finally {
          for (const admin of admins) admin.disconnect();
          await Promise.all([holder.close(), waiter.close()]);
          spy.close();
        }
      },
    );
  }

  it(
    "uncontended, one node: a lock (fencing on) costs the server 8 commands, a semaphore permit 12, their scripts' calls included",
    T,
    async () => {
      const locks = new LockManager({ nodes: one.urls() });
      const admin = inspector(one.urls()[0]!);
      /** Commands the node ran for one acquire + release, after one that created the resource's fence counter. */
      const commandsFor = async (once: () => Promise<void>): Promise<number> => {
        await once();
        await admin.config("RESETSTAT");
        await once();
        const stats = (await admin.info("commandstats")) as string;
        return [...stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)]
          .filter(([, name]) => name !== "info" && !name!.startsWith("config"))
          .reduce((n, [, , calls]) => n + Number(calls), 0);
      };
      try {
        const resource = fresh("uncontended");
        // Acquire: the script, SET NX, readers of the same name, the fence's INCR. Release: the script, compare,
        // nobody waiting (one EXISTS for both queues), delete; returned before the shared Lua is even defined.
        assert.equal(await commandsFor(async () => (await locks.acquire(resource)).release()), 8);
        const permits = locks.semaphore(fresh("uncontended-sem"), { limit: 3 });
        // Acquire: the script, one EXISTS for the permits in use and the queue, the fence, the clock, the holder,
        // its permits, the two expiries. Release: the script, its permits and the sum in one read, delete, nobody
        // waiting.
        assert.equal(await commandsFor(async () => (await permits.acquire()).release()), 12);
      } finally {
        admin.disconnect();
        await locks.close();
      }
    },
  );
});

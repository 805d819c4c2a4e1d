// A semaphore's release hands the freed permits straight to the waiters that fit (semaphore/release.lua; that the
// waiter then makes no attempt of its own is counted in test/waiting/attempts.test.ts). On one node: only to a
// waiter whose manager listens; a waiter that looks again after the hand-off (its message lost) takes the handed
// permits as its grant, dated from the hand-off; one that gives up frees them. The scripts are run here as a
// waiter's manager runs them, with a plain subscriber standing in for its manager. On five nodes each node hands
// over on its own, and the waiter holds once a quorum of them did, counted by their fences (src/handoff.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockAdmin } from "../../src/admin.js";
import { type Lease, LockManager } from "../../src/index.js";
import { type SemaphoreKeys, semaphoreKeys } from "../../src/semaphore/keys.js";
import { acquire, release } from "../../src/semaphore/scripts.generated.js";
import { inspector } from "../support/adapters.js";
import { staleHandOffsMakeNoLease } from "../support/handoff.js";
import { fresh } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

const TTL = 10_000;

/** A semaphore of limit 1, its holder, and a waiter queued behind it (see `withWaiter`). */
interface Scene {
  readonly name: string;
  readonly keys: SemaphoreKeys;
  readonly admin: ReturnType<typeof inspector>;
  readonly held: Lease;
  readonly waiter: { readonly id: string; readonly token: string };
  /** What the waiter's channel received, in order (nothing when it does not listen). */
  readonly messages: string[];
  /** One attempt of the waiter: its first (queues where refused), or a later one. */
  attempt(first: boolean): Promise<number | number[]>;
  /** The holder releases; resolves with the first message the waiter got (the waiter must listen). */
  releaseHeld(): Promise<string>;
  /** The waiter gives up, as its manager does when its wait runs out: its token and its place. */
  leave(): Promise<unknown>;
}

describe("a semaphore's release hands permits to the waiters that fit (one node)", () => {
  const one = useNodes(1);

  /**
   * Runs `body` with a semaphore of limit 1 held by a manager's lease, and a waiter "<tag>.1" queued behind it by
   * its first attempt (token "<tag>-token"), as a waiting call queues; `listening`: a subscriber listens on the
   * waiter's channel. Everything is closed afterwards.
   */
  async function withWaiter(
    what: string,
    listening: boolean,
    body: (s: Scene) => Promise<void>,
  ): Promise<void> {
    const name = fresh(what);
    const keys = semaphoreKeys("quorumlock:", name);
    const locks = new LockManager({ nodes: one.urls() });
    const admin = inspector(one.urls()[0]!);
    const subscriber = inspector(one.urls()[0]!);
    try {
      const tag = `t${Math.random().toString(36).slice(2, 8)}`;
      const waiter = { id: `${tag}.1`, token: `${tag}-token` };
      const messages: string[] = [];
      if (listening) {
        subscriber.on("message", (_channel: string, message: string) => messages.push(message));
        await subscriber.subscribe(`${keys.channel}:${tag}`);
      }
      const held = await locks.semaphore(name, { limit: 1 }).acquire({ ttl: TTL });
      const scriptKeys = [keys.holders, keys.fence, keys.permits, keys.waiting, keys.heartbeats];
      const scene: Scene = {
        name,
        keys,
        admin,
        held,
        waiter,
        messages,
        attempt: (first) =>
          admin.eval(
            acquire.source,
            5,
            ...scriptKeys,
            waiter.token,
            TTL,
            "1",
            1,
            1,
            `${first ? "1" : "0"}:${first ? 3_000 : 0}::${waiter.id}`,
            "1",
          ) as Promise<number | number[]>,
        async releaseHeld() {
          await held.release();
          while (messages.length === 0) await sleep(2);
          return messages[0]!;
        },
        leave: () =>
          admin.eval(release.source, 5, ...scriptKeys, waiter.token, waiter.id, `1:1:r1:${keys.channel}`),
      };
      const refused = await scene.attempt(true);
      assert.ok(
        Array.isArray(refused) && refused[0] === 0,
        "the waiter's first attempt is refused, and queues it",
      );
      await body(scene);
    } finally {
      admin.disconnect();
      subscriber.disconnect();
      await locks.close();
    }
  }

  it("hands the permit to a waiter whose manager listens: its fence, its TTL, its place dropped", T, () =>
    withWaiter("sem-handoff", true, async (s) => {
      await s.admin.config("RESETSTAT");
      const message = await s.releaseHeld();
      // On one node a queued waiter never holds (a grant drops its place): the walk does not look it up.
      const stats = await s.admin.info("commandstats");
      assert.equal(
        /cmdstat_zscore:calls=(\d+)/.exec(stats)?.[1] ?? "0",
        "0",
        "no ZSCORE of the waiter's token",
      );
      const [kind, id, fence] = message.split(":");
      assert.deepEqual([kind, id], ["h", s.waiter.id], "told it holds");
      assert.ok(Number(fence) > s.held.fence!, "with a fence above the releaser's");
      const expires = Number(await s.admin.zscore(s.keys.holders, s.waiter.token));
      const [seconds = 0, micros = 0] = (await s.admin.time()).map(Number);
      const left = expires - (seconds * 1000 + Math.floor(micros / 1000));
      assert.ok(left > TTL - 1_000 && left <= TTL, `held for its own TTL (${left} ms left)`);
      assert.deepEqual(await s.admin.hmget(s.keys.permits, s.waiter.token, ":used", ":limit"), [
        "1",
        "1",
        "1",
      ]);
      assert.equal(await s.admin.zcard(s.keys.waiting), 0, "its place is gone");
      assert.equal(await s.admin.hlen(s.keys.heartbeats), 0);
    }),
  );

  it(
    "a waiter whose manager does not listen is not handed the permit: it stays free for its own attempt",
    T,
    () =>
      withWaiter("sem-handoff-deaf", false, async (s) => {
        await s.held.release();
        assert.equal(await s.admin.zscore(s.keys.holders, s.waiter.token), null, "nothing handed");
        assert.equal(await s.admin.zcard(s.keys.waiting), 1, "its place is kept");
        // Its own attempt then takes the permit, as a woken waiter's does.
        assert.equal(typeof (await s.attempt(false)), "number", "granted to its attempt");
      }),
  );

  it("a waiter that asked with another limit than the one in force is woken, not handed the permit", T, () =>
    withWaiter("sem-handoff-limit", true, async (s) => {
      // As if it had queued while holders with limit 2 were in (the limit it brings is in its place).
      const entry = (await s.admin.hget(s.keys.heartbeats, s.waiter.id))!;
      const parts = entry.split(":");
      assert.equal(parts[4], "1", `its place tells its limit (${entry})`);
      parts[4] = "2";
      await s.admin.hset(s.keys.heartbeats, s.waiter.id, parts.join(":"));
      assert.match(await s.releaseHeld(), new RegExp(`^w:${s.waiter.id}:`), "woken");
      assert.equal(await s.admin.zscore(s.keys.holders, s.waiter.token), null, "nothing handed");
    }),
  );

  it(
    "a waiter's attempt after the hand-off takes the handed permit as its grant, dated from the hand-off",
    T,
    () =>
      withWaiter("sem-handoff-late", true, async (s) => {
        const handedFence = Number((await s.releaseHeld()).split(":")[2]);
        await sleep(100);
        // As if the message had been lost: the waiter looks again.
        const reply = await s.attempt(false);
        assert.ok(Array.isArray(reply), `a handed grant's reply (${reply})`);
        const [kind, fence, left] = reply.map(Number) as [number, number, number];
        assert.equal(kind, 3, "handed already");
        assert.equal(fence, handedFence, "the fence it was handed");
        assert.ok(
          left <= TTL - 100 && left > TTL - 1_000,
          `its lease began at the hand-off (${left} ms left)`,
        );
        assert.equal(await s.admin.hexists(s.keys.permits, `${s.waiter.token}:f`), 0, "taken once");
        assert.equal(await s.admin.zcard(s.keys.waiting), 0, "no place left behind");
        // A grant that was not handed (the same permits, looked at again) is not taken twice.
        const again = await s.attempt(false);
        assert.ok(Array.isArray(again) && again[0] === 0, "refused: no second grant of the same permits");
        assert.equal(await s.admin.hget(s.keys.permits, ":used"), "1", "one permit in use");
      }),
  );

  it("a waiter that gives up after the hand-off frees the permit, and the next waiter is handed it", T, () =>
    withWaiter("sem-handoff-leave", true, async (s) => {
      await s.releaseHeld();
      // The next waiter: a manager's waiting call.
      const locks = new LockManager({ nodes: one.urls() });
      try {
        const next = locks.semaphore(s.name, { limit: 1 }).acquire({ ttl: TTL, wait: 5_000 });
        while ((await s.admin.zcard(s.keys.waiting)) === 0) await sleep(2);
        await s.leave();
        const lease = await next;
        assert.deepEqual(
          await s.admin.zrange(s.keys.holders, 0, -1),
          [lease.token],
          "the next one holds alone",
        );
        assert.equal(await s.admin.hget(s.keys.permits, ":used"), "1");
        await lease.release();
        assert.equal(await s.admin.exists(s.keys.holders, s.keys.permits), 0, "nothing left");
      } finally {
        await locks.close();
      }
    }),
  );
});

describe("a semaphore's release hands permits to the waiters that fit (five nodes: a quorum of 3 for limit 1)", () => {
  const five = useNodes(5);

  interface Queued {
    readonly name: string;
    readonly keys: SemaphoreKeys;
    readonly admins: ReturnType<typeof inspector>[];
    /** Held by another manager on every node. */
    readonly held: Lease;
    /** The waiter's acquire, queued on every node. */
    readonly waiting: Promise<Lease>;
    /** The waiter's id, as the queues know it. */
    readonly id: string;
    settled(): boolean;
  }

  /** Runs `body` with a permit (limit 1) held on every node and a waiter of another manager queued for it. */
  async function withQueuedWaiter(what: string, body: (q: Queued) => Promise<void>) {
    const name = fresh(what);
    const keys = semaphoreKeys("quorumlock:", name);
    const holder = new LockManager({ nodes: five.urls() });
    const waiter = new LockManager({ nodes: five.urls() });
    const admins = five.urls().map(inspector);
    try {
      const held = await holder.semaphore(name, { limit: 1 }).acquire({ ttl: TTL });
      for (const admin of admins)
        while ((await admin.zscore(keys.holders, held.token)) === null) await sleep(2);
      let settled = false;
      const waiting = waiter
        .semaphore(name, { limit: 1 })
        .acquire({ ttl: 5_000, wait: 8_000 })
        .finally(() => {
          settled = true;
        });
      for (const admin of admins) while ((await admin.zcard(keys.waiting)) === 0) await sleep(2);
      const [id = ""] = await admins[0]!.zrange(keys.waiting, 0, 0);
      await body({ name, keys, admins, held, waiting, id, settled: () => settled });
    } finally {
      for (const admin of admins) admin.disconnect();
      await Promise.all([holder.close(), waiter.close()]);
    }
  }

  /** Each node's clock, ms. */
  const nowMs = async (admin: ReturnType<typeof inspector>) => {
    const [seconds = 0, micros = 0] = (await admin.time()).map(Number);
    return seconds * 1000 + Math.floor(micros / 1000);
  };

  it(
    "every node hands it the permit: the next fence, the lease counted from the hand-offs, its place kept",
    T,
    () =>
      withQueuedWaiter("sem-handoff-quorum", async ({ name, keys, admins, held, waiting, id }) => {
        await held.release();
        const lease = await waiting;
        assert.ok(lease.fence! > held.fence!, `fence ${lease.fence} above the releaser's ${held.fence}`);
        const left = await Promise.all(
          admins.map(async (a) => Number(await a.zscore(keys.holders, lease.token)) - (await nowMs(a))),
        );
        assert.ok(
          left.every((ms) => ms > 0),
          `handed to the waiter on every node: ${left.join(" ")} ms left`,
        );
        assert.ok(lease.remainingMs <= Math.min(...left) + 5, `${lease.remainingMs} ms left; nodes ${left}`);
        // Each node kept its place until its call ends; `status` does not count a holder as a waiter.
        assert.deepEqual(
          await Promise.all(admins.map((a) => a.zscore(keys.waiting, id).then((p) => p !== null))),
          [true, true, true, true, true],
        );
        const admin = new LockAdmin({ nodes: five.urls() });
        try {
          assert.equal((await admin.inspect(name)).permitWaiters, 0);
        } finally {
          await admin.close();
        }
        await lease.release();
        assert.deepEqual(
          await Promise.all(admins.map((a) => a.exists(keys.holders, keys.waiting))),
          [0, 0, 0, 0, 0],
          "its release freed the permit and dropped its place everywhere",
        );
      }),
  );

  it(
    "hand-offs from fewer than a quorum are no lease: the waiter then holds only once a quorum grants it",
    T,
    () =>
      withQueuedWaiter("sem-handoff-minority", async ({ keys, admins, held, waiting, id, settled }) => {
        // On nodes 2, 3 and 4 another waiter queued first (the queues disagree), whose manager nobody runs: those
        // nodes wake it (nobody hears) and keep the freed permit for it until its place expires; nodes 0 and 1 hand
        // the permit to our waiter.
        for (const admin of admins.slice(2)) {
          await admin.zadd(keys.waiting, 1, "ghost.1");
          await admin.hset(
            keys.heartbeats,
            "ghost.1",
            `${(await nowMs(admin)) + 1_500}:1:30000:1:1:ghost-token`,
          );
        }
        await held.release();
        await sleep(300);
        assert.equal(settled(), false, "two hand-offs of five are no lease (q = 3)");
        // Its attempts meanwhile take the handed permits as granted, and give them back when the vote fails: its
        // place stays first on nodes 0 and 1.
        for (const admin of admins.slice(0, 2)) assert.notEqual(await admin.zscore(keys.waiting, id), null);
        const lease = await waiting;
        const holding = (await Promise.all(admins.map((a) => a.zscore(keys.holders, lease.token)))).filter(
          (e) => e !== null,
        ).length;
        assert.ok(holding >= 3, `the waiter's lease is held on ${holding} nodes`);
        assert.ok(lease.fence! > held.fence!);
        await lease.release();
      }),
  );

  it(
    "a hand-off older than the waiter's last refusal does not count (its fence is not above that counter)",
    T,
    () =>
      withQueuedWaiter("sem-handoff-stale", (q) =>
        staleHandOffsMakeNoLease(q, q.keys.channel, q.keys.fence, q.id),
      ),
  );
});

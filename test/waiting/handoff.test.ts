// On one node, a release hands the lock straight to a waiter that has waited long (mutex/release.lua; that it
// then makes no attempt of its own is counted in attempts.test.ts): a waiter whose process died is not handed a
// lock it would sit on for a whole TTL, and the lease is counted from the hand-off, however late the waiter
// hears of it or finds it, and a waiter that gives up in between passes it on.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockAdmin } from "../../src/admin.js";
import { type Lease, LockManager } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { inspector } from "../support/adapters.js";
import { staleHandOffsMakeNoLease } from "../support/handoff.js";
import { fresh } from "../support/names.js";
import { useCluster, useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

const keysOf = (resource: string) => mutexKeys("quorumlock:", resource);

/** Resolves once a waiter is queued for `resource` and has waited `ms` more (long enough to be handed the lock). */
async function queuedFor(admin: ReturnType<typeof inspector>, resource: string, ms: number): Promise<void> {
  while ((await admin.zcard(keysOf(resource).waiting)) === 0) await sleep(2);
  await sleep(ms);
}

describe("a release hands the lock to a waiter that has waited long (one node)", () => {
  const one = useNodes(1);
  const proxied = useCluster({ nodes: 1, proxies: true });

  it(
    "a waiter whose process died is not handed the lock: it is kept for it briefly, then the next one gets it",
    T,
    async () => {
      const resource = fresh("handoff-dead");
      const keys = keysOf(resource);
      const holder = new LockManager({ nodes: one.urls() });
      const waiter = new LockManager({ nodes: one.urls() });
      const admin = inspector(one.urls()[0]!);
      try {
        const held = await holder.acquire(resource);
        // A waiter that queued first, as a live one does (its token in its place), whose manager is gone: nobody
        // listens on its channel any more, though its place has 3 s to live.
        const [seconds = 0, micros = 0] = (await admin.time()).map(Number);
        const ghost = "deadbeef";
        await admin.zadd(keys.waiting, 1, "ghost.1");
        await admin.hset(
          keys.heartbeats,
          "ghost.1",
          `${seconds * 1000 + Math.floor(micros / 1000) + 3_000}:30000:1:${ghost}`,
        );
        const waiting = waiter.acquire(resource, { wait: 5_000 });
        await queuedFor(admin, resource, 20);
        while ((await admin.zcard(keys.waiting)) < 2) await sleep(2);
        const released = performance.now();
        await held.release();
        assert.equal(await admin.get(keys.lock), "r:ghost.1", "kept for the dead waiter, not handed to it");
        const lease = await waiting;
        const took = performance.now() - released;
        assert.ok(took < 1_500, `the live waiter got the lock ${took.toFixed(0)} ms after the release`);
        assert.ok(lease.fence! > held.fence!);
        await lease.release();
      } finally {
        admin.disconnect();
        await Promise.all([holder.close(), waiter.close()]);
      }
    },
  );

  it(
    "a hand-off heard late: the lease is counted from the hand-off, not from when the waiter heard",
    T,
    async () => {
      const { cluster } = proxied;
      const resource = fresh("handoff-late");
      const keys = keysOf(resource);
      const ttl = 2_000;
      const holder = new LockManager({ nodes: cluster.direct });
      // The waiter's connections (commands and subscriber) go through the proxy.
      const waiter = new LockManager({ nodes: cluster.urls, ttl });
      const admin = inspector(cluster.direct[0]!);
      const proxy = cluster.proxies[0]!;
      try {
        const held = await holder.acquire(resource);
        const waiting = waiter.acquire(resource, { wait: 5_000 });
        await queuedFor(admin, resource, 50);
        proxy.setMode({ kind: "delay", ms: 400 });
        await held.release();
        const value = await admin.get(keys.lock);
        assert.ok(value && value !== held.token && !value.startsWith("r:"), "handed to the waiter");
        const lease = await waiting;
        const left = lease.remainingMs;
        const pttl = await admin.pttl(keys.lock);
        assert.equal(lease.token, value);
        assert.equal(lease.fence, held.fence! + 1);
        assert.ok(left <= pttl + 5, `the lease says ${left} ms left, the server ${pttl} ms`);
        assert.ok(left < ttl - 400, `${left} ms left of ${ttl}`);
        // Left to expire: healing drops the waiter's connections, and a release through them would fail.
      } finally {
        proxy.heal();
        admin.disconnect();
        await Promise.all([holder.close(), waiter.close()]);
      }
    },
  );

  it(
    "a waiter that gives up after the lock was handed to it, before it heard, passes the lock on",
    T,
    async () => {
      const { cluster } = proxied;
      const resource = fresh("handoff-abandoned");
      const keys = keysOf(resource);
      const holder = new LockManager({ nodes: cluster.direct });
      // Its connections go through the proxy; its TTL is long, so a lock it sat on would show.
      const waiter = new LockManager({ nodes: cluster.urls, ttl: 30_000 });
      const next = new LockManager({ nodes: cluster.direct });
      const admin = inspector(cluster.direct[0]!);
      const proxy = cluster.proxies[0]!;
      try {
        const held = await holder.acquire(resource);
        const giveUp = new AbortController();
        const waiting = waiter.acquire(resource, { wait: 10_000, signal: giveUp.signal });
        await queuedFor(admin, resource, 20);
        const after = next.acquire(resource, { wait: 10_000 });
        while ((await admin.zcard(keys.waiting)) < 2) await sleep(2);
        // The hand-off message reaches the waiter late; it gives up before then.
        proxy.setMode({ kind: "delay", ms: 300 });
        await held.release();
        const handed = await admin.get(keys.lock);
        assert.ok(handed && handed !== held.token && !handed.startsWith("r:"), "handed to the first waiter");
        const gaveUp = performance.now();
        giveUp.abort();
        await assert.rejects(waiting, { name: "AbortError", code: "ABORT_ERR" });
        const lease = await after;
        const took = performance.now() - gaveUp;
        assert.ok(took < 3_000, `the next waiter got the lock ${took.toFixed(0)} ms after the first gave up`);
        assert.notEqual(lease.token, handed);
        assert.ok(lease.fence! > held.fence! + 1, "above the fence bumped for the hand-off");
        await lease.release();
      } finally {
        proxy.heal();
        admin.disconnect();
        await Promise.all([holder.close(), waiter.close(), next.close()]);
      }
    },
  );

  it(
    "a waiter that missed the hand-off finds the lock on its next attempt, its lease counted from the hand-off",
    T,
    async () => {
      const resource = fresh("handoff-missed");
      const keys = keysOf(resource);
      const ttl = 2_000;
      const holder = new LockManager({ nodes: one.urls() });
      const waiter = new LockManager({ nodes: one.urls(), ttl });
      const admin = inspector(one.urls()[0]!);
      // Listens on every channel of the resource, so the release sees someone get its message.
      const watcher = inspector(one.urls()[0]!);
      try {
        await watcher.psubscribe(`${keys.channel}*`);
        const held = await holder.acquire(resource);
        const waiting = waiter.acquire(resource, { wait: 5_000 });
        await queuedFor(admin, resource, 20);
        // The waiter's subscriber connection drops just before the release: it never gets the message, and looks
        // again once it is back.
        const subscribers = (await admin.client("LIST")) as string;
        const ids = [...subscribers.matchAll(/^id=(\d+) .* sub=[1-9]/gm)].map((m) => m[1]!);
        assert.equal(ids.length, 1, "the waiter's manager has one subscriber connection");
        await admin.client("KILL", "ID", ids[0]!);
        const released = performance.now();
        await held.release();
        const value = await admin.get(keys.lock);
        assert.ok(value && value !== held.token && !value.startsWith("r:"), "handed to the waiter");
        const lease = await waiting;
        const gap = performance.now() - released;
        const left = lease.remainingMs;
        const pttl = await admin.pttl(keys.lock);
        assert.equal(lease.token, value);
        assert.equal(lease.fence, held.fence! + 1);
        // Counted from the hand-off: what the server says is left, not a TTL from the attempt that found it.
        assert.ok(
          left <= pttl + 2,
          `the lease says ${left} ms left, the server ${pttl} ms (found ${gap.toFixed(0)} ms later)`,
        );
        await lease.release();
      } finally {
        watcher.disconnect();
        admin.disconnect();
        await Promise.all([holder.close(), waiter.close()]);
      }
    },
  );
});

// On a quorum each node's release hands the lock to the first waiter of its own queue, if that waiter fences
// (mutex/release.lua with "2"); the waiter holds once a quorum of nodes handed it the lock, with fences newer than
// its last refusals (src/handoff.ts).
describe("a release hands the lock to a waiter that has waited long (five nodes)", () => {
  const five = useNodes(5);

  interface Queued {
    readonly resource: string;
    readonly keys: ReturnType<typeof keysOf>;
    readonly admins: ReturnType<typeof inspector>[];
    /** Held by another manager on every node. */
    readonly held: Lease;
    /** The waiter's acquire, queued on every node for 20 ms (long enough to be handed the lock). */
    readonly waiting: Promise<Lease>;
    /** Whether `waiting` has settled. */
    settled(): boolean;
  }

  /** Runs `body` with a lock held and a waiter of another manager (with `ttl`) queued for it; then cleans up. */
  async function withQueuedWaiter(name: string, ttl: number | undefined, body: (q: Queued) => Promise<void>) {
    const resource = fresh(name);
    const keys = keysOf(resource);
    const holder = new LockManager({ nodes: five.urls() });
    const waiter = new LockManager({ nodes: five.urls(), ...(ttl === undefined ? {} : { ttl }) });
    const admins = five.urls().map(inspector);
    try {
      const held = await holder.acquire(resource);
      let settled = false;
      const waiting = waiter.acquire(resource, { wait: 5_000 }).finally(() => {
        settled = true;
      });
      for (const admin of admins) while ((await admin.zcard(keys.waiting)) === 0) await sleep(2);
      await sleep(20);
      await body({ resource, keys, admins, held, waiting, settled: () => settled });
    } finally {
      for (const admin of admins) admin.disconnect();
      await Promise.all([holder.close(), waiter.close()]);
    }
  }

  it(
    "every node hands it the lock: the waiter holds with the next fence, its lease counted from the hand-offs",
    T,
    () =>
      withQueuedWaiter("handoff-quorum", 5_000, async ({ resource, keys, admins, held, waiting }) => {
        await held.release();
        const lease = await waiting;
        const values = await Promise.all(admins.map((a) => a.get(keys.lock)));
        assert.deepEqual(
          values,
          values.map(() => lease.token),
          "handed to the waiter on every node",
        );
        assert.equal(lease.fence, held.fence! + 1);
        // Each node kept its place until its call ends; `status` does not count a holder as a waiter.
        assert.deepEqual(await Promise.all(admins.map((a) => a.zcard(keys.waiting))), [1, 1, 1, 1, 1]);
        const admin = new LockAdmin({ nodes: five.urls() });
        try {
          assert.equal((await admin.inspect(resource)).waiters, 0);
        } finally {
          await admin.close();
        }
        const pttls = await Promise.all(admins.map((a) => a.pttl(keys.lock)));
        assert.ok(
          lease.remainingMs <= Math.min(...pttls) + 5,
          `${lease.remainingMs} ms left; nodes ${pttls}`,
        );
        await lease.release();
      }),
  );

  it(
    "hand-offs from a minority are no lease: the waiter holds only once a quorum grants it the lock",
    T,
    () =>
      withQueuedWaiter("handoff-minority", undefined, async ({ keys, admins, held, waiting }) => {
        // On nodes 2, 3 and 4 another waiter queued first (the queues disagree), whose manager nobody runs: those
        // nodes keep the lock for it briefly; nodes 0 and 1 hand it to our waiter.
        for (const admin of admins.slice(2)) {
          const [seconds = 0, micros = 0] = (await admin.time()).map(Number);
          await admin.zadd(keys.waiting, 1, "ghost.1");
          const expires = seconds * 1000 + Math.floor(micros / 1000) + 3_000;
          await admin.hset(keys.heartbeats, "ghost.1", `${expires}:30000:1:deadbeef`);
        }
        const [id = ""] = await admins[0]!.zrange(keys.waiting, 0, 0);
        await held.release();
        const lease = await waiting;
        const values = await Promise.all(admins.map((a) => a.get(keys.lock)));
        const holding = values.filter((v) => v === lease.token).length;
        assert.ok(holding >= 3, `the waiter's lease is held on ${holding} nodes: ${values.join(" ")}`);
        assert.ok(lease.fence! > held.fence!);
        // Nodes 0 and 1 kept its place when they handed it the lock: given back, it stayed first in line there.
        const places = await Promise.all(admins.map((a) => a.zscore(keys.waiting, id)));
        assert.ok(
          places.every((p) => p !== null),
          `its place on each node: ${places.join(" ")}`,
        );
        await lease.release();
        const left = await Promise.all(admins.map((a) => a.zscore(keys.waiting, id)));
        assert.deepEqual(left, [null, null, null, null, null], "its release dropped its place everywhere");
      }),
  );

  it(
    "a hand-off older than the waiter's last refusal does not count (its fence is not above that counter)",
    T,
    () =>
      withQueuedWaiter("handoff-stale", undefined, async (q) => {
        const [id = ""] = await q.admins[0]!.zrange(q.keys.waiting, 0, 0);
        await staleHandOffsMakeNoLease(q, q.keys.channel, q.keys.fence, id);
      }),
  );

  it(
    "status does not count a semaphore's holder as waiting (on a quorum its place stays while it holds)",
    T,
    async () => {
      const name = fresh("handoff-status-semaphore");
      const holder = new LockManager({ nodes: five.urls() });
      const waiter = new LockManager({ nodes: five.urls() });
      const admins = five.urls().map(inspector);
      const admin = new LockAdmin({ nodes: five.urls() });
      const queue = `quorumlock:{${name}}:semaphore:waiting`;
      try {
        const held = await holder.semaphore(name, { limit: 1 }).acquire();
        const waiting = waiter.semaphore(name, { limit: 1 }).acquire({ wait: 5_000 });
        for (const a of admins) while ((await a.zcard(queue)) === 0) await sleep(2);
        assert.equal((await admin.inspect(name)).permitWaiters, 1);
        await held.release();
        const lease = await waiting;
        const places = await Promise.all(admins.map((a) => a.zcard(queue)));
        assert.ok(places.includes(1), `its place is still queued on some nodes: ${places.join(" ")}`);
        assert.equal((await admin.inspect(name)).permitWaiters, 0);
        await lease.release();
      } finally {
        for (const a of admins) a.disconnect();
        await Promise.all([holder.close(), waiter.close(), admin.close()]);
      }
    },
  );
});

// Waiting without spinning, per client adapter and node count. The holder's TTL is long and the slow
// re-check is 1 s, so a waiter that gets the lock within a few hundred ms was woken by the release itself.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import type { Lease } from "../../src/index.js";
import { LINGER_MS } from "../../src/waiting/pubsub.js";
import { type Adapter, inspect, valuesOn } from "../support/adapters.js";
import { keysOf } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { suiteNodes } from "../support/suite.js";
import { MEDIUM as T } from "../support/timeouts.js";

/** Channels with subscribers on each node. */
async function channelsOn(urls: readonly string[]): Promise<string[][]> {
  return inspect(urls, (nodes) =>
    Promise.all(nodes.map((node) => node.pubsub("CHANNELS", "quorumlock:*") as Promise<string[]>)),
  );
}

/** Script calls (EVALSHA and EVAL) each node has served so far. */
async function scriptCalls(urls: readonly string[]): Promise<number> {
  const stats = await inspect(urls, (nodes) => Promise.all(nodes.map((node) => node.info("commandstats"))));
  let calls = 0;
  for (const text of stats)
    for (const m of text.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}

export function pubsubSuite(adapter: Adapter, nodeCount: number): void {
  describe(`pub/sub wake-ups over ${adapter.name}, ${nodeCount} node(s)`, () => {
    const env = suiteNodes(adapter, nodeCount, { ttl: 30_000 });
    const manager = env.manager;

    it("a release wakes a waiter in another manager promptly", T, async () => {
      const holder = await manager();
      const waiter = await manager({ pollInterval: 60_000 });
      const resource = fresh("wake");
      for (let i = 0; i < 5; i++) {
        const held = await holder.acquire(resource);
        const waiting = waiter.acquire(resource, { wait: 10_000 });
        await sleep(50);
        const released = performance.now();
        await held.release();
        const lease = await waiting;
        const handoff = performance.now() - released;
        assert.ok(handoff < 300, `handoff took ${handoff.toFixed(1)} ms`);
        await lease.release();
      }
    });

    it("never misses a release that races the waiter's first attempt and subscription", T, async () => {
      const holder = await manager();
      const waiter = await manager({ pollInterval: 60_000 });
      for (let i = 0; i < 30; i++) {
        const resource = fresh("race");
        const held = await holder.acquire(resource);
        const waiting = waiter.acquire(resource, { wait: 10_000 });
        await sleep(i % 6); // release at every point of the waiter's first attempts
        const released = performance.now();
        await held.release();
        const lease = await waiting;
        const handoff = performance.now() - released;
        assert.ok(
          handoff < 500,
          `round ${i}: handoff took ${handoff.toFixed(1)} ms (a missed wake-up waits 1 s)`,
        );
        await lease.release();
      }
    });

    it("wakes when the holder's TTL runs out, though an expiry publishes nothing", T, async () => {
      const holder = await manager();
      const waiter = await manager({ pollInterval: 60_000 });
      const resource = fresh("expiry");
      await holder.acquire(resource, { ttl: 300 });
      const started = performance.now();
      const lease = await waiter.acquire(resource, { wait: 5_000 });
      const waited = performance.now() - started;
      assert.ok(waited < 800, `waited ${waited.toFixed(0)} ms for a 300 ms TTL`);
      await lease.release();
    });

    it(
      "hands the lock on through a queue of waiters in one process, one wake-up per release",
      T,
      async () => {
        const locks = await manager();
        const resource = fresh("queue");
        const first = await locks.acquire(resource);
        let holders = 0;
        const order: number[] = [];
        const waiters = Array.from({ length: 8 }, async (_, i) => {
          const lease = await locks.acquire(resource, { wait: 10_000 });
          holders++;
          assert.equal(holders, 1);
          order.push(i);
          await sleep(2);
          holders--;
          await lease.release();
        });
        await sleep(100);
        const started = performance.now();
        await first.release();
        await Promise.all(waiters);
        assert.equal(order.length, 8);
        const took = performance.now() - started;
        assert.ok(took < 8 * 100, `8 handoffs took ${took.toFixed(0)} ms`);
      },
    );

    it(
      "leaves no subscription, timer or listener behind after a wait times out or is aborted",
      T,
      async () => {
        const holder = await manager();
        const waiter = await manager();
        const resource = fresh("leak");
        const held = await holder.acquire(resource);
        const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
        // A first wait opens the subscriber connections, whose drivers keep timers of their own.
        await assert.rejects(waiter.acquire(resource, { wait: 100 }), { code: "ERR_LOCK_TIMEOUT" });
        await sleep(100);
        const baseline = timers();
        await assert.rejects(waiter.acquire(resource, { wait: 200 }), { code: "ERR_LOCK_TIMEOUT" });
        const controller = new AbortController();
        const aborted = assert.rejects(
          waiter.acquire(resource, { wait: 10_000, signal: controller.signal }),
          {
            name: "AbortError",
          },
        );
        // The subscription is confirmed asynchronously; on a loaded machine give it up to 2 s to show.
        for (let tries = 0; tries < 40; tries++) {
          if ((await channelsOn(env.urls)).every((c) => c.length === 1)) break;
          await sleep(50);
        }
        try {
          assert.deepEqual(
            (await channelsOn(env.urls)).map((c) => c.length),
            env.urls.map(() => 1),
            "subscribed while waiting",
          );
        } finally {
          controller.abort();
          await aborted;
        }
        await sleep(LINGER_MS + 200); // a channel stays subscribed for a moment after its last waiter left
        const after = timers(); // before channelsOn: its own connections keep a timer for a while
        assert.ok(after <= baseline, `timers: ${baseline} before, ${after} after`);
        assert.deepEqual(
          await channelsOn(env.urls),
          env.urls.map(() => []),
          "unsubscribed once nobody waits",
        );
        await held.release();
      },
    );

    it("a release wakes one waiter across independent managers, not one per manager", T, async () => {
      const holder = await manager();
      const others = await Promise.all(Array.from({ length: 6 }, () => manager({ pollInterval: 60_000 })));
      const resource = fresh("herd");
      const held = await holder.acquire(resource);
      // The first waiter to get the lock keeps it until the calls are counted; the others pass it on at once.
      let first: ((lease: Lease) => void) | undefined;
      const firstLease = new Promise<Lease>((resolve) => {
        first = resolve;
      });
      const waiting = others.map(async (locks) => {
        const lease = await locks.acquire(resource, { wait: 10_000 });
        if (first) {
          first(lease);
          first = undefined;
        } else await lease.release();
      });
      // Every waiter has queued on every node, subscribed, and made the attempt that follows its subscription
      // (it covers a wake-up published before the subscription took effect): then they all wait, and no script
      // runs until the release.
      const { waiting: queue } = keysOf(resource);
      for (let tries = 0; ; tries++) {
        const sizes = await inspect(env.urls, (nodes) => Promise.all(nodes.map((node) => node.zcard(queue))));
        if (sizes.every((size) => size === others.length)) break;
        assert.ok(tries < 100, `queued: ${sizes.join(", ")}`);
        await sleep(20);
      }
      let before = await scriptCalls(env.urls);
      for (let tries = 0; ; tries++) {
        await sleep(100);
        const now = await scriptCalls(env.urls);
        if (now === before) break;
        assert.ok(tries < 50, "the waiters settle");
        before = now;
      }
      await held.release();
      const lease = await firstLease;
      await sleep(100); // a herd would try within this
      const calls = (await scriptCalls(env.urls)) - before;
      // The release and the woken waiter's attempt, once on each node: the other five did not try at all.
      assert.ok(
        calls <= 2 * nodeCount + 1,
        `${calls} script calls on ${nodeCount} node(s) for one hand-over`,
      );
      await lease.release();
      await Promise.all(waiting);
    });

    it(
      "each waiting manager listens on a channel of its own: a wake-up reaches the woken waiter's alone",
      T,
      async () => {
        const holder = await manager();
        const [first, second] = await Promise.all([
          manager({ pollInterval: 60_000 }),
          manager({ pollInterval: 60_000 }),
        ]);
        const resource = fresh("own");
        const { channel, waiting, lock } = keysOf(resource);
        const ours = (subscribed: string[]) => subscribed.filter((c) => c.startsWith(`${channel}:`));
        const watchers = env.urls.map((url) => new Redis(url));
        const heard: string[] = [];
        try {
          for (const w of watchers) {
            w.on("pmessage", (_pattern: string, on: string) => heard.push(on));
            await w.psubscribe(`${channel}*`);
          }
          const held = await holder.acquire(resource);
          // Held on every node, not only on the quorum the acquire settled on: a node that applied the holder's
          // SET after the first waiter's attempt would have given that attempt the lock (undone at once, the
          // vote split), left the holder without it, and so have had nothing to release and nobody to wake.
          for (let tries = 0; ; tries++) {
            if ((await valuesOn(env.urls, lock)).every((v) => v === held.token)) break;
            assert.ok(tries < 100, "the holder's lock reaches every node");
            await sleep(10);
          }
          const one = first!.acquire(resource, { wait: 10_000 });
          await sleep(50); // queued first
          const two = second!.acquire(resource, { wait: 10_000 });
          for (let tries = 0; ; tries++) {
            if ((await channelsOn(env.urls)).every((c) => ours(c).length === 2)) break;
            assert.ok(tries < 100, "both managers subscribe, each to a channel of its own");
            await sleep(20);
          }
          // And both are queued on every node (a waiter subscribes before the attempt that queues it, on a
          // quorum): a node that had not queued one yet would have nobody to wake for it.
          for (let tries = 0; ; tries++) {
            const sizes = await inspect(env.urls, (nodes) =>
              Promise.all(nodes.map((node) => node.zcard(waiting))),
            );
            if (sizes.every((size) => size === 2)) break;
            assert.ok(tries < 100, `both waiters queue on every node (${sizes.join(", ")})`);
            await sleep(10);
          }
          await held.release();
          const a = await one;
          await a.release();
          const b = await two;
          await b.release();
          // The copies from every node: a release settles on a quorum, so a busy node may publish its copy later.
          const all = () => {
            const counts = [...new Set(heard)].map((on) => heard.filter((h) => h === on).length);
            return counts.length >= 2 && counts.every((n) => n >= nodeCount);
          };
          for (let tries = 0; tries < 100 && !all(); tries++) await sleep(20);
          await sleep(50); // and anything more that would come
          // One wake-up per release, from each node, on the channel of the manager it wakes; nothing on the lock's
          // channel itself, where every client would receive it. A slow node may wake the other waiter instead:
          // the holder's release settles on a quorum, and on a node it had not reached yet when the first waiter
          // (holding the others) released too, that release found the holder's lock, woke nobody, and the
          // holder's release woke the second waiter, the head of the queue by then.
          assert.ok(!heard.includes(channel), "nothing published to every waiting client");
          const channels = [...new Set(heard)];
          assert.equal(channels.length, 2, `wake-ups on ${channels.join(", ")}`);
          const quorum = Math.floor(nodeCount / 2) + 1;
          for (const on of channels) {
            const copies = heard.filter((h) => h === on).length;
            assert.ok(copies >= quorum && copies <= nodeCount, `${copies} copies on ${on}`);
          }
        } finally {
          for (const w of watchers) w.disconnect();
        }
      },
    );

    it("waiters in independent managers take turns: nobody starves", T, async () => {
      const clients = await Promise.all(Array.from({ length: 6 }, () => manager()));
      const resource = fresh("turns");
      const until = performance.now() + 1_500;
      let longest = 0;
      const sections = await Promise.all(
        clients.map(async (locks) => {
          let count = 0;
          while (performance.now() < until) {
            const asked = performance.now();
            const lease = await locks.acquire(resource, { wait: 10_000 });
            longest = Math.max(longest, performance.now() - asked);
            await sleep(2);
            count++;
            await lease.release();
            await sleep(1);
          }
          return count;
        }),
      );
      const mean = sections.reduce((a, b) => a + b, 0) / sections.length;
      assert.ok(
        Math.min(...sections) >= 0.5 * mean,
        `sections per client ${sections.join(", ")}; longest wait ${longest.toFixed(0)} ms`,
      );
      assert.ok(longest < 1_000, `longest wait ${longest.toFixed(0)} ms`);
    });

    it("a waiter that crashed while first in line costs a short delay, then is skipped", T, async () => {
      const holder = await manager();
      const waiter = await manager({ pollInterval: 60_000 });
      const resource = fresh("ghost");
      const keys = keysOf(resource);
      const held = await holder.acquire(resource);
      // A waiter that queued long ago, then crashed: its place lives for 600 ms more without a refresh.
      await inspect(env.urls, (nodes) =>
        Promise.all(
          nodes.map(async (node) => {
            const [seconds = 0, micros = 0] = (await node.time()).map(Number);
            await node.zadd(keys.waiting, 1, "ghost");
            await node.hset(keys.heartbeats, "ghost", seconds * 1000 + Math.floor(micros / 1000) + 600);
          }),
        ),
      );
      const waiting = waiter.acquire(resource, { wait: 10_000 });
      await sleep(100);
      const released = performance.now();
      await held.release(); // kept for the ghost, which never comes
      const lease = await waiting;
      const took = performance.now() - released;
      assert.ok(took < 1_500, `the live waiter got the lock ${took.toFixed(0)} ms after the release`);
      await sleep(700); // the ghost's place is stale now
      await lease.release();
      const left = await inspect(env.urls, (nodes) =>
        Promise.all(nodes.map((node) => node.zrange(keys.waiting, 0, -1))),
      );
      assert.deepEqual(
        left,
        env.urls.map(() => []),
        "the stale place was dropped, and no place was left",
      );
    });

    it("still works with polling for deployments that forbid SUBSCRIBE", T, async () => {
      const holder = await manager();
      const waiter = await manager({ wakeup: "poll", pollInterval: 20 });
      const resource = fresh("poll");
      const held = await holder.acquire(resource);
      const waiting = waiter.acquire(resource, { wait: 5_000 });
      await sleep(100);
      const channel = keysOf(resource).channel;
      assert.ok(
        (await channelsOn(env.urls)).every((subscribed) => !subscribed.some((c) => c.startsWith(channel))),
        "a polling waiter subscribes to nothing",
      );
      await held.release();
      const lease = await waiting;
      await lease.release();
    });
  });
}

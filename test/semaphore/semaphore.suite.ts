// The semaphore's contract, as one suite run per (client adapter × node count). See the *.test.ts files beside it.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type AcquiredEvent,
  CHANNELS,
  type Lease,
  LockError,
  LockLostError,
  LockTimeoutError,
  SemaphoreLimitError,
} from "../../src/index.js";
import { semaphoreKeys } from "../../src/semaphore/keys.js";
import { type Adapter, inspect, whenAborted } from "../support/adapters.js";
import { suiteNodes } from "../support/suite.js";

const T = { timeout: 20_000 };
let counter = 0;
/** A fresh semaphore name per test, so tests never see each other's keys. */
const fresh = (what: string): string => `sem:${what}:${process.pid}:${++counter}`;
const keysOf = (name: string) => semaphoreKeys("quorumlock:", name);

/** Per node: the holders' tokens of `name`. */
function holdersOn(urls: readonly string[], name: string): Promise<string[][]> {
  return inspect(urls, (nodes) => Promise.all(nodes.map((n) => n.zrange(keysOf(name).holders, 0, -1))));
}

/**
 * Queues, on every node, a waiter `id` that wants `permits` of `name`, arrived now and with a place that lapses in
 * `placeMs` unless refreshed: as a waiter that queued and then died, or that has not looked again yet.
 */
function queueWaiter(urls: readonly string[], name: string, id: string, permits: number, placeMs: number) {
  return inspect(urls, (nodes) =>
    Promise.all(
      nodes.map(async (n) => {
        const [seconds, micros] = (await n.time()).map(Number) as [number, number];
        const nowMs = seconds * 1000 + Math.floor(micros / 1000);
        await n.zadd(keysOf(name).waiting, seconds * 1_000_000 + micros, id);
        await n.hset(keysOf(name).heartbeats, id, `${nowMs + placeMs}:${permits}:${id}-token`);
      }),
    ),
  );
}

/** Per node: every key of `name`'s semaphore that exists. */
function semaphoreKeysOn(urls: readonly string[], name: string): Promise<string[][]> {
  const { fence, channel, ...own } = keysOf(name);
  return inspect(urls, (nodes) =>
    Promise.all(
      nodes.map(async (n) => {
        const exist = await Promise.all(
          Object.values(own).map(async (k) => ((await n.exists(k)) ? [k] : [])),
        );
        return exist.flat();
      }),
    ),
  );
}

/**
 * Asserts what the nodes hold once they settle: a node the vote did not wait for (in quorum mode) may apply a
 * request a moment after the call returned, and an inspector's own connection may see it before that.
 */
async function expectOn<T>(read: () => Promise<T>, expected: T, message?: string): Promise<void> {
  for (let i = 0; ; i++) {
    const actual = await read();
    try {
      assert.deepEqual(actual, expected, message);
      return;
    } catch (error) {
      if (i >= 50) throw error;
    }
    await sleep(20);
  }
}

/** Resolves once `count` waiters are queued for `name` on every node. */
async function queued(urls: readonly string[], name: string, count: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const sizes = await inspect(urls, (nodes) =>
      Promise.all(nodes.map((n) => n.zcard(keysOf(name).waiting))),
    );
    if (sizes.every((s) => s >= count)) return;
    await sleep(10);
  }
  throw new Error(`${count} waiters never queued for ${name} on every node`);
}

export function semaphoreSuite(adapter: Adapter, nodeCount: number): void {
  describe(`semaphore over ${adapter.name}, ${nodeCount} node${nodeCount > 1 ? "s" : ""}`, () => {
    const env = suiteNodes(adapter, nodeCount);
    const manager = env.manager;

    it(
      "hands out at most `limit` permits: of limit+1 concurrent acquires, exactly `limit` succeed",
      T,
      async () => {
        const locks = await manager({ ttl: 5_000 });
        const sem = locks.semaphore(fresh("limit"), { limit: 3 });
        assert.equal(sem.limit, 3);
        const results = await Promise.allSettled(Array.from({ length: 4 }, () => sem.acquire({ wait: 300 })));
        const got = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
        const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
        assert.equal(got.length, 3);
        assert.equal(failed.length, 1);
        assert.ok(failed[0] instanceof LockTimeoutError && failed[0].code === "ERR_LOCK_TIMEOUT");
        await assert.rejects(sem.acquire({ wait: 0 }), (error: LockTimeoutError) => {
          assert.equal(error.code, "ERR_LOCK_TIMEOUT");
          assert.ok(error.nodes.length > 0, "the nodes' answers are on the error");
          return true;
        });
        assert.ok(got.every((lease) => lease.valid && lease.primitive === "semaphore"));
        // Each winner holds on the nodes a permit needs (a straggler node may have been abandoned before it
        // granted), and no node holds more than the limit.
        const needed = Math.floor((env.urls.length * 3) / 4) + 1;
        const per = await holdersOn(env.urls, sem.name);
        for (const lease of got) {
          const on = per.filter((held) => held.includes(lease.token)).length;
          assert.ok(on >= needed, `a winner on ${on} of ${env.urls.length} nodes, needs ${needed}`);
        }
        assert.ok(per.every((held) => held.length <= 3 && held.every((t) => got.some((l) => l.token === t))));
        assert.equal(await sem.tryAcquire(), null);
        await Promise.all(got.map((lease) => lease.release()));
        const next = await sem.tryAcquire();
        assert.ok(next?.valid);
        await next.release();
      },
    );

    it("takes several permits at once, counted against the limit", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const sem = locks.semaphore(fresh("permits"), { limit: 5 });
      const three = await sem.acquire({ permits: 3 });
      assert.equal(await sem.tryAcquire({ permits: 3 }), null, "3 + 3 > 5");
      const two = await sem.tryAcquire({ permits: 2 });
      assert.ok(two?.valid, "3 + 2 fit");
      assert.equal(await sem.tryAcquire(), null, "all 5 taken");
      await three.release();
      // A release frees its own permits only.
      assert.equal(await sem.tryAcquire({ permits: 4 }), null, "the other holder's 2 still count");
      assert.ok(two.valid);
      const again = await sem.tryAcquire({ permits: 3 });
      assert.ok(again?.valid, "3 freed by the release");
      await Promise.all([two.release(), again.release()]);
    });

    it("never lets more than `limit` hold at once, and fences rise (in-process contention)", T, async () => {
      const locks = await manager({ ttl: 2_000, wait: 10_000 });
      const sem = locks.semaphore(fresh("contention"), { limit: 2 });
      let holders = 0;
      let most = 0;
      const fences: number[] = [];
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let i = 0; i < 5; i++) {
            const lease = await sem.acquire();
            holders++;
            most = Math.max(most, holders);
            fences.push(lease.fence!);
            await sleep(5);
            holders--;
            await lease.release();
          }
        }),
      );
      assert.equal(most, 2, "two held at once, never more");
      assert.equal(fences.length, 30);
      if (nodeCount === 1) assert.equal(new Set(fences).size, 30, "one node: every grant has its own fence");
      const first = await sem.acquire();
      assert.ok(
        fences.every((f) => first.fence! > f),
        "a grant asked for after others ended has a higher fence",
      );
      await first.release();
    });

    it("a release wakes a waiter at once, well before the 1 s re-check", T, async () => {
      const locks = await manager({ ttl: 30_000 });
      const name = fresh("wake");
      const sem = locks.semaphore(name, { limit: 2 });
      const held = [await sem.acquire(), await sem.acquire()];
      const waiter = (await manager()).semaphore(name, { limit: 2 });
      const waiting = waiter.acquire({ wait: 10_000 });
      await queued(env.urls, name, 1);
      await sleep(50); // parked, until the holders' expiry (30 s) or the 1 s re-check
      const released = performance.now();
      await held[0]!.release();
      const lease = await waiting;
      const took = performance.now() - released;
      assert.ok(took < 300, `woke ${took.toFixed(0)} ms after the release`);
      await Promise.all([lease.release(), held[1]!.release()]);
    });

    it("a crashed holder's permit frees once its TTL runs out, not before", T, async () => {
      const locks = await manager();
      const name = fresh("crashed");
      const sem = locks.semaphore(name, { limit: 1 });
      // Made and connected first (a permit taken and given back): connecting takes a while on a loaded machine,
      // and the check below must come before the TTL runs out.
      const other = (await manager()).semaphore(name, { limit: 1 });
      await (await other.acquire()).release();
      await sem.acquire({ ttl: 800 }); // never released: its holder "crashed"
      const started = performance.now();
      await sleep(300);
      assert.equal(await other.tryAcquire(), null, "still held before the TTL");
      const next = await other.acquire({ wait: 3_000 });
      const took = performance.now() - started;
      assert.ok(
        took >= 700 && took < 1_500,
        `got the permit ${took.toFixed(0)} ms after an 800 ms TTL began`,
      );
      await next.release();
    });

    it("extend pushes a holder's expiry out; an expired one is not brought back", T, async () => {
      const locks = await manager();
      const name = fresh("extend");
      const sem = locks.semaphore(name, { limit: 1 });
      const lease = await sem.acquire({ ttl: 300 });
      await lease.extend(3_000);
      assert.ok(lease.remainingMs > 2_500, `remaining ${lease.remainingMs}`);
      await sleep(400);
      assert.ok(lease.valid, "still valid past the original TTL");
      assert.equal(await sem.tryAcquire(), null, "and still held on the nodes");
      await lease.release();

      const short = await sem.acquire({ ttl: 100 });
      await sleep(200);
      await assert.rejects(short.extend(5_000), { name: "LockLostError", code: "ERR_LOCK_LOST" });
      await expectOn(
        () => holdersOn(env.urls, name),
        env.urls.map(() => []),
        "no holder re-created",
      );
    });

    it("a release of a permit the nodes let run out frees nothing of the other holders'", T, async () => {
      const locks = await manager();
      const name = fresh("late-release");
      const sem = locks.semaphore(name, { limit: 2 });
      const early = await sem.acquire({ ttl: 5_000 });
      const other = await sem.acquire({ ttl: 5_000 });
      // The nodes see `early`'s permit run out (as a node whose clock runs ahead would) while its lease still
      // thinks it valid, and its release reaches them after that.
      await inspect(env.urls, (nodes) =>
        Promise.all(nodes.map((n) => n.zadd(keysOf(name).holders, "XX", 1, early.token))),
      );
      await early.release();
      await expectOn(
        () => holdersOn(env.urls, name),
        env.urls.map(() => [other.token]),
        "the other holder stays",
      );
      const next = await sem.tryAcquire();
      assert.ok(next?.valid, "the permit that ran out is free");
      assert.equal(await sem.tryAcquire(), null, "the other holder's permit still counts");
      await Promise.all([other.release(), next.release()]);
    });

    it(
      "extend on one holder leaves the others' expiry alone, and fails once the permit was taken away",
      T,
      async () => {
        const locks = await manager();
        const name = fresh("extend-one");
        const sem = locks.semaphore(name, { limit: 2 });
        const a = await sem.acquire({ ttl: 5_000 });
        const b = await sem.acquire({ ttl: 300 });
        await a.extend(8_000);
        await sleep(400);
        assert.equal(b.valid, false);
        assert.ok(a.valid);
        const c = await sem.tryAcquire();
        assert.ok(c?.valid, "b's permit expired on the nodes");
        await inspect(env.urls, (all) => Promise.all(all.map((n) => n.zrem(keysOf(name).holders, a.token))));
        await assert.rejects(a.extend(), { code: "ERR_LOCK_LOST" });
        assert.ok(a.signal.reason instanceof LockLostError);
        await c.release();
      },
    );

    it(
      "an idle semaphore leaves no key behind; a held one's keys expire with its latest holder",
      T,
      async () => {
        const locks = await manager();
        const name = fresh("idle");
        const sem = locks.semaphore(name, { limit: 3 });
        const a = await sem.acquire({ ttl: 2_000 });
        const b = await sem.acquire({ ttl: 4_000 });
        await inspect(env.urls, async (nodes) => {
          for (const n of nodes) {
            for (const key of [keysOf(name).holders, keysOf(name).permits]) {
              const pttl = await n.pttl(key);
              assert.ok(
                pttl > 3_000 && pttl <= 4_000,
                `${key} expires in ${pttl} ms, with the latest holder`,
              );
            }
          }
        });
        await Promise.all([a.release(), b.release()]);
        await expectOn(
          () => semaphoreKeysOn(env.urls, name),
          env.urls.map(() => []),
        );
      },
    );

    it(
      "refuses a different limit while the semaphore is held, and lets a new one take over once empty",
      T,
      async () => {
        const locks = await manager();
        const name = fresh("mismatch");
        const lease = await locks.semaphore(name, { limit: 2 }).acquire();
        const other = (await manager()).semaphore(name, { limit: 5 });
        await assert.rejects(other.acquire({ wait: 1_000 }), (error: SemaphoreLimitError) => {
          assert.ok(error instanceof SemaphoreLimitError && error instanceof LockError);
          assert.equal(error.code, "ERR_SEMAPHORE_LIMIT");
          assert.equal(error.limit, 5);
          assert.equal(error.heldLimit, 2);
          assert.match(error.message, /limit 2/);
          assert.match(error.message, /limit is 5/);
          return true;
        });
        const holders = await holdersOn(env.urls, name);
        assert.ok(
          holders.every((held) => held.every((token) => token === lease.token)),
          "nothing of the refused call left behind",
        );
        await expectOn(
          () => holdersOn(env.urls, name),
          env.urls.map(() => [lease.token]),
        );
        await lease.release();
        const five = await other.acquire({ permits: 5 });
        assert.ok(five.valid, "the new limit took over");
        await five.release();
      },
    );

    it("rejects bad limits and permits with typed errors, before touching Redis", T, async () => {
      const locks = await manager();
      for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
        assert.throws(() => locks.semaphore("s", { limit }), {
          name: "RangeError",
          code: "ERR_INVALID_ARG_VALUE",
          message: /"limit" option must be an integer from 1 to 2147483647/,
        });
      }
      assert.throws(() => locks.semaphore("s", { limit: "2" } as never), {
        name: "TypeError",
        code: "ERR_INVALID_ARG_TYPE",
      });
      assert.throws(() => locks.semaphore("s", {} as never), {
        code: "ERR_INVALID_ARG_TYPE",
        message: /"limit"/,
      });
      assert.throws(() => locks.semaphore("s", undefined as never), { code: "ERR_INVALID_ARG_TYPE" });
      assert.throws(() => locks.semaphore("s", { limit: 2, size: 3 } as never), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /size/,
      });
      assert.throws(() => locks.semaphore("", { limit: 2 }), { code: "ERR_INVALID_ARG_VALUE" });
      const sem = locks.semaphore(fresh("bad"), { limit: 3 });
      for (const permits of [0, -1, 1.5, Number.NaN, 4]) {
        await assert.rejects(sem.acquire({ permits }), {
          name: "RangeError",
          code: "ERR_INVALID_ARG_VALUE",
          message: /"permits" option must be an integer from 1 to the semaphore's limit \(3\)/,
        });
      }
      await assert.rejects(sem.tryAcquire({ permits: "1" as never }), { code: "ERR_INVALID_ARG_TYPE" });
      await assert.rejects(
        sem.withPermit(async () => {}, { permits: 4 }),
        { code: "ERR_INVALID_ARG_VALUE" },
      );
      await assert.rejects(sem.withPermit("no" as never), { code: "ERR_INVALID_ARG_TYPE" });
      await assert.rejects(sem.acquire({ ttl: 0 }), { code: "ERR_INVALID_ARG_VALUE", message: /"ttl"/ });
      await assert.rejects(sem.acquire({ bogus: 1 } as never), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /bogus/,
      });
      await assert.rejects(sem.acquire({ fair: true } as never), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /"fair" option must be false or absent for a semaphore/,
      });
      await expectOn(
        () => semaphoreKeysOn(env.urls, sem.name),
        env.urls.map(() => []),
      );
    });

    it(
      "an aborted acquire rejects at once with an AbortError and leaves neither permit nor place",
      T,
      async () => {
        const locks = await manager({ ttl: 5_000 });
        const name = fresh("abort");
        const sem = locks.semaphore(name, { limit: 1 });
        const held = await sem.acquire();
        const controller = new AbortController();
        const pending = sem.acquire({ wait: 10_000, signal: controller.signal });
        await queued(env.urls, name, 1);
        const abortedAt = performance.now();
        controller.abort(new Error("changed my mind"));
        await assert.rejects(pending, (error: LockError) => {
          assert.equal(error.name, "AbortError");
          assert.equal(error.code, "ABORT_ERR");
          assert.match(String((error.cause as Error).message), /changed my mind/);
          return true;
        });
        assert.ok(performance.now() - abortedAt < 100, "rejected promptly");
        const places = await inspect(env.urls, (nodes) =>
          Promise.all(nodes.map((n) => n.zcard(keysOf(name).waiting))),
        );
        assert.deepEqual(
          places,
          env.urls.map(() => 0),
          "its place is gone by the time it rejects",
        );
        await assert.rejects(sem.acquire({ signal: AbortSignal.abort() }), { name: "AbortError" });
        await held.release();
        await expectOn(
          () => semaphoreKeysOn(env.urls, name),
          env.urls.map(() => []),
        );
      },
    );

    it(
      "withPermit passes results and errors through, keeps the lease extended, and always releases",
      T,
      async () => {
        const locks = await manager({ ttl: 2_000 });
        const name = fresh("with");
        const sem = locks.semaphore(name, { limit: 2 });
        assert.equal(await sem.withPermit(async (lease) => lease.primitive, { permits: 2 }), "semaphore");
        const failure = new Error("boom");
        await assert.rejects(
          sem.withPermit(async () => {
            throw failure;
          }),
          (error) => error === failure,
        );
        let seen: Lease | undefined;
        await sem.withPermit(
          async (lease) => {
            seen = lease;
            await sleep(800); // 2.7 × the TTL
            assert.ok(lease.valid, "still valid after outliving its TTL");
            assert.equal(await sem.tryAcquire({ permits: 2 }), null, "its permit is still held");
          },
          { ttl: 300 },
        );
        assert.equal(seen?.valid, false);
        await expectOn(
          () => semaphoreKeysOn(env.urls, name),
          env.urls.map(() => []),
        );
      },
    );

    it("a waiter for several permits is not starved by a stream of single-permit newcomers", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const name = fresh("starve");
      const sem = locks.semaphore(name, { limit: 3 });
      let stop = false;
      let singles = 0;
      // Five loops keep taking one permit each, overlapping, so that the semaphore is never fully free.
      const stream = Array.from({ length: 5 }, async (_, i) => {
        await sleep(i * 7);
        while (!stop) {
          const lease = await sem.acquire({ wait: 10_000 });
          singles++;
          await sleep(20);
          await lease.release();
        }
      });
      await sleep(150);
      const asked = performance.now();
      const big = await (await manager()).semaphore(name, { limit: 3 }).acquire({ permits: 3, wait: 5_000 });
      const waited = performance.now() - asked;
      const during = singles;
      stop = true;
      assert.ok(waited < 1_000, `the 3-permit waiter waited ${waited.toFixed(0)} ms`);
      await sleep(50);
      assert.equal(singles, during, "nobody else held a permit beside the 3");
      await big.release();
      await Promise.all(stream);
      assert.ok(singles > 5, `only ${singles} single-permit sections`);
    });

    it("a polling waiter queues too: newcomers leave its permits alone until it polls again", T, async () => {
      const locks = await manager({ ttl: 5_000, wakeup: "poll", pollInterval: 50 });
      const name = fresh("poller");
      const sem = locks.semaphore(name, { limit: 3 });
      const held = await sem.acquire();
      const waiting = sem.acquire({ permits: 3, wait: 5_000 });
      await queued(env.urls, name, 1);
      assert.equal(await sem.tryAcquire(), null, "2 of 3 permits are free, but the poller ahead wants 3");
      const released = performance.now();
      await held.release();
      const big = await waiting;
      assert.ok(performance.now() - released < 500, "the poller got its 3 permits at its next look");
      await big.release();
    });

    it("a crashed waiter ahead holds newcomers back only until its place runs out", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const name = fresh("ghost");
      const sem = locks.semaphore(name, { limit: 2 });
      const held = await sem.acquire();
      // A waiter for 2 permits that queued and then died: its place is not refreshed after 400 ms.
      await queueWaiter(env.urls, name, "ghost", 2, 400);
      const started = performance.now();
      assert.equal(await sem.tryAcquire(), null, "1 held + 2 wanted ahead leave no room");
      const next = await sem.acquire({ wait: 3_000 });
      const took = performance.now() - started;
      assert.ok(took > 250 && took < 1_500, `got in ${took.toFixed(0)} ms after a 400 ms place`);
      await Promise.all([held.release(), next.release()]);
      await expectOn(
        () => semaphoreKeysOn(env.urls, name),
        env.urls.map(() => []),
        "the dead place was dropped",
      );
    });

    it(
      "with nobody holding, a queued waiter still keeps a newcomer's first attempt off its permits",
      T,
      async () => {
        const locks = await manager({ ttl: 5_000 });
        const name = fresh("queued-idle");
        const sem = locks.semaphore(name, { limit: 2 });
        // Once, so the fencing counter exists: the uncontended path is then what the next attempt takes.
        await (await sem.acquire()).release();
        // Nobody holds (the uncontended path's case), but a waiter for both permits is queued for 400 ms more: as
        // when a holder's lease ran out and the waiter has not looked again yet.
        await queueWaiter(env.urls, name, "ahead", 2, 400);
        assert.equal(await sem.tryAcquire(), null, "2 permits free, but the waiter ahead wants both");
        const next = await sem.acquire({ wait: 3_000 });
        await next.release();
      },
    );

    if (nodeCount === 1) {
      it(
        "a manager-wide `fair: true` does not apply to semaphores, which still share permits",
        T,
        async () => {
          const locks = await manager({ fair: true });
          const sem = locks.semaphore(fresh("fair-default"), { limit: 2 });
          const [a, b] = [await sem.acquire(), await sem.acquire({ fair: false } as never)];
          assert.ok(a.valid && b.valid);
          await Promise.all([a.release(), b.release()]);
        },
      );
    }

    it("announces its leases as `semaphore` in events", T, async () => {
      const locks = await manager();
      const name = fresh("events");
      const seen: AcquiredEvent[] = [];
      const listener = (event: unknown) => {
        if ((event as AcquiredEvent).resource === name) seen.push(event as AcquiredEvent);
      };
      subscribe(CHANNELS.acquired, listener);
      try {
        const lease = await locks.semaphore(name, { limit: 2 }).acquire();
        await lease.release();
      } finally {
        unsubscribe(CHANNELS.acquired, listener);
      }
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.primitive, "semaphore");
    });

    it(
      "a lease that outlives its TTL aborts its signal, and its late release spares the next holder",
      T,
      async () => {
        const locks = await manager();
        const name = fresh("expiry");
        const sem = locks.semaphore(name, { limit: 1 });
        const old = await sem.acquire({ ttl: 150 });
        assert.ok((await whenAborted(old.signal)) instanceof LockLostError);
        const next = await sem.acquire({ ttl: 5_000, wait: 2_000 });
        // Where the next holder holds: a quorum at least (a node where the old holder lasted a few ms longer may
        // have refused it).
        await sleep(50);
        const before = (await holdersOn(env.urls, name)).map((held) => held.includes(next.token));
        assert.ok(before.filter(Boolean).length >= Math.floor(env.urls.length / 2) + 1, `next on ${before}`);
        await old.release();
        await sleep(50);
        const after = await holdersOn(env.urls, name);
        assert.deepEqual(
          after.filter((_, i) => before[i]),
          after.filter((_, i) => before[i]).map(() => [next.token]),
          "the old lease's late release spares the next holder wherever it holds",
        );
        await next.release();
      },
    );
  });
}

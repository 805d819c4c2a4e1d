// The lock's contract, as one suite run per (client adapter × node count). See the *.test.ts files beside it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockError, LockLostError, LockManager, LockTimeoutError } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { useClock } from "../../src/validity.js";
import { type Adapter, inspect, valuesOn, whenAborted } from "../support/adapters.js";
import { lockKey } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { suiteNodes } from "../support/suite.js";
import { SHORT as T } from "../support/timeouts.js";

export function mutexSuite(adapter: Adapter, nodeCount: number): void {
  describe(`mutex over ${adapter.name}, ${nodeCount} node${nodeCount > 1 ? "s" : ""}`, () => {
    const env = suiteNodes(adapter, nodeCount);
    const manager = env.manager;

    it("acquires a lease with a random token, a fence and validity, and releases it", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const resource = fresh("basic");
      const lease = await locks.acquire(resource);
      assert.equal(lease.resource, resource);
      assert.ok(Buffer.from(lease.token, "base64url").length >= 16, "token has at least 128 random bits");
      assert.equal(typeof lease.fence, "number");
      assert.ok(lease.valid);
      assert.ok(lease.remainingMs > 4_000 && lease.remainingMs <= 5_000, `remaining ${lease.remainingMs}`);
      assert.equal(lease.signal.aborted, false);
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => lease.token),
      );
      await lease.release();
      assert.equal(lease.valid, false);
      assert.equal(lease.signal.aborted, true);
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("never lets two holders overlap, and fences only go up (in-process contention)", T, async () => {
      const locks = await manager({ ttl: 2_000, wait: 10_000 });
      const resource = fresh("contention");
      let holders = 0;
      let maxHolders = 0;
      const fences: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = 0; i < 5; i++) {
            const lease = await locks.acquire(resource);
            holders++;
            maxHolders = Math.max(maxHolders, holders);
            fences.push(lease.fence!);
            await sleep(2);
            holders--;
            await lease.release();
          }
        }),
      );
      assert.equal(maxHolders, 1);
      assert.equal(fences.length, 40);
      for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!, `fence ${i} went down`);
    });

    it("tryAcquire returns null while the lock is held, and a lease once it is free", T, async () => {
      const locks = await manager();
      const resource = fresh("try");
      const held = await locks.acquire(resource);
      assert.equal(await locks.tryAcquire(resource), null);
      await held.release();
      const next = await locks.tryAcquire(resource);
      assert.ok(next?.valid);
      assert.ok(next.fence! > held.fence!);
      await next.release();
    });

    it(
      "acquire waits for a release, and times out with ERR_LOCK_TIMEOUT when it never comes",
      T,
      async () => {
        const locks = await manager({ ttl: 5_000 });
        const resource = fresh("wait");
        const held = await locks.acquire(resource);
        const started = performance.now();
        await assert.rejects(locks.acquire(resource, { wait: 300 }), (error: LockTimeoutError) => {
          assert.ok(error instanceof LockTimeoutError && error instanceof LockError);
          assert.equal(error.code, "ERR_LOCK_TIMEOUT");
          assert.equal(error.resource, resource);
          return true;
        });
        const waited = performance.now() - started;
        assert.ok(waited >= 290 && waited < 1_000, `waited ${waited} ms for a 300 ms wait`);
        // Without waiting too, the error says what each node answered.
        await assert.rejects(locks.acquire(resource, { wait: 0 }), (error: LockTimeoutError) => {
          assert.equal(error.code, "ERR_LOCK_TIMEOUT");
          // The vote settles once a quorum refused; nodes that had not answered yet are pending.
          const refused = error.nodes.filter((n) => n.status === "refused").length;
          assert.ok(refused >= locks.quorum, `${refused} nodes refused`);
          assert.ok(error.nodes.every((n) => n.status === "refused" || n.status === "pending"));
          return true;
        });
        setTimeout(() => void held.release(), 100);
        const next = await locks.acquire(resource, { wait: 3_000 });
        assert.ok(next.valid);
        await next.release();
      },
    );

    it(
      "a lease that outlives its TTL becomes invalid, aborts its signal, and its release spares the next holder",
      T,
      async () => {
        const locks = await manager();
        const resource = fresh("expiry");
        const old = await locks.acquire(resource, { ttl: 150 });
        const reason = await whenAborted(old.signal);
        assert.ok(reason instanceof LockLostError, "signal reason is a LockLostError");
        assert.equal(reason.code, "ERR_LOCK_LOST");
        assert.equal(old.valid, false);
        assert.equal(old.remainingMs, 0);
        const next = await locks.acquire(resource, { ttl: 5_000, wait: 2_000 });
        // Where the next holder holds: a quorum at least (a node that had not yet applied the acquire, or where the
        // old key lasted a few ms longer, may not hold it).
        await sleep(50);
        const before = (await valuesOn(env.urls, lockKey(resource))).map((v) => v === next.token);
        assert.ok(before.filter(Boolean).length >= Math.floor(env.urls.length / 2) + 1, `next on ${before}`);
        await old.release(); // counts as done, and must not delete the new holder's key
        const after = await valuesOn(env.urls, lockKey(resource));
        assert.deepEqual(
          after.filter((_, i) => before[i]),
          after.filter((_, i) => before[i]).map(() => next.token),
          "the old lease's release spares the next holder's key wherever it holds",
        );
        assert.ok(next.valid);
        await next.release();
      },
    );

    it(
      "extend pushes the expiry out; extend on an expired lease throws and does not resurrect it",
      T,
      async () => {
        const locks = await manager();
        const resource = fresh("extend");
        const lease = await locks.acquire(resource, { ttl: 300 });
        await lease.extend(3_000);
        assert.ok(lease.remainingMs > 2_500, `remaining ${lease.remainingMs}`);
        await sleep(400);
        assert.ok(lease.valid, "still valid past the original TTL");
        await lease.release();

        const short = await locks.acquire(resource, { ttl: 100 });
        await sleep(200);
        await assert.rejects(short.extend(5_000), { name: "LockLostError", code: "ERR_LOCK_LOST" });
        assert.deepEqual(
          await valuesOn(env.urls, lockKey(resource)),
          env.urls.map(() => null),
          "no key re-created",
        );
      },
    );

    it("extend fails with ERR_LOCK_LOST when the key was taken over behind the lease's back", T, async () => {
      const locks = await manager();
      const resource = fresh("stolen");
      const lease = await locks.acquire(resource, { ttl: 5_000 });
      await inspect(env.urls, (all) => Promise.all(all.map((n) => n.set(lockKey(resource), "someone-else"))));
      await assert.rejects(lease.extend(), { code: "ERR_LOCK_LOST" });
      assert.equal(lease.valid, false);
      assert.ok(lease.signal.reason instanceof LockLostError);
      await lease.release();
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => "someone-else"),
      );
    });

    it("an extension whose answer comes after the lease expired does not revive it", T, async () => {
      const locks = await manager();
      const resource = fresh("late-extend");
      const lease = await locks.acquire(resource, { ttl: 300 });
      const pending = lease.extend(5_000);
      // Let the request go out (a few microtask hops); its reply needs I/O, so it cannot have arrived yet.
      for (let i = 0; i < 20; i++) await Promise.resolve();
      // While the extension is on its way, the client's clock passes the expiry before any timer has run
      // (as after a pause): the late confirmation must not bring the lease back.
      const jumped = performance.now() + 400;
      const restore = useClock(() => jumped + (performance.now() - jumped) + 400);
      try {
        await assert.rejects(pending, { code: "ERR_LOCK_LOST" });
        assert.equal(lease.valid, false);
        assert.ok(lease.signal.reason instanceof LockLostError);
      } finally {
        restore();
      }
      await lease.release();
    });

    it("release is idempotent and only ever deletes the owner's key", T, async () => {
      const locks = await manager();
      const resource = fresh("idempotent");
      const lease = await locks.acquire(resource);
      const first = lease.release();
      assert.equal(lease.release(), first, "the same promise");
      await first;
      await lease.release();
      await lease[Symbol.asyncDispose]();
    });

    it("falls back to EVAL when the script cache was flushed (NOSCRIPT)", T, async () => {
      const locks = await manager({ ttl: 2_000 });
      const resource = fresh("noscript");
      (await locks.acquire(resource)).release();
      await inspect(env.urls, (all) => Promise.all(all.map((n) => n.script("FLUSH"))));
      const lease = await locks.acquire(resource);
      await inspect(env.urls, (all) => Promise.all(all.map((n) => n.script("FLUSH"))));
      await lease.extend(3_000);
      await inspect(env.urls, (all) => Promise.all(all.map((n) => n.script("FLUSH"))));
      await lease.release();
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("an aborted acquire rejects at once with an AbortError and leaves no key behind", T, async () => {
      const locks = await manager({ ttl: 5_000 });
      const resource = fresh("abort");
      const held = await locks.acquire(resource);
      const controller = new AbortController();
      const pending = locks.acquire(resource, { wait: 10_000, signal: controller.signal });
      await sleep(100);
      const abortedAt = performance.now();
      controller.abort(new Error("changed my mind"));
      await assert.rejects(pending, (error: LockError) => {
        assert.equal(error.name, "AbortError");
        assert.equal(error.code, "ABORT_ERR");
        assert.match(String((error.cause as Error).message), /changed my mind/);
        return true;
      });
      assert.ok(performance.now() - abortedAt < 100, "rejected promptly");
      await held.release();
      const already = AbortSignal.abort();
      await assert.rejects(locks.acquire(resource, { signal: already }), { name: "AbortError" });
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("withLock passes the result and the error through unchanged, and always releases", T, async () => {
      const locks = await manager({ ttl: 2_000 });
      const resource = fresh("withlock");
      assert.equal(
        await locks.withLock(resource, async (lease) => `fence ${lease.fence !== undefined}`),
        "fence true",
      );
      const failure = new Error("boom");
      await assert.rejects(
        locks.withLock(resource, async () => {
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("withLock keeps the lease extended while a long function runs", T, async () => {
      const locks = await manager();
      const resource = fresh("autoextend");
      let seen: Lease | undefined;
      await locks.withLock(
        resource,
        async (lease) => {
          seen = lease;
          await sleep(800); // 2.7 × the TTL
          assert.ok(lease.valid, "still valid after outliving its TTL");
          assert.equal(lease.signal.aborted, false);
          assert.equal(await locks.tryAcquire(resource), null, "nobody else got in");
        },
        { ttl: 300 },
      );
      assert.equal(seen?.valid, false);
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("auto-extension stops at maxHold, and the lease then ends with a LockLostError", T, async () => {
      const locks = await manager();
      const resource = fresh("maxhold");
      const lease = await locks.acquire(resource, { ttl: 200, autoExtend: true, maxHold: 500 });
      const started = performance.now();
      await whenAborted(lease.signal);
      const held = performance.now() - started;
      assert.ok(held > 350 && held < 700, `held ${held} ms with maxHold 500`);
      assert.match((lease.signal.reason as Error).message, /maxHold/);
      const next = await locks.acquire(resource, { wait: 1_000 });
      await next.release();
    });

    it("`await using` releases the lease when the block ends", T, async () => {
      const locks = await manager();
      const resource = fresh("using");
      let inside: Lease;
      {
        await using lease = await locks.acquire(resource);
        inside = lease;
        assert.ok(lease.valid);
      }
      assert.equal(inside.valid, false);
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
    });

    it("with fencing off, leases carry no fence and no counter is written", T, async () => {
      const locks = await manager({ fencing: false });
      const resource = fresh("nofence");
      const lease = await locks.acquire(resource);
      assert.equal(lease.fence, undefined);
      await lease.release();
      assert.deepEqual(
        await valuesOn(env.urls, mutexKeys("quorumlock:", resource).fence),
        env.urls.map(() => null),
      );
    });

    it("uses the configured key prefix, with the resource as a Redis Cluster hash tag", T, async () => {
      const locks = await manager({ prefix: "app:" });
      const lease = await locks.acquire("orders:42");
      assert.deepEqual(
        await valuesOn(env.urls, "app:{orders:42}"),
        env.urls.map(() => lease.token),
      );
      await lease.release();
    });

    it("rejects bad call arguments with typed errors, before touching Redis", T, async () => {
      const locks = await manager();
      await assert.rejects(locks.acquire(""), {
        name: "RangeError",
        code: "ERR_INVALID_ARG_VALUE",
        message: /"resource"/,
      });
      await assert.rejects(locks.acquire(42 as never), { name: "TypeError", code: "ERR_INVALID_ARG_TYPE" });
      await assert.rejects(locks.acquire("x".repeat(1025)), { code: "ERR_INVALID_ARG_VALUE" });
      await assert.rejects(locks.acquire("r", { ttl: 0 }), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /"ttl"/,
      });
      await assert.rejects(locks.acquire("r", { ttl: Number.NaN }), { code: "ERR_INVALID_ARG_VALUE" });
      await assert.rejects(locks.acquire("r", { wait: -1 }), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /"wait"/,
      });
      await assert.rejects(locks.acquire("r", { bogus: 1 } as never), {
        code: "ERR_INVALID_ARG_VALUE",
        message: /bogus/,
      });
      await assert.rejects(locks.withLock("r", "not a function" as never), { code: "ERR_INVALID_ARG_TYPE" });
      const lease = await locks.acquire(fresh("badextend"));
      await assert.rejects(lease.extend(0), { code: "ERR_INVALID_ARG_VALUE" });
      await assert.rejects(lease.extend(2 ** 40), { code: "ERR_INVALID_ARG_VALUE" });
      assert.ok(lease.valid, "a bad extend argument does not hurt the lease");
      await lease.release();
    });

    it("close() releases held leases and refuses further work", T, async () => {
      const { specs, cleanup } = await adapter.connect(env.urls);
      const locks = new LockManager({ nodes: specs });
      const resource = fresh("close");
      const lease = await locks.acquire(resource);
      await locks.close();
      await locks.close();
      assert.equal(lease.valid, false);
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
      await assert.rejects(locks.acquire(resource), { code: "ERR_LOCK_MANAGER_CLOSED" });
      await cleanup();
    });

    it("close() stops acquisitions still waiting, and they leave no key behind", T, async () => {
      const holder = await manager();
      const resource = fresh("close-waiting");
      const held = await holder.acquire(resource, { ttl: 5_000 });
      const { specs, cleanup } = await adapter.connect(env.urls);
      const locks = new LockManager({ nodes: specs });
      const waiting = locks.acquire(resource, { wait: 10_000 });
      await sleep(100);
      const started = performance.now();
      const rejected = assert.rejects(waiting, { code: "ERR_LOCK_MANAGER_CLOSED" });
      await locks.close();
      await rejected;
      assert.ok(performance.now() - started < 1_000, "close did not wait for the acquire's deadline");
      await held.release();
      assert.deepEqual(
        await valuesOn(env.urls, lockKey(resource)),
        env.urls.map(() => null),
      );
      await cleanup();
    });
  });
}

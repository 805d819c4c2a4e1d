// The read-write lock's contract, as one suite run per (client adapter × node count). See the *.test.ts beside it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockLostError, LockTimeoutError } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { type Adapter, inspect, whenAborted } from "../support/adapters.js";
import { suiteNodes } from "../support/suite.js";

const T = { timeout: 20_000 };
let counter = 0;
const fresh = (what: string): string => `rw-${what}:${process.pid}:${++counter}`;
const readersKey = (name: string) => mutexKeys("quorumlock:", name).readers;

/** Releases with `release`, then waits for `waiting`: what it brings and how many ms after the release it came. */
async function afterRelease<T>(
  release: () => Promise<unknown>,
  waiting: Promise<T>,
): Promise<{ got: T; waited: number }> {
  const released = performance.now();
  await release();
  const got = await waiting;
  return { got, waited: performance.now() - released };
}

/** Resolves with how long `work` took to settle, in ms. */
async function timed(work: Promise<unknown>): Promise<number> {
  const began = performance.now();
  await work;
  return performance.now() - began;
}

export function readWriteSuite(adapter: Adapter, nodeCount: number): void {
  describe(`read-write lock over ${adapter.name}, ${nodeCount} node${nodeCount > 1 ? "s" : ""}`, () => {
    const env = suiteNodes(adapter, nodeCount, { ttl: 5_000, wait: 5_000 });
    const manager = env.manager;

    it("many readers hold at once, and leave nothing behind", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("many"));
      assert.equal(rw.name.startsWith("rw-many:"), true);
      const leases = await Promise.all(Array.from({ length: 10 }, () => rw.read({ wait: 0 })));
      assert.ok(leases.every((l) => l.valid && l.primitive === "read"));
      assert.ok(leases.every((l) => Number.isSafeInteger(l.fence)));
      // On one node each reader bumps the counter in turn; on a quorum, readers that raced may share the highest
      // counter their nodes saw (readers are not ordered among themselves: docs/rwlock.md).
      if (nodeCount === 1)
        assert.equal(new Set(leases.map((l) => l.fence)).size, 10, "every reader has its own fence");
      await Promise.all(leases.map((l) => l.release()));
      const left = await inspect(env.urls, (nodes) =>
        Promise.all(nodes.map((n) => n.exists(readersKey(rw.name)))),
      );
      assert.deepEqual(
        left,
        env.urls.map(() => 0),
      );
    });

    it("a writer excludes readers, and readers exclude the writer", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("excl"));
      const writer = await rw.write();
      assert.equal(writer.primitive, "write");
      assert.equal(await rw.tryRead(), null);
      assert.equal(await rw.tryWrite(), null);
      await writer.release();
      const reader = await rw.tryRead();
      assert.ok(reader?.valid);
      assert.equal(await rw.tryWrite(), null);
      await assert.rejects(rw.write({ wait: 200 }), LockTimeoutError);
      await assert.rejects(rw.write({ wait: 0 }), (error: LockTimeoutError) => error.nodes.length > 0);
      await reader.release();
      const next = await rw.tryWrite();
      assert.ok(next?.valid);
      await next.release();
    });

    it("the plain lock of the same name is the write side", T, async () => {
      const locks = await manager();
      const name = fresh("same");
      const rw = locks.readWrite(name);
      const reader = await rw.read();
      assert.equal(await locks.tryAcquire(name), null, "acquire() is refused while a reader holds");
      if (nodeCount === 1) {
        assert.equal(await locks.tryAcquire(name, { fair: true }), null, "so is fair mode's");
        await assert.rejects(locks.acquire(name, { fair: true, wait: 300 }), LockTimeoutError);
      }
      await reader.release();
      const plain = await locks.acquire(name);
      assert.equal(await rw.tryRead(), null, "a reader is refused while acquire()'s lease holds");
      await plain.release();
    });

    it("a waiting writer keeps new readers out, so a stream of readers cannot starve it", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("prefer"));
      let reading = 0;
      let stop = false;
      // Overlapping readers, so that without writer preference there would always be one holding.
      const stream = Array.from({ length: 5 }, async (_, i) => {
        await sleep(i * 20);
        while (!stop) {
          const lease = await rw.read({ wait: 10_000 });
          reading++;
          await sleep(100);
          reading--;
          await lease.release();
        }
      });
      await sleep(150);
      const took = await timed(
        rw.write({ wait: 2_500 }).then(async (w) => {
          assert.equal(reading, 0, "no reader holds alongside the writer");
          await sleep(50);
          await w.release();
        }),
      );
      stop = true;
      await Promise.all(stream);
      // The readers in drain within 100 ms and the last one out wakes the writer; without writer preference it
      // would find no moment free of readers.
      assert.ok(took < 700, `the writer waited ${Math.round(took)} ms behind readers`);
    });

    it(
      "a reader that queued before a waiting writer goes first; later readers wait for the writer",
      T,
      async () => {
        const locks = await manager();
        const rw = locks.readWrite(fresh("order"));
        const first = await rw.write();
        const order: string[] = [];
        const early = rw.read().then((l) => {
          order.push("early reader");
          return l;
        });
        await sleep(200);
        const writer = rw.write().then((l) => {
          order.push("writer");
          return l;
        });
        await sleep(200);
        const late = rw.read().then((l) => {
          order.push("late reader");
          return l;
        });
        await sleep(200);
        await first.release();
        const reader = await early;
        await sleep(100);
        assert.deepEqual(
          order,
          ["early reader"],
          "the writer waits for the early reader, the late reader for it",
        );
        assert.equal(await rw.tryRead(), null, "a new reader is refused while the writer waits");
        await reader.release();
        const w = await writer;
        await sleep(100);
        assert.deepEqual(order, ["early reader", "writer"]);
        await w.release();
        await (await late).release();
        assert.deepEqual(order, ["early reader", "writer", "late reader"]);
      },
    );

    it("a writer's release wakes every waiting reader at once, well before the 1 s re-check", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("wake-readers"));
      const writer = await rw.write();
      const readers = Array.from({ length: 4 }, () => rw.read());
      await sleep(300); // every reader has queued
      const { got: leases, waited } = await afterRelease(() => writer.release(), Promise.all(readers));
      assert.ok(waited < 400, `readers got in ${Math.round(waited)} ms after the release`);
      await Promise.all(leases.map((l) => l.release()));
    });

    it("the last reader's release wakes the waiting writer at once", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("wake-writer"));
      const first = await rw.read();
      const second = await rw.read();
      const writer = rw.write();
      await sleep(300);
      await first.release();
      await sleep(100);
      const { got: lease, waited } = await afterRelease(() => second.release(), writer);
      assert.ok(waited < 400, `the writer got in ${Math.round(waited)} ms after the last reader left`);
      await lease.release();
    });

    if (nodeCount === 1) {
      it(
        "the last reader's release wakes a fair-mode writer of the same name, before its 0.5 s look",
        T,
        async () => {
          const locks = await manager();
          const name = fresh("wake-fair");
          const reader = await locks.readWrite(name).read({ ttl: 10_000 });
          const writer = locks.acquire(name, { fair: true, wait: 5_000 });
          await sleep(150); // queued, and parked until it looks again 0.5 s after its last attempt
          const { got: lease, waited } = await afterRelease(() => reader.release(), writer);
          assert.ok(
            waited < 250,
            `the fair writer got in ${Math.round(waited)} ms after the last reader left`,
          );
          await lease.release();
        },
      );

      it(
        "a fair-mode writer's release wakes the waiting readers of the same name, before their 1 s look",
        T,
        async () => {
          const locks = await manager();
          const name = fresh("fair-wakes-readers");
          const writer = await locks.acquire(name, { fair: true, ttl: 10_000 });
          const reading = locks.readWrite(name).read({ wait: 5_000 });
          await sleep(150); // queued, and parked until it looks again a second after its last attempt
          const { got: lease, waited } = await afterRelease(() => writer.release(), reading);
          assert.ok(waited < 250, `the reader got in ${Math.round(waited)} ms after the fair writer left`);
          await lease.release();
        },
      );
    }

    it("a waiting writer that gives up lets in at once the readers it kept out", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("give-up"));
      const holder = await rw.read();
      const writer = rw.write({ wait: 400 });
      await sleep(150); // the writer has queued
      const began = performance.now();
      const reader = rw.read();
      await assert.rejects(writer, LockTimeoutError);
      const lease = await reader;
      const took = performance.now() - began;
      // Without a wake-up the reader would look again only after its 1 s re-check.
      assert.ok(took < 800, `the reader got in ${Math.round(took)} ms after it asked`);
      await Promise.all([lease.release(), holder.release()]);
    });

    it("a crashed reader frees the lock after its TTL", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("crash"));
      // A reader that never releases nor extends: as good as crashed once its TTL is over.
      const crashed = await rw.read({ ttl: 400 });
      const took = await timed(rw.write({ wait: 3_000 }).then((l) => l.release()));
      assert.ok(took >= 300 && took < 1_500, `the writer waited ${Math.round(took)} ms for a 400 ms TTL`);
      assert.equal(crashed.valid, false);
    });

    it(
      "a writer's first attempt takes the lock past readers that expired but are still listed",
      T,
      async () => {
        const locks = await manager();
        const rw = locks.readWrite(fresh("expired-readers"));
        // A reader's entry outlives its expiry while a later reader's keeps the set alive: listed, not holding.
        await inspect(env.urls, (nodes) =>
          Promise.all(nodes.map((n) => n.zadd(readersKey(rw.name), Date.now() - 1_000, "expired"))),
        );
        const writer = await rw.tryWrite();
        assert.ok(writer?.valid, "taken by the first attempt");
        const listed = await inspect(env.urls, (nodes) =>
          Promise.all(nodes.map((n) => n.exists(readersKey(rw.name)))),
        );
        assert.deepEqual(
          listed,
          env.urls.map(() => 0),
          "the expired entry dropped on the way",
        );
        assert.equal(await rw.tryRead(), null, "and the writer holds");
        await writer.release();
      },
    );

    it("fences: a lease's fence is above every lease that ended before it began", T, async () => {
      const locks = await manager();
      const name = fresh("fence");
      const rw = locks.readWrite(name);
      const r1 = await rw.read();
      const r2 = await rw.read();
      await Promise.all([r1.release(), r2.release()]);
      const w = await rw.write();
      assert.ok(w.fence! > Math.max(r1.fence!, r2.fence!));
      await w.release();
      const r3 = await rw.read();
      assert.ok(r3.fence! > w.fence!);
      await r3.release();
      const plain = await locks.acquire(name);
      assert.ok(plain.fence! > r3.fence!);
      await plain.release();
    });

    it("a reader extends its own hold only, and an expired one cannot come back", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("extend"));
      const a = await rw.read({ ttl: 300 });
      const b = await rw.read({ ttl: 300 });
      await a.extend(3_000);
      const lost = await whenAborted(b.signal);
      assert.ok(lost instanceof LockLostError);
      assert.ok(a.valid && a.remainingMs > 2_000);
      await assert.rejects(b.extend(3_000), LockLostError);
      assert.equal(await rw.tryWrite(), null, "the extended reader still holds");
      await a.release();
    });

    it("an aborted read or write leaves no hold behind", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("abort"));
      const writer = await rw.write();
      const controller = new AbortController();
      const pending = rw.read({ signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(pending, { name: "AbortError", code: "ABORT_ERR" });
      await writer.release();
      const reader = await rw.read();
      const abortWrite = new AbortController();
      const pendingWrite = rw.write({ signal: abortWrite.signal });
      setTimeout(() => abortWrite.abort(), 100);
      await assert.rejects(pendingWrite, { name: "AbortError" });
      await reader.release();
      const next = await rw.tryWrite();
      assert.ok(next?.valid, "nothing left behind by the aborted calls");
      await next.release();
    });

    it("withRead and withWrite pass results and errors through and always release", T, async () => {
      const locks = await manager();
      const rw = locks.readWrite(fresh("with"));
      let held: Lease | undefined;
      assert.equal(
        await rw.withRead((lease) => {
          held = lease;
          return 42;
        }),
        42,
      );
      assert.equal(held?.valid, false);
      const boom = new Error("boom");
      await assert.rejects(
        rw.withWrite(() => {
          throw boom;
        }),
        (e) => e === boom,
      );
      const after = await rw.tryWrite();
      assert.ok(after?.valid);
      await after.release();
    });

    it("refuses bad input at once with typed errors", T, async () => {
      const locks = await manager({ fair: nodeCount === 1 });
      assert.throws(() => locks.readWrite(42 as unknown as string), {
        name: "TypeError",
        code: "ERR_INVALID_ARG_TYPE",
      });
      assert.throws(() => locks.readWrite(""), { name: "RangeError", code: "ERR_INVALID_ARG_VALUE" });
      const rw = locks.readWrite(fresh("bad"));
      await assert.rejects(rw.read({ ttl: -1 }), { name: "RangeError", code: "ERR_INVALID_ARG_VALUE" });
      await assert.rejects(rw.tryWrite({ wait: 5 } as never), {
        name: "TypeError",
        code: "ERR_INVALID_ARG_VALUE",
      });
      await assert.rejects(rw.withRead("nope" as never), { name: "TypeError", code: "ERR_INVALID_ARG_TYPE" });
      await assert.rejects(rw.read({ fair: true } as never), { code: "ERR_INVALID_ARG_VALUE" });
      // A manager-wide fair default does not break read-write locks.
      const lease = await rw.write();
      assert.equal(await rw.tryRead(), null);
      await lease.release();
      await (await rw.read()).release();
    });
  });
}

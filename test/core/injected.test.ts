import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate } from "node:timers/promises";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { LockManager } from "../../src/index.js";
import { useNodes } from "../support/nodes.js";
import { QUICK, SHORT } from "../support/timeouts.js";

describe("injected clients", () => {
  const env = useNodes(3);

  it(
    "are used as they are and stay open after close(), for ioredis and node-redis alike",
    QUICK,
    async () => {
      const io = new Redis(env.nodes[0]!.url);
      const nr = createClient({ url: env.nodes[1]!.url });
      await nr.connect();
      try {
        const locks = new LockManager({ nodes: [io, nr, env.nodes[2]!.url] });
        const lease = await locks.acquire("injected");
        assert.equal(await io.get("quorumlock:{injected}"), lease.token);
        assert.equal(await nr.get("quorumlock:{injected}"), lease.token);
        await locks.close();
        assert.equal(await io.ping(), "PONG", "the injected ioredis client is still open");
        assert.equal(await nr.ping(), "PONG", "the injected node-redis client is still open");
        assert.equal(await io.get("quorumlock:{injected}"), null, "close() released the lease");
      } finally {
        io.disconnect();
        nr.destroy();
      }
    },
  );

  it(
    "are left as they were found: 20 managers over one client add no listener that outlives close()",
    SHORT,
    async () => {
      const io = new Redis(env.nodes[0]!.url);
      const nr = createClient({ url: env.nodes[1]!.url });
      await Promise.all([io.ping(), nr.connect()]); // ioredis listens for itself while it connects
      const counts = () =>
        [io, nr].map((client) => {
          const emitter = client as unknown as NodeJS.EventEmitter;
          return Object.fromEntries(emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e)]));
        });
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
      process.on("warning", onWarning);
      try {
        const before = counts();
        // The quarantine makes each manager ask for the connection's session, as node-redis listens for it.
        const managers = Array.from(
          { length: 20 },
          () => new LockManager({ nodes: [io, nr], ttl: 1_000, quarantine: 1_000 }),
        );
        await Promise.all(managers.map((m) => m.tryAcquire("listeners").catch(() => null)));
        await Promise.all(managers.map((m) => m.close()));
        await setImmediate(); // warnings are emitted on the next tick
        assert.deepEqual(warnings, []);
        assert.deepEqual(counts(), before);
      } finally {
        process.off("warning", onWarning);
        io.disconnect();
        nr.destroy();
      }
    },
  );

  it("cannot be listed twice: one node must not count as two votes", () => {
    const io = new Redis({ lazyConnect: true });
    assert.throws(() => new LockManager({ nodes: [io, io] }), {
      code: "ERR_INVALID_ARG_VALUE",
      message: /"nodes\[1\]".*repeats nodes\[0\]/,
    });
    io.disconnect();
  });
  it(
    "an injected ioredis client's keyPrefix prefixes every lock key, and waiting and waking still work",
    SHORT,
    async () => {
      // ioredis prefixes the keys of every command it sends, scripts' KEYS included: quorumlock's commands too.
      const url = env.nodes[0]!.url;
      const [a, b] = [new Redis(url, { keyPrefix: "app:" }), new Redis(url, { keyPrefix: "app:" })];
      const raw = new Redis(url);
      const [first, second] = [new LockManager({ nodes: [a] }), new LockManager({ nodes: [b] })];
      try {
        const lease = await first.acquire("prefixed");
        assert.equal(await raw.get("app:quorumlock:{prefixed}"), lease.token);
        assert.equal(await raw.exists("quorumlock:{prefixed}"), 0);
        assert.equal(await second.tryAcquire("prefixed"), null, "the prefixed lock is held for every client");
        const waiting = second.acquire("prefixed", { wait: 5_000 });
        await new Promise((resolve) => setTimeout(resolve, 100));
        const released = performance.now();
        await lease.release();
        const next = await waiting;
        // Woken by the release, not by the once-a-second look.
        assert.ok(performance.now() - released < 500, `took ${Math.round(performance.now() - released)} ms`);
        assert.ok(next.fence! > lease.fence!);
        await next.release();
        assert.equal(await raw.exists("app:quorumlock:{prefixed}"), 0);
      } finally {
        await Promise.all([first.close(), second.close()]);
        for (const client of [a, b, raw]) client.disconnect();
      }
    },
  );
});

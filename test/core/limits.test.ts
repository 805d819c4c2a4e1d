// What quorumlock refuses, and says why: a fencing counter at the end of the exact range, and a Redis too old for
// its scripts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { createClient } from "redis";
import type { RedisConnection } from "../../src/clients/connection.js";
import { LockManager, type LockUnavailableError, NodeUnsupportedError } from "../../src/index.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { checkedNodes, unsupportedVersion } from "../../src/quarantine.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1

describe("limits", () => {
  let nodes: RedisNodes;
  let direct: Redis;
  before(async () => {
    nodes = await startRedisNodes(1);
    direct = new Redis(nodes[0]!.url);
  });
  after(async () => {
    direct?.disconnect();
    await nodes?.stopAll();
  });

  for (const fair of [false, true]) {
    it(`${fair ? "fair mode: " : ""}a fence counter at 2^53 - 1 refuses the lock with a clear error and writes nothing; just below, the last exact fence is handed out`, async () => {
      const locks = new LockManager({ nodes: [nodes[0]!.url], wait: 0, fair });
      const name = `limit-${fair}`;
      const keys = mutexKeys("quorumlock:", name);
      try {
        await direct.set(keys.fence, String(MAX - 1));
        const last = await locks.acquire(name);
        assert.equal(last.fence, MAX);
        await last.release();
        const error = (await locks.acquire(name).catch((e) => e)) as LockUnavailableError;
        assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
        assert.match(error.message, /fencing counter .* reached 2\^53 - 1/);
        assert.equal(await direct.exists(keys.lock, keys.queue, keys.waiters), 0, "nothing was written");
        assert.equal(await direct.get(keys.fence), String(MAX));
        // Without fencing the counter does not matter.
        const unfenced = new LockManager({ nodes: [nodes[0]!.url], fencing: false, fair });
        await (await unfenced.acquire(name)).release();
        await unfenced.close();
      } finally {
        await locks.close();
      }
    });
  }

  it("fair mode: a release that cannot give the next waiter a fence frees the lock, and the waiter gets the error", async () => {
    const locks = new LockManager({ nodes: [nodes[0]!.url], fair: true });
    const name = "limit-hand-off";
    const keys = mutexKeys("quorumlock:", name);
    try {
      const held = await locks.acquire(name);
      const waiting = locks.acquire(name, { wait: 5_000 }).then(
        () => assert.fail("acquired with no fence left"),
        (e: LockUnavailableError) => e,
      );
      while ((await direct.zcard(keys.queue)) === 0) await new Promise((r) => setTimeout(r, 10));
      await direct.set(keys.fence, String(MAX));
      await held.release();
      assert.equal(await direct.get(keys.lock), null, "not handed off with a fence it could not have");
      const error = await waiting;
      assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
      assert.match(error.message, /fencing counter .* reached 2\^53 - 1/);
      assert.equal(await direct.exists(keys.lock, keys.queue, keys.waiters), 0, "nothing left behind");
      assert.equal(await direct.get(keys.fence), String(MAX));
    } finally {
      await locks.close();
    }
  });

  for (const kind of ["read", "semaphore"] as const) {
    it(`${kind === "read" ? "a read lease" : "a semaphore permit"}: a fence counter at 2^53 - 1 refuses with a clear error and grants nothing`, async () => {
      const locks = new LockManager({ nodes: [nodes[0]!.url], wait: 0 });
      const name = `limit-${kind}`;
      const keys = mutexKeys("quorumlock:", name);
      const take = () =>
        kind === "read" ? locks.readWrite(name).read() : locks.semaphore(name, { limit: 2 }).acquire();
      try {
        await direct.set(keys.fence, String(MAX - 1));
        const last = await take();
        assert.equal(last.fence, MAX);
        await last.release();
        const error = (await take().catch((e) => e)) as LockUnavailableError;
        assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
        assert.match(error.message, /fencing counter .* reached 2\^53 - 1/);
        const holders = kind === "read" ? keys.readers : `${keys.lock}:semaphore`;
        assert.equal(await direct.exists(holders), 0, "nothing was granted");
        assert.equal(await direct.get(keys.fence), String(MAX));
      } finally {
        await locks.close();
      }
    });
  }

  // The uncontended path of the mutex's and the semaphore's acquire bumps only a counter that exists and has room;
  // anything else is undone there and left to the shared fence code (lua-shared/fence.lua). Both ways are checked.
  for (const kind of ["lock", "read", "semaphore"] as const) {
    it(`${kind === "lock" ? "a lock" : kind === "read" ? "a read lease" : "a semaphore permit"}: a new resource's first fence starts at the server's clock (µs) and the next is one higher; a counter that is not an integer refuses with a clear error and grants nothing`, async () => {
      const locks = new LockManager({ nodes: [nodes[0]!.url], wait: 0 });
      const name = `counter-${kind}`;
      const keys = mutexKeys("quorumlock:", name);
      const holders = kind === "lock" ? keys.lock : kind === "read" ? keys.readers : `${keys.lock}:semaphore`;
      const take = () =>
        kind === "lock"
          ? locks.acquire(name)
          : kind === "read"
            ? locks.readWrite(name).read()
            : locks.semaphore(name, { limit: 2 }).acquire();
      try {
        const [seconds, micros] = (await direct.time()) as [string | number, string | number];
        const clock = Number(seconds) * 1_000_000 + Number(micros);
        const first = await take();
        await first.release();
        assert.ok(first.fence! >= clock, `first fence ${first.fence} is below the server's clock ${clock}`);
        assert.equal(await direct.get(keys.fence), String(first.fence));
        const second = await take();
        await second.release();
        assert.equal(second.fence, first.fence! + 1);

        await direct.set(keys.fence, "not-a-number");
        const error = (await take().catch((e) => e)) as LockUnavailableError;
        assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
        assert.match(error.message, /fencing counter .* does not hold an integer/);
        assert.equal(await direct.exists(holders), 0, "nothing was granted");
        assert.equal(await direct.get(keys.fence), "not-a-number");
      } finally {
        await locks.close();
      }
    });
  }

  it("a node that runs Redis older than 5.0 fails every request with NodeUnsupportedError, named in the lock error", async () => {
    // A real node-redis client whose INFO says 4.0.14: everything else reaches the real server.
    const real = createClient({ url: nodes[0]!.url });
    await real.connect();
    const old = Object.assign(Object.create(real) as typeof real, {
      sendCommand: (args: string[]) =>
        args[0] === "INFO"
          ? Promise.resolve("# Server\r\nredis_version:4.0.14\r\nrun_id:x\r\nuptime_in_seconds:99\r\n")
          : real.sendCommand(args),
    });
    const locks = new LockManager({ nodes: [old], wait: 0 });
    try {
      const error = (await locks.acquire("old-redis").catch((e) => e)) as LockUnavailableError;
      assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
      assert.match(error.message, /runs Redis 4\.0\.14; quorumlock needs Redis 5\.0 or newer/);
      const cause = error.nodes[0]!.error as NodeUnsupportedError;
      assert.ok(cause instanceof NodeUnsupportedError);
      assert.equal(cause.code, "ERR_NODE_UNSUPPORTED");
      assert.equal(cause.version, "4.0.14");
      assert.equal(await direct.exists(mutexKeys("quorumlock:", "old-redis").lock), 0);
    } finally {
      await locks.close();
      await real.quit();
    }
  });

  it("the version check reads redis_version, and a server that forbids INFO is not held back (without the quarantine)", async () => {
    assert.equal(unsupportedVersion("redis_version:4.0.14\r\n"), "4.0.14");
    assert.equal(unsupportedVersion("redis_version:3.2.0\r\n"), "3.2.0");
    assert.equal(unsupportedVersion("redis_version:5.0.0\r\n"), undefined);
    assert.equal(unsupportedVersion("redis_version:7.0.15\r\n"), undefined);
    assert.equal(unsupportedVersion("redis_version:10.0.1\r\n"), undefined);
    assert.equal(unsupportedVersion(""), undefined, "unknown: not refused");
    const sent: string[] = [];
    const fake = (reply: () => Promise<unknown>): RedisConnection => ({
      label: "fake:1",
      session: () => 1,
      subscriber: () => {
        throw new Error("unused");
      },
      close: async () => {},
      async send(args) {
        sent.push(String(args[0]));
        return args[0] === "INFO" ? reply() : "OK";
      },
    });
    const [forbidden] = checkedNodes([fake(() => Promise.reject(new Error("NOPERM no INFO for you")))], 0);
    assert.equal(await forbidden!.send(["PING"]), "OK");
    assert.equal(await forbidden!.send(["PING"]), "OK");
    assert.deepEqual(sent, ["INFO", "PING", "PING"], "asked once per connection");
    const [loading] = checkedNodes([fake(() => Promise.reject(new Error("LOADING loading")))], 0);
    await assert.rejects(loading!.send(["PING"]), /LOADING/);
  });
});

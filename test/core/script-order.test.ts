// How runScript sends a script, over each client adapter. Its source the first time in a connection's session (a
// restarted node answers no NOSCRIPT), its SHA1 after that, and its source again on NOSCRIPT, which is sent when
// the NOSCRIPT comes back, behind whatever was sent on the connection meanwhile. Between requests of one owner (a
// lease's token) that would reorder the lease's own steps: a failed attempt's undo whose EVAL ran after the same
// call's next attempt would delete the key that attempt was just granted, and the vote would count a node that no
// longer holds the lease.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "redis";
import type { RedisConnection } from "../../src/clients/connection.js";
import { IORedisConnection } from "../../src/clients/ioredis.js";
import { type NodeRedisClient, NodeRedisConnection } from "../../src/clients/node-redis.js";
import type { LockContext } from "../../src/context.js";
import { mutexKeys } from "../../src/mutex/keys.js";
import { acquire, release } from "../../src/mutex/scripts.generated.js";
import { runScript } from "../../src/script.js";
import { attemptSemaphore } from "../../src/semaphore/acquire.js";
import { semaphoreKeys } from "../../src/semaphore/keys.js";
import { releaseSemaphore } from "../../src/semaphore/release.js";
import {
  acquire as semaphoreAcquire,
  release as semaphoreRelease,
} from "../../src/semaphore/scripts.generated.js";
import { fresh } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { SHORT as T } from "../support/timeouts.js";

const TTL = 10_000;

/** An acquire reply's verdict: 1 granted (the usual grant is a bare integer, the fence), 0 refused. */
const verdict = async (reply: Promise<unknown>): Promise<number | undefined> => {
  const r = (await reply) as number | number[];
  return typeof r === "number" ? 1 : r[0];
};

function scripts(resource: string) {
  const k = mutexKeys("quorumlock", resource);
  const acquireKeys = [k.lock, k.fence, k.waiting, k.heartbeats, k.readers];
  const releaseKeys = [k.lock, k.fence, k.waiting, k.heartbeats, k.readWaiting, k.readHeartbeats];
  return {
    lock: k.lock,
    // A waiter's attempt, as the driver sends it (a place, queued, not its first attempt).
    attempt: (conn: RedisConnection, token: string) =>
      runScript(conn, acquire, acquireKeys, [token, TTL, "1", "0:3000::w1"], undefined, {
        token,
        role: "grant",
      }),
    // The undo of a failed attempt: compare-and-delete, keeping the lock for nobody.
    undo: (conn: RedisConnection, token: string) =>
      runScript(conn, release, releaseKeys, [token, "", `0:5000:0:r1:${k.channel}`], undefined, {
        token,
        role: "revoke",
      }),
  };
}

const connections: Record<
  string,
  (url: string) => Promise<{ conn: RedisConnection; close(): Promise<void> }>
> = {
  ioredis: async (url) => {
    const conn = IORedisConnection.open(url);
    return { conn, close: () => conn.close() };
  },
  "node-redis": async (url) => {
    const client = createClient({ url });
    client.on("error", () => {});
    await client.connect();
    const conn = new NodeRedisConnection(client as unknown as NodeRedisClient);
    return { conn, close: async () => client.destroy() };
  },
};

for (const [adapter, open] of Object.entries(connections)) {
  describe(`script fallbacks keep one owner's requests in order (${adapter})`, () => {
    const one = useNodes(1);
    let conn: RedisConnection;
    let close: () => Promise<void>;
    before(async () => {
      ({ conn, close } = await open(one.urls()[0]!));
    });
    after(() => close());

    /** The connection ran both scripts (so it sends them by SHA1), and then the node's cache was emptied. */
    async function flushedAfterUse() {
      const warm = scripts(fresh("warm"));
      await warm.attempt(conn, "warm");
      await warm.undo(conn, "warm");
      await conn.send(["SCRIPT", "FLUSH"]);
    }

    /** Only the acquire script is cached: as once another client ran an acquire there after a flush. */
    async function onlyAcquireCached() {
      await flushedAfterUse();
      await conn.send(["SCRIPT", "LOAD", acquire.source]);
    }

    it(
      "an undo that meets NOSCRIPT after the same owner's next attempt was sent does not delete that attempt's key",
      T,
      async () => {
        const s = scripts(fresh("order"));
        await onlyAcquireCached();
        const token = "owner-a";
        assert.equal(await verdict(s.attempt(conn, token)), 1, "the attempt that is undone was granted");
        // Sent back to back, as a failed attempt's undo and the next attempt can be: the undo's NOSCRIPT comes back
        // only after the attempt was sent (and, its script being cached, run).
        const undo = s.undo(conn, token);
        const next = s.attempt(conn, token);
        await assert.rejects(undo, /NOSCRIPT/, "the overtaken undo fails on this node rather than run late");
        assert.equal(await verdict(next), 1, "the next attempt was granted");
        assert.equal(await conn.send(["GET", s.lock]), token, "and the node still holds the key it granted");
        // The NOSCRIPT made the connection send the source again: the next undo runs.
        assert.equal(await s.undo(conn, token), 1);
        assert.equal(await conn.send(["GET", s.lock]), null);
      },
    );

    it(
      "with no later request of its owner, the fallback still runs the script (another owner's does not count)",
      T,
      async () => {
        const s = scripts(fresh("order"));
        await onlyAcquireCached();
        assert.equal(await verdict(s.attempt(conn, "owner-b")), 1);
        const undo = s.undo(conn, "owner-b");
        const other = s.attempt(conn, "owner-c");
        assert.equal(await undo, 1, "released by EVAL after NOSCRIPT");
        assert.equal(await verdict(other), 0, "the other owner's attempt, run before the EVAL, was refused");
        assert.equal(await conn.send(["GET", s.lock]), null);
      },
    );

    it(
      "a revoke sent behind a grant of its owner falls back (only a grant behind a revoke keeps it out)",
      T,
      async () => {
        const s = scripts(fresh("order"));
        await flushedAfterUse();
        // Neither script cached: the attempt's NOSCRIPT comes back first, and its EVAL goes before the undo's.
        const attempt = s.attempt(conn, "owner-d");
        const undo = s.undo(conn, "owner-d");
        assert.equal(await verdict(attempt), 1);
        assert.equal(await undo, 1, "the undo ran after the attempt, by EVAL");
        assert.equal(await conn.send(["GET", s.lock]), null);
      },
    );

    it(
      "a semaphore attempt's undo is a revoke too: overtaken, it does not free permits handed to the call since",
      T,
      async () => {
        // The next attempt takes permits a release marked as handed to this token as its grant (on a quorum as on
        // one node), so the undo of the attempt before, if its NOSCRIPT fallback ran behind it, would free them
        // under a lease that counts them.
        const ctx: LockContext = {
          nodes: [conn],
          quorum: 1,
          nodeTimeout: 2_000,
          prefix: "quorumlock:",
          fencing: true,
          track: () => {},
          serverClock: { offsetUs: undefined, at: 0 },
        };
        const name = fresh("sem-order");
        const keys = semaphoreKeys("quorumlock:", name);
        const token = "owner-s";
        // The connection ran both scripts, then the node's cache was emptied, and only the acquire loaded again.
        const warm = semaphoreKeys("quorumlock:", fresh("sem-warm"));
        const warmKeys = [warm.holders, warm.fence, warm.permits, warm.waiting, warm.heartbeats];
        await runScript(conn, semaphoreAcquire, warmKeys, ["warm", TTL, "1", 1, 1, "", "1"]);
        await runScript(conn, semaphoreRelease, warmKeys, ["warm", "", `1:1:r0:${warm.channel}`]);
        await conn.send(["SCRIPT", "FLUSH"]);
        await conn.send(["SCRIPT", "LOAD", semaphoreAcquire.source]);
        // A release has handed this token its permit (semaphore/release.lua's grant, marked with its fence).
        const [seconds = "0"] = (await conn.send(["TIME"])) as string[];
        const expires = Number(seconds) * 1000 + TTL;
        await conn.send(["SET", keys.fence, "41"]);
        await conn.send(["ZADD", keys.holders, String(expires), token]);
        await conn.send(["HSET", keys.permits, token, "1", `${token}:f`, "41", ":used", "1", ":limit", "1"]);
        const place = {
          id: "w.1",
          attempts: 1,
          reachable: true,
          registered: performance.now(),
          arrival: undefined,
        };
        // Sent back to back: the undo's NOSCRIPT comes back only after the attempt ran.
        const undo = releaseSemaphore(ctx, keys, 1, token, { undo: true });
        const next = attemptSemaphore(
          ctx,
          keys,
          { resource: name, limit: 1, permits: 1 },
          token,
          TTL,
          undefined,
          place,
        );
        const [undone, granted] = await Promise.all([undo, next]);
        assert.equal(undone.answered, 0, "the overtaken undo failed on this node rather than run late");
        assert.equal(granted.kind, "acquired", "the attempt took the handed permit as its grant");
        assert.notEqual(
          await conn.send(["ZSCORE", keys.holders, token]),
          null,
          "and the node still holds it",
        );
        await releaseSemaphore(ctx, keys, 1, token);
        assert.equal(await conn.send(["EXISTS", keys.holders]), 0);
      },
    );

    it(
      "a connection's first request to a restarted node sends the script's source: no NOSCRIPT round trip",
      T,
      async () => {
        const s = scripts(fresh("restart"));
        await flushedAfterUse(); // known by SHA1 on this connection (and run again by source once, below)
        assert.equal(await verdict(s.attempt(conn, "owner-e")), 1, "after the flush: NOSCRIPT, then EVAL");
        await s.undo(conn, "owner-e");
        await one.nodes[0]!.restart();
        // The client reconnects by itself; until then a request fails at once.
        let reply: number[] | undefined;
        for (let tries = 0; reply === undefined; tries++) {
          assert.ok(tries < 200, "reconnected within 4 s");
          reply = (await s.attempt(conn, "owner-e").catch(() => undefined)) as number[] | undefined;
          if (reply === undefined) await sleep(20);
        }
        assert.equal(reply[0], 1);
        const stats = String(await conn.send(["INFO", "commandstats"]));
        assert.match(stats, /cmdstat_eval:calls=1,/, "one EVAL on the new server");
        assert.doesNotMatch(stats, /cmdstat_evalsha:/, "and no EVALSHA (which would have met NOSCRIPT)");
        assert.equal(await s.undo(conn, "owner-e"), 1);
        assert.match(String(await conn.send(["INFO", "commandstats"])), /cmdstat_eval:calls=2,/);
        assert.equal(await verdict(s.attempt(conn, "owner-f")), 1);
        assert.match(
          String(await conn.send(["INFO", "commandstats"])),
          /cmdstat_evalsha:calls=1,/,
          "a script it ran already goes by SHA1",
        );
      },
    );
  });
}

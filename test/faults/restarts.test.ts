// Scenario 12's restart negative control, and the restart quarantine that answers it: a node restarted empty
// while it holds part of a quorum lets a second holder in (the checker must see it); with the quarantine it
// cannot. Also: what the quarantine looks like to callers, that a mere reconnect costs nothing, the node-redis
// adapter, and how far the fence floor carries through a restart.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { RedisConnection } from "../../src/clients/connection.js";
import {
  CHANNELS,
  type Lease,
  LockManager,
  type LockUnavailableError,
  type NodeErrorEvent,
} from "../../src/index.js";
import { resolveCallOptions, resolveManagerOptions } from "../../src/options.js";
import { checkedNodes, NodeQuarantinedError, parseServerInfo, votesFrom } from "../../src/quarantine.js";
import { drift } from "../../src/validity.js";
import { HoldLog, now } from "../harness/checker.js";
import { inspectors, nodeRedisAdapter } from "../support/adapters.js";
import { keysOf } from "../support/keys.js";
import { type Cluster, quarantineOf, startCluster } from "../support/nodes.js";
import { LONG as T } from "../support/timeouts.js";
import { spiedManager } from "./support/cluster.js";
import { ProtectedResource } from "./support/resource.js";
import { settledValues, valuesOf } from "./support/spy.js";

const TTL = 1_500;

/** Makes `nodes` refuse `resource` for `ms` (someone else's key), so that a lease lands on the others only. */
function occupy(direct: ReturnType<typeof inspectors>, nodes: number[], resource: string, ms: number) {
  return Promise.all(nodes.map((i) => direct[i]!.set(keysOf(resource).lock, "foreign", "PX", ms)));
}

describe("restarts and the quarantine", () => {
  let hazard: Cluster;
  let fences: Cluster;
  let small: Cluster;
  const direct: Record<string, ReturnType<typeof inspectors>> = {};
  before(async () => {
    [hazard, fences, small] = await Promise.all([
      startCluster(),
      startCluster(),
      startCluster({ nodes: 3, proxies: true }),
    ]);
    direct.hazard = inspectors(hazard.direct);
    direct.fences = inspectors(fences.direct);
    direct.small = inspectors(small.direct);
    await Promise.all([hazard, fences, small].map((c) => c.aged(TTL)));
  });
  after(async () => {
    for (const d of Object.values(direct)) for (const c of d) c.disconnect();
    await Promise.all([hazard, fences, small].map((c) => c?.[Symbol.asyncDispose]()));
  });

  // The quarantine runs first: the run without it restarts a node too, and its age would not matter then.
  for (const quarantine of [TTL, 0]) {
    const on = quarantine > 0;
    it(
      on
        ? "scenario 12 with the quarantine: the restarted node does not vote until leases it granted have expired, so the second client waits its turn"
        : "scenario 12 (negative control): a node restarted empty at once while holding part of a quorum lets a second holder in, and the checker sees it",
      T,
      async () => {
        const name = `restart-${quarantine}`;
        const options = { ttl: TTL, wait: 3 * TTL, nodeTimeout: 800, quarantine };
        const a = spiedManager(hazard.urls, options);
        const b = spiedManager(hazard.urls, options);
        const resource = new ProtectedResource();
        const log = new HoldLog();
        try {
          for (const m of [a, b]) await (await m.locks.acquire(`${name}:warm-up`)).release();
          // A's lease lands on exactly 0, 1 and 2: 3 and 4 are busy for a moment.
          await occupy(direct.hazard!, [3, 4], name, 300);
          const first = (await a.locks.tryAcquire(name))!;
          assert.ok(first, "A holds 0, 1 and 2");
          const aStart = now();
          await sleep(350); // 3 and 4 are free again
          await hazard.restart(2); // forgets A's key: 0 and 1 remember it, 3 and 4 never had it

          // A works while its lease says it is valid; B, once it gets the lock, works too.
          let aEnd = aStart;
          const aWork = (async () => {
            while (first.valid) {
              aEnd = now();
              const read = resource.read(first.fence!);
              await sleep(3);
              if (!first.valid) break;
              resource.write(first.fence!, read.count + 1);
              aEnd = now();
            }
          })();
          const second = await b.locks.acquire(name);
          const bStart = now();
          const aStillValid = first.valid;
          let bEnd = bStart;
          for (let i = 0; i < 20 && second.valid; i++) {
            const read = resource.read(second.fence!);
            await sleep(3);
            resource.write(second.fence!, read.count + 1);
            bEnd = now();
          }
          await aWork;
          log.record({ worker: "A", fence: first.fence!, start: aStart, end: aEnd });
          log.record({ worker: "B", fence: second.fence!, start: bStart, end: bEnd });
          if (on) {
            log.assertSafe();
            resource.assertClean();
            assert.equal(aStillValid, false, "B got the lock only once A's lease had run out");
          } else {
            assert.equal(aStillValid, true);
            assert.equal(log.overlaps().length, 1, "two holders at once");
            assert.throws(() => log.assertSafe(), /lock safety violated/);
            assert.throws(
              () => resource.assertClean(),
              "A's late accesses were refused, or updates were lost",
            );
          }
          await Promise.all([first.release(), second.release()]);
        } finally {
          await a.close();
          await b.close();
        }
      },
    );
  }

  it(
    "a connection that drops and comes back to the same server costs no quarantine (same run_id)",
    T,
    async () => {
      const options = { ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL };
      const { locks, close } = spiedManager(small.urls, options);
      try {
        await (await locks.acquire("blip:warm-up")).release();
        small.proxies[2]!.setMode({ kind: "reset" });
        small.proxies[2]!.heal(); // the client must reconnect, to the same server
        for (let tries = 0; ; tries++) {
          const lease = await locks.tryAcquire("blip").catch(() => null);
          const values = await valuesOf(direct.small!, keysOf("blip").lock);
          await lease?.release();
          if (lease && values.every((v) => v === lease.token)) break;
          assert.ok(tries < 20, `node 2 did not vote again after the reconnect (${values})`);
          await sleep(50);
        }
      } finally {
        await close();
      }
    },
  );

  it("a quarantined node is a failed node, never a busy one, and says why", T, async () => {
    const options = { ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL };
    const { locks, close } = spiedManager(small.urls, options);
    try {
      await (await locks.acquire("why:warm-up")).release();
      await small.restart(0, 1);
      const restarted = performance.now();
      let error: LockUnavailableError | undefined;
      while (!error && performance.now() - restarted < quarantineOf(TTL)) {
        try {
          (await locks.tryAcquire("why"))?.release();
        } catch (e) {
          const unavailable = e as LockUnavailableError;
          if (unavailable.nodes.filter((n) => n.error instanceof NodeQuarantinedError).length === 2)
            error = unavailable;
        }
        await sleep(50);
      }
      assert.ok(error, "within its quarantine, a restarted node refuses to vote");
      assert.equal(error.code, "ERR_LOCK_UNAVAILABLE");
      assert.match(error.message, /is quarantined for another \d+ ms/);
      const quarantined = error.nodes[0]!.error as NodeQuarantinedError;
      assert.equal(error.nodes[0]!.status, "error");
      assert.equal(quarantined.code, "ERR_NODE_QUARANTINED");
      assert.equal(quarantined.name, "NodeQuarantinedError");
      assert.equal(quarantined.node, error.nodes[0]!.node);
      assert.ok(quarantined.remainingMs > 0 && quarantined.remainingMs <= quarantineOf(TTL));
      // and it votes again once the quarantine is over
      await small.aged(TTL);
      const lease = (await locks.tryAcquire("why"))!;
      const all = Array(3).fill(lease.token);
      assert.deepEqual(await settledValues(direct.small!, keysOf("why").lock, all), all);
      await lease.release();
    } finally {
      await close();
    }
  });

  it("node-redis clients: a restart is noticed through their ready event", T, async () => {
    const { specs, cleanup } = await nodeRedisAdapter.connect(small.direct);
    const locks = new LockManager({ nodes: specs, ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL });
    const quarantined: NodeErrorEvent[] = [];
    const listener = (event: unknown) => {
      if ((event as NodeErrorEvent).error instanceof NodeQuarantinedError)
        quarantined.push(event as NodeErrorEvent);
    };
    subscribe(CHANNELS.nodeError, listener);
    try {
      await (await locks.acquire("node-redis:warm-up")).release();
      await small.restart(2);
      const restarted = performance.now();
      // Kept out while quarantined (reported on the node-error channel), then back in the vote.
      for (let rejoined = false; !rejoined; await sleep(50)) {
        assert.ok(performance.now() - restarted < quarantineOf(TTL) + 1_000, "node 2 never voted again");
        const lease = await locks.tryAcquire("node-redis");
        assert.ok(lease, "two of three still vote");
        const values = await valuesOf(direct.small!, keysOf("node-redis").lock);
        await lease.release();
        rejoined = values[2] === lease.token;
      }
      assert.ok(quarantined.length > 0, "the restarted node was quarantined meanwhile");
      assert.equal(quarantined[0]!.node, `127.0.0.1:${small.nodes[2]!.port}`);
      assert.ok(["acquire", "fence-sync", "release"].includes(quarantined[0]!.operation));
    } finally {
      unsubscribe(CHANNELS.nodeError, listener);
      await locks.close();
      await cleanup();
    }
  });

  for (const { ahead, witnesses, rises, fresh = false } of [
    { ahead: 0.9 * TTL, witnesses: "busy", rises: true },
    { ahead: 10_000, witnesses: "busy", rises: true },
    { ahead: 10_000, witnesses: "slow", rises: true },
    { ahead: 10_000, witnesses: "busy", rises: true, fresh: true },
    { ahead: 10_000, witnesses: "frozen", rises: false },
  ] as const) {
    it(
      !rises
        ? "(limit) with the other witnesses of the last fence frozen too, only the clock floor is left: a server clock ahead by more than the quarantine makes the fence fall"
        : ahead < TTL
          ? "fences keep rising through a restart of the only node that had the last fence in the next majority (server clocks within the quarantine)"
          : witnesses === "slow"
            ? "the restore counts a slow witness that grants late: its higher counter comes with an ok, and the fence still rises"
            : fresh
              ? "the restore also runs when no granting node has a counter (the others never saw the resource) while the witnesses refuse"
              : "a restarted node's counter is restored from the others: fences keep rising even when server clocks disagree by more than the quarantine",
      T,
      async () => {
        const name = `fence-floor-${ahead}-${witnesses}${fresh ? "-fresh" : ""}`;
        const { fence: fenceKey } = keysOf(name);
        const options = { ttl: TTL, wait: 0, nodeTimeout: 800, quarantine: TTL };
        const { locks, close } = spiedManager(fences.urls, options);
        const d = direct.fences!;
        try {
          // Every node has taken part before, so every node has a counter.
          await (await locks.tryAcquire(name))!.release();
          // Nodes 0, 1 and 2 hand out fences from a clock `ahead` ms fast; 3 and 4 are busy meanwhile.
          const [seconds = 0, micros = 0] = (await d[0]!.time()).map(Number);
          const fast = seconds * 1e6 + micros + ahead * 1000;
          await Promise.all([0, 1, 2].map((i) => d[i]!.set(fenceKey, String(fast))));
          await occupy(d, [3, 4], name, 200);
          const first = (await locks.tryAcquire(name))!;
          assert.ok(first.fence! > fast, "the write-back left the fence on 0, 1 and 2");
          await first.release();
          // 3 and 4 never saw the resource (they were busy or away whenever it was locked).
          if (fresh) await Promise.all([3, 4].map((i) => d[i]!.del(fenceKey)));
          await fences.restart(0);
          await fences.aged(TTL);
          // The next majority shares only the restarted node with the last one; the other two witnesses of
          // the last fence (1 and 2) are busy, slow (they grant, but after the others), or frozen so that they
          // cannot tell what they saw.
          if (witnesses === "busy") await occupy(d, [1, 2], name, 10_000);
          else if (witnesses === "slow")
            await Promise.all([1, 2].map((i) => d[i]!.call("CLIENT", "PAUSE", "150", "ALL")));
          else for (const i of [1, 2]) fences.nodes[i]!.pause();
          let second: Lease | null;
          try {
            second = await locks.tryAcquire(name);
          } finally {
            for (const i of [1, 2]) fences.nodes[i]!.resume();
          }
          assert.ok(second, "0, 3 and 4 grant it");
          if (rises) assert.ok(second.fence! > first.fence!, `${second.fence} must exceed ${first.fence}`);
          else assert.ok(second.fence! < first.fence!, "outside the model: the floor is the server's clock");
          if (witnesses !== "frozen" && ahead > TTL) {
            const counters = await Promise.all(d.map((c) => c.get(fenceKey)));
            assert.equal(Number(counters[0]), second.fence, "the restarted node has the restored fence");
          }
          await second.release();
          if (witnesses === "busy") await Promise.all([1, 2].map((i) => d[i]!.del(keysOf(name).lock)));
        } finally {
          await close();
        }
      },
    );
  }

  it(
    "options: the quarantine is 0 or at least the TTL, and a longer TTL is refused where it is asked for",
    T,
    async () => {
      const ttl = 1_000;
      const valueError = (pattern: RegExp) => ({
        name: "RangeError",
        code: "ERR_INVALID_ARG_VALUE",
        message: pattern,
      });
      assert.equal(resolveManagerOptions({ ttl }).quarantine, 0, "off unless asked for");
      assert.equal(resolveManagerOptions({ ttl, quarantine: ttl }).quarantine, ttl);
      assert.throws(
        () => resolveManagerOptions({ ttl, quarantine: ttl - 1 }),
        valueError(/"quarantine".*at least|from the ttl/),
      );
      assert.throws(() => resolveManagerOptions({ quarantine: -1 }), valueError(/"quarantine"/));
      assert.throws(() => resolveManagerOptions({ quarantine: "30s" }), {
        name: "TypeError",
        code: "ERR_INVALID_ARG_TYPE",
      });
      const managed = resolveManagerOptions({ ttl, quarantine: 2 * ttl });
      assert.equal(resolveCallOptions("acquire", { ttl: 2 * ttl }, managed).ttl, 2 * ttl);
      assert.throws(
        () => resolveCallOptions("acquire", { ttl: 2 * ttl + 1 }, managed),
        valueError(/"ttl".*quarantine/),
      );
      assert.equal(
        resolveCallOptions("acquire", { ttl: 60_000 }, resolveManagerOptions({ ttl })).ttl,
        60_000,
      );

      await small.aged(TTL);

      const locks = new LockManager({ nodes: small.urls, ttl, quarantine: ttl, wait: 0, nodeTimeout: 800 });
      try {
        await assert.rejects(locks.acquire("options", { ttl: ttl + 1 }), valueError(/"ttl"/));
        await assert.rejects(
          locks.withLock("options", () => {}, { ttl: ttl + 1 }),
          valueError(/"ttl"/),
        );
        const lease: Lease = await locks.acquire("options");
        await assert.rejects(lease.extend(ttl + 1), valueError(/"ttl"/));
        assert.ok(lease.valid, "a refused extension leaves the lease as it was");
        await lease.extend(ttl);
        await lease.release();
      } finally {
        await locks.close();
      }
    },
  );

  it("commands held back for the server's age go out in the order they were sent, after a fresh INFO on every new connection", async () => {
    const sent: string[] = [];
    let session = 1;
    let uptime = 100;
    const fake: RedisConnection = {
      label: "fake:1",
      session: () => session,
      subscriber: () => {
        throw new Error("unused");
      },
      close: async () => {},
      async send(args) {
        sent.push(String(args[0]));
        if (args[0] !== "INFO") return "OK";
        await sleep(5);
        return `run_id:r${session > 2 ? 2 : 1}\r\nuptime_in_seconds:${uptime}\r\n`;
      },
    };
    const [node] = checkedNodes([fake], 1_000);
    await Promise.all([node!.send(["A"]), node!.send(["B"]), node!.send(["C"])]);
    await node!.send(["D"]); // admitted: straight through
    assert.deepEqual(sent, ["INFO", "A", "B", "C", "D"]);
    session = 2; // reconnected to the same server: asked again, still admitted
    await node!.send(["E"]);
    assert.deepEqual(sent.slice(5), ["INFO", "E"]);
    session = 3; // reconnected to a server that just started: nothing but INFO reaches it
    uptime = 0;
    const refused = await Promise.allSettled([node!.send(["F"]), node!.send(["G"])]);
    assert.deepEqual(sent.slice(7), ["INFO"]);
    for (const r of refused) {
      assert.equal(r.status, "rejected");
      assert.ok((r as PromiseRejectedResult).reason instanceof NodeQuarantinedError);
    }
  });

  it("the quarantine's arithmetic: the latest possible start from whole seconds of uptime, plus the drift", () => {
    assert.deepEqual(parseServerInfo("# Server\r\nrun_id:ab12\r\nuptime_in_seconds:42\r\n"), {
      runId: "ab12",
      uptimeSeconds: 42,
    });
    assert.throws(() => parseServerInfo("# Server\r\n"), /run_id and uptime_in_seconds/);
    // Up 3 s by its whole-second count: it may have started as late as 2 s before the reply.
    assert.equal(votesFrom(3, 10_000, 30_000), 10_000 - 2_000 + 30_000 + drift(30_000));
    assert.equal(votesFrom(0, 10_000, 30_000), 10_000 + 1_000 + 30_000 + drift(30_000));
  });
});

// `quorumlock status`, `release --token` and `break`, as real processes against real nodes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockManager } from "../../src/index.js";
import { inspector } from "../support/adapters.js";
import { fresh as freshName } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";
import { cli, sleeper, start } from "./cli.js";

describe("quorumlock status / release / break", () => {
  const [one, three] = [useNodes(1), useNodes(3)];
  const fresh = () => freshName("admin");

  for (const size of [1, 3]) {
    it(`status shows holder and free on ${size} node(s), as a table and as JSON`, T, async () => {
      const urls = (size === 1 ? one : three).urls();
      const resource = fresh();
      const locks = new LockManager({ nodes: urls });
      try {
        const lease = await locks.acquire(resource, { ttl: 20_000 });
        const text = await cli(["status", resource, "--nodes", urls.join(",")]);
        assert.equal(text.code, 0, text.err);
        const quorum = Math.floor(size / 2) + 1;
        assert.match(
          text.out,
          new RegExp(`is HELD \\(on ${size} of ${size} nodes, quorum ${quorum}\\) for 1\\d\\.\\ds more`),
        );
        assert.match(text.out, /holder token hidden \(--show-token shows it\)/);
        assert.ok(!text.out.includes(lease.token), "the token is secret unless asked for");
        assert.equal(text.out.match(/ holder /g)?.length, size, "every node shows the holder");
        const shown = await cli(["status", resource, "--show-token", "--nodes", urls.join(",")]);
        assert.match(shown.out, new RegExp(`holder token ${lease.token}`));

        // From the environment this time.
        const status = (...flags: string[]) =>
          cli(["status", resource, "--json", ...flags], { QUORUMLOCK_NODES: urls.join(",") });
        const json = JSON.parse((await status()).out);
        assert.equal(json.state, "held");
        assert.equal(json.held, true);
        assert.equal(json.holder.token, undefined);
        assert.ok(json.holder.ttlMs > 10_000 && json.holder.ttlMs <= 20_000);
        assert.ok(json.fence >= lease.fence!);
        assert.equal(json.nodes.length, size);
        assert.ok(
          json.nodes.every(
            (node: { present: boolean; holder: boolean; token?: string }) =>
              node.present && node.holder && node.token === undefined,
          ),
        );
        const withTokens = JSON.parse((await status("--show-token")).out);
        assert.equal(withTokens.holder.token, lease.token);
        assert.ok(
          withTokens.nodes.every(
            (node: { present: boolean; token: string }) => node.present && node.token === lease.token,
          ),
        );

        await lease.release();
        const free = await cli(["status", resource, "--nodes", urls.join(",")]);
        assert.match(free.out, /is free/);
        const freeJson = JSON.parse(
          (await cli(["status", resource, "--json", "--nodes", urls.join(",")])).out,
        );
        assert.equal(freeJson.held, false);
        assert.equal(freeJson.state, "free");
        assert.ok(freeJson.fence >= lease.fence!, "the fencing counter stays");
      } finally {
        await locks.close();
      }
    });
  }

  it("status: a key on a minority of nodes is not held; too few answers is unknown (69)", T, async () => {
    const urls = three.urls();
    const resource = fresh();
    const lone = new LockManager({ nodes: [urls[0]!] });
    try {
      const lease = await lone.acquire(resource);
      const json = JSON.parse(
        (await cli(["status", resource, "--json", "--show-token", "--nodes", urls.join(",")])).out,
      );
      assert.equal(json.state, "free", "one of three nodes is no lock");
      assert.equal(json.nodes[0].token, lease.token);

      const down = [urls[0]!, "redis://127.0.0.1:1", "redis://127.0.0.1:2"].join(",");
      const unknown = await cli(["status", resource, "--nodes", down]);
      assert.equal(unknown.code, 69);
      assert.match(unknown.out, /UNKNOWN/);
      assert.match(unknown.err, /^quorumlock: only 1 of 3 nodes answered \(quorum 2\)\n$/);
    } finally {
      await lone.close();
    }
  });

  it("release --token frees the lock only with the right token", T, async () => {
    const urls = three.urls();
    const nodes = ["--nodes", urls.join(",")];
    const resource = fresh();
    const locks = new LockManager({ nodes: urls });
    try {
      const lease = await locks.acquire(resource);
      const wrong = await cli(["release", resource, "--token", "not-it", ...nodes]);
      assert.equal(wrong.code, 0);
      assert.match(wrong.out, /released on 0 of 3 nodes \(nothing held with this token/);
      // One token in 64 begins with "-": it is still the value of --token, not a flag.
      const dash = await cli(["release", resource, "--token", "-Ab_c", ...nodes]);
      assert.equal(dash.code, 0, dash.err);
      assert.match(dash.out, /released on 0 of 3 nodes/);
      assert.ok(lease.valid);
      assert.match((await cli(["status", resource, ...nodes])).out, /is HELD/);
      const right = await cli(["release", resource, "--token", lease.token, ...nodes, "--json"]);
      assert.equal(right.code, 0);
      assert.equal(JSON.parse(right.out).done, 3);
      assert.match((await cli(["status", resource, ...nodes])).out, /is free/);
    } finally {
      await locks.close();
    }
  });

  /**
   * On three nodes: `readers` read leases of one resource with a writer waiting, and `permits` of a semaphore
   * (limit `permits`) with a waiter wanting as many; TTLs of 30 s, so a waiter served within seconds was woken.
   * `served()` checks that both waiters got in, woken, with fences above those they waited for.
   */
  async function withWaiters(
    readers: number,
    permits: number,
    body: (setup: {
      nodes: string[];
      shared: string;
      reads: Lease[];
      counted: string;
      held: Lease;
      served: () => Promise<void>;
    }) => Promise<void>,
  ) {
    const urls = three.urls();
    const locks = new LockManager({ nodes: urls, ttl: 30_000 });
    try {
      const shared = fresh();
      const reads = await Promise.all(Array.from({ length: readers }, () => locks.readWrite(shared).read()));
      const writer = locks.readWrite(shared).write({ wait: 20_000 });
      const counted = fresh();
      const semaphore = locks.semaphore(counted, { limit: permits });
      const held = await semaphore.acquire({ permits });
      const next = semaphore.acquire({ wait: 20_000, permits });
      await new Promise((resolve) => setTimeout(resolve, 300)); // both waiters queued
      const since = performance.now();
      const served = async () => {
        const [written, granted] = await Promise.all([writer, next]);
        assert.ok(performance.now() - since < 5_000, "woken, not served at the 30 s TTLs");
        assert.ok(written.fence! > Math.max(...reads.map((r) => r.fence!)), "fences still go up");
        assert.ok(granted.fence! > held.fence!);
        await Promise.all([written.release(), granted.release()]);
      };
      await body({ nodes: ["--nodes", urls.join(",")], shared, reads, counted, held, served });
    } finally {
      await locks.close();
    }
  }

  it("release --token frees a read lease or semaphore permits by their token, and wakes who waits", T, () =>
    withWaiters(1, 1, async ({ nodes, shared, reads, counted, held, served }) => {
      const wrong = await cli(["release", counted, "--token", reads[0]!.token, ...nodes]);
      assert.match(wrong.out, /released on 0 of 3 nodes/, "a token frees only under its own resource");
      const read = await cli(["release", shared, "--token", reads[0]!.token, ...nodes, "--json"]);
      assert.equal(read.code, 0, read.err);
      assert.equal(JSON.parse(read.out).done, 3);
      const permit = await cli(["release", counted, "--token", held.token, ...nodes]);
      assert.equal(permit.code, 0, permit.err);
      assert.match(permit.out, /released on 3 of 3 nodes/);
      await served();
    }),
  );

  it("break deletes read leases and semaphore permits too, wakes their waiters, keeps the fence", T, () =>
    withWaiters(2, 2, async ({ nodes, shared, counted, served }) => {
      for (const resource of [shared, counted]) {
        const broken = await cli(["break", resource, "--yes", ...nodes]);
        assert.equal(broken.code, 0, broken.err);
        assert.match(broken.out, /broken on 3 of 3 nodes/);
      }
      await served();
      assert.equal(JSON.parse((await cli(["status", shared, "--json", ...nodes])).out).readers, 0);
      const again = await cli(["break", counted, "--yes", ...nodes]);
      assert.match(again.out, /broken on 0 of 3 nodes \(nothing was held\)/);
    }),
  );

  it("release --token hands a fair lock to the first fair waiter, and break wakes it", T, async () => {
    const urls = one.urls();
    const nodes = ["--nodes", urls.join(",")];
    const holder = new LockManager({ nodes: urls, fair: true });
    const waiter = new LockManager({ nodes: urls, fair: true });
    const admin = inspector(urls[0]!);
    // Every message published for the resources' waiters. Without a message the fair waiter would still find
    // the lock free at its next refresh (within 0.5 s), publishing nothing: the messages tell the two apart.
    const watcher = inspector(urls[0]!);
    const heard: string[] = [];
    watcher.on("pmessage", (_pattern: string, _channel: string, message: string) => heard.push(message));
    try {
      for (const how of ["release", "break"] as const) {
        const resource = fresh();
        await watcher.psubscribe(`quorumlock:{${resource}}:released*`);
        const held = await holder.acquire(resource, { ttl: 30_000 });
        const waiting = waiter.acquire(resource, { wait: 20_000 });
        while ((await admin.zcard(`quorumlock:{${resource}}:queue`)) === 0) await sleep(5);
        heard.length = 0;
        const ran = await cli(
          how === "release"
            ? ["release", resource, "--token", held.token, ...nodes]
            : ["break", resource, "--yes", ...nodes],
        );
        assert.equal(ran.code, 0, ran.err);
        const lease = await waiting;
        assert.ok(lease.fence! > held.fence!);
        // The release handed the lock over ("h:<waiter id>:…"); the break woke the waiter ("w:<waiter id>:…").
        for (let tries = 0; tries < 100 && heard.length === 0; tries++) await sleep(10);
        assert.deepEqual(
          heard.map((m) => m.slice(0, 2)),
          [how === "release" ? "h:" : "w:"],
          `${how}: ${heard.join(", ")}`,
        );
        await lease.release();
      }
    } finally {
      watcher.disconnect();
      admin.disconnect();
      await Promise.all([holder.close(), waiter.close()]);
    }
  });

  it(
    "break wakes a waiting run at once, and release/break say when too few nodes answered (69)",
    T,
    async () => {
      const urls = three.urls();
      const nodes = ["--nodes", urls.join(",")];
      const resource = fresh();
      const holder = start(["run", resource, ...nodes, ...sleeper(20_000)]);
      await holder.waitFor(/started/);
      const waiter = start(["run", resource, ...nodes, "--wait", "20s", ...sleeper(0, 3)]);
      await waiter.waitFor(/waiting up to/);
      const broken = await cli(["break", resource, "--yes", ...nodes]);
      assert.equal(broken.code, 0);
      const since = performance.now();
      const waited = await waiter.done;
      assert.equal(waited.code, 3, waited.err);
      assert.ok(performance.now() - since < 5_000, "woken by the break, not by the holder's 30 s TTL");
      holder.child.kill("SIGTERM");
      await holder.done;

      const down = [urls[0]!, "redis://127.0.0.1:1", "redis://127.0.0.1:2"].join(",");
      for (const args of [
        ["break", resource, "--yes"],
        ["release", resource, "--token", "x"],
      ]) {
        const ran = await cli([...args, "--nodes", down]);
        assert.equal(ran.code, 69, ran.err);
        assert.match(ran.err, /only 1 of 3 nodes answered \(quorum 2\)/);
      }
    },
  );
});

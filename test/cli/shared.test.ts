// `quorumlock run --shared` (a read lock: the shared side of the name's one lock) and `run --limit N` (a
// semaphore), as real processes against real nodes; and how `status` shows readers and permits.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LockManager } from "../../src/index.js";
import { fresh as freshName } from "../support/names.js";
import { type TestNodes, useNodes } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";
import { cli, holdUntilStdinEnds, sleeper, start } from "./cli.js";

describe("quorumlock run --shared / --limit, and status", () => {
  const [one, three] = [useNodes(1), useNodes(3)];
  const fresh = () => freshName("shared");
  const on = (nodes: TestNodes) => ["--nodes", nodes.urls().join(",")];

  it(
    "--shared runs share the lock, and keep a plain (exclusive) run out until the last one ends",
    T,
    async () => {
      const resource = fresh();
      const a = start(["run", "--shared", resource, ...on(three), ...holdUntilStdinEnds()]);
      const b = start(["run", "--shared", resource, ...on(three), ...holdUntilStdinEnds()]);
      await Promise.all([a.waitFor(/started/), b.waitFor(/started/)]);
      const busy = await cli(["run", resource, ...on(three), ...sleeper(0)]);
      assert.equal(busy.code, 75, busy.err);
      assert.match(busy.err, new RegExp(`"${resource}" is busy \\(held shared by 2 readers\\)`));
      const status = await cli(["status", resource, ...on(three)]);
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, new RegExp(`"${resource}" is HELD SHARED by 2 readers`));
      const json = JSON.parse((await cli(["status", resource, "--json", ...on(three)])).out);
      assert.equal(json.readers, 2);
      assert.ok(!JSON.stringify(json).includes("token"), "no token in JSON without --show-token");

      const writer = start(["run", resource, ...on(three), "--wait", "10s", ...sleeper(0, 3)]);
      await writer.waitFor(/is busy .*; waiting up to/);
      a.child.stdin?.end();
      assert.equal((await a.done).code, 0);
      assert.equal(writer.child.exitCode, null, "one reader still holds: the writer waits");
      b.child.stdin?.end();
      assert.equal((await b.done).code, 0);
      const wrote = await writer.done;
      assert.equal(wrote.code, 3, wrote.err);
    },
  );

  it(
    "--shared is refused while the library holds the plain lock of that name (one lock, two sides)",
    T,
    async () => {
      const resource = fresh();
      const locks = new LockManager({ nodes: one.urls() });
      try {
        const lease = await locks.acquire(resource, { ttl: 10_000 });
        const busy = await cli(["run", "--shared", resource, ...on(one), ...sleeper(0)]);
        assert.equal(busy.code, 75, busy.err);
        assert.match(busy.err, new RegExp(`"${resource}" shared is busy \\(held by .{8}…`));
        await lease.release();
        const ran = await cli(["run", "--shared", resource, ...on(one), ...sleeper(0, 5)]);
        assert.equal(ran.code, 5, ran.err);
        assert.match(ran.err, new RegExp(`holding "${resource}" shared \\(fence \\d+\\)`));
      } finally {
        await locks.close();
      }
    },
  );

  it(
    "--limit 2 lets two runs hold at once and turns a third away; status counts the permits",
    T,
    async () => {
      const resource = fresh();
      const runs = [0, 1].map(() =>
        start(["run", "--limit", "2", resource, ...on(three), ...holdUntilStdinEnds()]),
      );
      try {
        await Promise.all(runs.map((r) => r.waitFor(/started/)));
        const third = await cli(["run", "--limit", "2", resource, ...on(three), ...sleeper(0)]);
        assert.equal(third.code, 75, third.err);
        assert.match(
          third.err,
          new RegExp(`a permit of "${resource}" \\(limit 2\\) is busy \\(2 of 2 permits held\\)`),
        );
        const status = await cli(["status", resource, ...on(three)]);
        assert.match(
          status.out,
          new RegExp(
            `semaphore "${resource}": 2 of 2 permits held by 2 holders \\(a permit needs 3 of 3 nodes\\)`,
          ),
        );
        assert.match(status.out, new RegExp(`"${resource}" is free`), "the semaphore is not the name's lock");
        const mismatch = await cli(["run", "--limit", "3", resource, ...on(three), ...sleeper(0)]);
        assert.equal(mismatch.code, 64, mismatch.err);
        assert.match(mismatch.err, /limit/);
        // A waiting run gets the permit that frees.
        const waiting = start([
          "run",
          "--limit",
          "2",
          resource,
          ...on(three),
          "--wait",
          "10s",
          ...sleeper(0, 6),
        ]);
        await waiting.waitFor(/is busy \(2 of 2 permits held\); waiting up to/);
        runs[0]!.child.stdin?.end();
        assert.equal((await waiting.done).code, 6);
      } finally {
        for (const r of runs) r.child.stdin?.end();
        await Promise.all(runs.map((r) => r.done));
      }
    },
  );

  it(
    "refuses --shared with --limit, --fair with either, and a --limit that is not a whole number",
    T,
    async () => {
      const resource = fresh();
      for (const [flags, message] of [
        [["--shared", "--limit", "2"], /--shared and --limit do not go together/],
        [["--fair", "--shared"], /--fair takes the exclusive lock only, not with --shared/],
        [["--fair", "--limit", "2"], /--fair takes the exclusive lock only, not with --limit/],
        [["--limit", "0"], /--limit must be a whole number from 1 to/],
        [["--limit", "1.5"], /--limit must be a whole number from 1 to/],
      ] as const) {
        const ran = await cli(["run", ...flags, resource, ...on(one), ...sleeper(0)]);
        assert.equal(ran.code, 64, `${flags.join(" ")}: ${ran.err}`);
        assert.match(ran.err, message);
      }
    },
  );
});

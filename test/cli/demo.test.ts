// `quorumlock demo` (what `npm run demo` runs), end to end: real nodes, real worker processes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startRedisNodes } from "../harness/redis-node.js";
import { cli } from "./cli.js";

/** The demo's environment with no nodes named: it starts its own. */
const own = { QUORUMLOCK_NODES: "" };

describe("quorumlock demo", () => {
  it("starts 5 nodes, kills one part way, and reports a safe run in under a minute", {
    timeout: 60_000,
  }, async () => {
    const ran = await cli(["demo", "--duration", "4s", "--processes", "2", "--workers", "3"], own);
    assert.equal(ran.code, 0, ran.out + ran.err);
    assert.match(ran.out, /5 node\(s\), quorum 3; 2 processes × 3 workers/);
    assert.match(ran.out, /killed node redis:\/\/127\.0\.0\.1:\d+ \(kill -9\)/);
    assert.match(ran.out, /nodes up 4\/5/, "progress lines, plain when not a terminal");
    const sections = Number(ran.out.match(/sections done\s+(\d+)/)?.[1]);
    assert.ok(sections > 20, `only ${sections} sections`);
    assert.match(
      ran.out,
      new RegExp(`counter\\s+${sections} after ${sections} accepted writes \\(lost updates: 0\\)`),
    );
    assert.match(ran.out, /overlapping holders\s+0\n/);
    assert.match(ran.out, /fence order\s+ok/);
    assert.match(ran.out, /rejected stale writes\s+0/);
    assert.match(ran.out, /wait p50 \/ p99 \/ max\s+[\d.]+ ms \/ [\d.]+ ms \/ [\d.]+ ms/);
    assert.match(ran.out, /node killed\s+redis:\/\/127\.0\.0\.1:\d+ \(kill -9 at 1\.6s\)/);
    assert.match(ran.out, /Safe: no overlap, fences in order, no lost update\.\n$/);
    assert.ok(ran.ms < 60_000);
  });

  it("uses the nodes it is given, and never kills one of those", { timeout: 60_000 }, async () => {
    const nodes = await startRedisNodes(3);
    try {
      const ran = await cli([
        "demo",
        "--duration",
        "1s",
        "--processes",
        "1",
        "--workers",
        "2",
        "--nodes",
        nodes.urls().join(","),
      ]);
      assert.equal(ran.code, 0, ran.out + ran.err);
      assert.match(ran.out, /3 node\(s\), quorum 2/);
      assert.match(ran.out, /node killed\s+none/);
      assert.ok(
        nodes.every((node) => node.pid !== undefined),
        "all three still run",
      );
    } finally {
      await nodes.stopAll();
    }
  });

  it("says in one line how to get redis-server when it is missing (69)", { timeout: 20_000 }, async () => {
    const ran = await cli(["demo"], { ...own, PATH: "/nonexistent" });
    assert.equal(ran.code, 69);
    assert.match(
      ran.err,
      /^quorumlock: redis-server is not installed: install it \(macOS: brew install redis; Debian\/Ubuntu: apt-get install redis-server\) or pass --nodes\n$/,
    );
  });
});

// The `quorumlock` command, run as a real process against real nodes.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "../../src/index.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";

const root = new URL("../..", import.meta.url).pathname;
const T = { timeout: 30_000 };

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<Ran> } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, QUORUMLOCK_NODES: "", REDIS_URL: "", ...env },
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err += d));
  const done = new Promise<Ran>((resolve) => child.on("exit", (code) => resolve({ code, out, err })));
  return { child, done };
}
const cli = (args: string[], env?: NodeJS.ProcessEnv) => start(args, env).done;
/** A child command that runs for `ms` and then exits with `code`. */
const sleeper = (ms: number, code = 0) => [
  "--",
  process.execPath,
  "-e",
  `setTimeout(() => process.exit(${code}), ${ms})`,
];

describe("quorumlock CLI", () => {
  let one: RedisNodes;
  let three: RedisNodes;
  let n = 0;
  const fresh = () => `cli:${++n}`;
  before(async () => {
    [one, three] = await Promise.all([startRedisNodes(1), startRedisNodes(3)]);
  });
  after(async () => {
    await one?.stopAll();
    await three?.stopAll();
  });

  it("run: a second run exits busy at once, a third with --wait runs after the first", T, async () => {
    const nodes = one.urls().join(",");
    const resource = fresh();
    const first = start(["run", resource, "--nodes", nodes, ...sleeper(1_500)]);
    await sleep(800); // first holds the lock
    const busy = await cli(["run", resource, "--nodes", nodes, ...sleeper(0)]);
    assert.equal(busy.code, 75, busy.err);
    assert.match(busy.err, /is held by someone else/);
    const waited = await cli(["run", resource, "--nodes", nodes, "--wait", "10s", ...sleeper(0, 4)]);
    assert.equal((await first.done).code, 0);
    assert.equal(waited.code, 4, "the waiting run got the lock and passed its command's exit code through");
  });

  it("run: passes the command's exit code through, 128+n for a signal, 127 when not found", T, async () => {
    const nodes = one.urls().join(",");
    assert.equal((await cli(["run", fresh(), "--nodes", nodes, ...sleeper(0, 7)])).code, 7);
    const killed = await cli([
      "run",
      fresh(),
      "--nodes",
      nodes,
      "--",
      process.execPath,
      "-e",
      "process.kill(process.pid, 'SIGTERM')",
    ]);
    assert.equal(killed.code, 128 + 15);
    const missing = await cli(["run", fresh(), "--nodes", nodes, "--", "no-such-command-here"]);
    assert.equal(missing.code, 127);
    assert.match(missing.err, /cannot run no-such-command-here: not found/);
  });

  it("run: the command sees QUORUMLOCK_RESOURCE and QUORUMLOCK_FENCE", T, async () => {
    const resource = fresh();
    const ran = await cli([
      "run",
      resource,
      "--nodes",
      one.urls()[0]!,
      "--quiet",
      "--",
      process.execPath,
      "-e",
      "console.log(process.env.QUORUMLOCK_RESOURCE, process.env.QUORUMLOCK_FENCE)",
    ]);
    assert.equal(ran.code, 0);
    const [name, fence] = ran.out.trim().split(" ");
    assert.equal(name, resource);
    assert.ok(Number(fence) > 0);
    assert.equal(ran.err, "", "--quiet prints nothing of its own");
  });

  it("run: a lease broken from outside stops the command and exits 70", T, async () => {
    const nodes = three.urls().join(",");
    const resource = fresh();
    const run = start([
      "run",
      resource,
      "--nodes",
      nodes,
      "--ttl",
      "600ms",
      "--grace",
      "300ms",
      ...sleeper(20_000),
    ]);
    await sleep(1_000);
    const broken = await cli(["break", resource, "--yes", "--nodes", nodes]);
    assert.equal(broken.code, 0, broken.err);
    assert.match(broken.out, /broken on 3 of 3 nodes/);
    const started = performance.now();
    const ran = await run.done;
    assert.equal(ran.code, 70, ran.err);
    assert.match(ran.err, /was lost.*stopping the command/);
    assert.ok(performance.now() - started < 3_000);
  });

  it("run: SIGINT is forwarded to the command and the lock is released on the way out", T, async () => {
    const nodes = three.urls().join(",");
    const resource = fresh();
    const run = start(["run", resource, "--nodes", nodes, ...sleeper(20_000)]);
    await sleep(1_000);
    assert.match((await cli(["status", resource, "--nodes", nodes])).out, /is HELD/);
    run.child.kill("SIGINT");
    const ran = await run.done;
    assert.equal(ran.code, 128 + 2);
    assert.match((await cli(["status", resource, "--nodes", nodes])).out, /is free/);
  });

  it("status: holder and free, as a table and as JSON, on 1 and 3 nodes", T, async () => {
    for (const nodes of [one, three]) {
      const urls = nodes.urls();
      const resource = fresh();
      const locks = new LockManager({ nodes: urls });
      const lease = await locks.acquire(resource);
      const text = await cli(["status", resource, "--nodes", urls.join(",")]);
      assert.equal(text.code, 0);
      assert.match(
        text.out,
        new RegExp(
          `is HELD \\(present on ${urls.length} of ${urls.length} nodes; quorum ${urls.length === 1 ? 1 : 2}\\)`,
        ),
      );
      const json = JSON.parse(
        (await cli(["status", resource, "--json"], { QUORUMLOCK_NODES: urls.join(",") })).out,
      );
      assert.equal(json.held, true);
      assert.equal(json.nodes.length, urls.length);
      assert.equal(json.nodes[0].fence, lease.fence);
      assert.ok(json.nodes[0].ttlMs > 0);
      await lease.release();
      const free = JSON.parse((await cli(["status", resource, "--json", "--nodes", urls.join(",")])).out);
      assert.equal(free.held, false);
      await locks.close();
    }
  });

  it("release --token frees a lock only with the right token", T, async () => {
    const urls = three.urls();
    const resource = fresh();
    const locks = new LockManager({ nodes: urls });
    const lease = await locks.acquire(resource);
    const wrong = await cli(["release", resource, "--token", "not-it", "--nodes", urls.join(",")]);
    assert.equal(wrong.code, 0);
    assert.match(wrong.out, /released on 0 of 3 nodes \(no such lock/);
    assert.ok(lease.valid);
    const right = await cli(["release", resource, "--token", lease.token, "--nodes", urls.join(",")]);
    assert.match(right.out, /released on 3 of 3 nodes/);
    assert.match((await cli(["status", resource, "--nodes", urls.join(",")])).out, /is free/);
    await locks.close();
  });

  it(
    "bad flags, durations and commands are usage errors (64) in one line, with no stack trace",
    T,
    async () => {
      const cases: string[][] = [
        ["run", "r", "--ttl", "5q", "--", "true"],
        ["run", "r", "--wait", "soon", "--", "true"],
        ["run", "r", "--bogus", "--", "true"],
        ["run", "r"],
        ["run", "--", "true"],
        ["break", "r"],
        ["release", "r"],
        ["frobnicate"],
      ];
      for (const args of cases) {
        const ran = await cli(args);
        assert.equal(ran.code, 64, `${args.join(" ")}: ${ran.err}`);
        assert.match(ran.err, /^quorumlock: /);
        assert.doesNotMatch(ran.err, /\n\s+at /, "no stack trace");
      }
      assert.match((await cli(["run", "--help"])).out, /Examples:/);
    },
  );

  it("says the lock service is unavailable (69) when no node answers", T, async () => {
    const ran = await cli(["run", fresh(), "--nodes", "redis://127.0.0.1:1", ...sleeper(0)]);
    assert.equal(ran.code, 69, ran.err);
    assert.match(ran.err, /^quorumlock: Cannot acquire lock/);
  });
});

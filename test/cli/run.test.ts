// `quorumlock run`, as a real process against real nodes: exclusion, exit codes, a lost lease, signals.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fresh as freshName } from "../support/names.js";
import { type TestNodes, useNodes } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";
import { cli, holdUntilStdinEnds, node, sleeper, start } from "./cli.js";

describe("quorumlock run", () => {
  const [one, three] = [useNodes(1), useNodes(3)];
  const fresh = () => freshName("run");
  const on = (nodes: TestNodes) => ["--nodes", nodes.urls().join(",")];

  it(
    "lets one run at a time: a second exits busy (75) at once; one with --wait runs after the first",
    T,
    async () => {
      const resource = fresh();
      const first = start(["run", resource, ...on(three), ...holdUntilStdinEnds()]);
      await first.waitFor(/started/);
      const busy = await cli(["run", resource, ...on(three), ...sleeper(0)]);
      assert.equal(busy.code, 75, busy.err);
      assert.match(
        busy.err,
        new RegExp(`^quorumlock: "${resource}" is busy \\(held by .{8}…, \\d+\\.\\ds left\\); use --wait`),
      );
      assert.doesNotMatch(busy.out, /started/, "the busy run never started its command");
      const waiting = start(["run", resource, ...on(three), "--wait", "10s", ...sleeper(0, 4)]);
      await waiting.waitFor(/is busy .*; waiting up to/);
      first.child.stdin?.end();
      const waited = await waiting.done;
      const firstRan = await first.done;
      assert.equal(firstRan.code, 0);
      assert.equal(waited.code, 4, "the waiting run got the lock and passed its command's exit code through");
      assert.match(waited.err, /is busy .*; waiting up to 10\.0s/);
    },
  );

  it("gives up with busy (75) when --wait runs out", T, async () => {
    const resource = fresh();
    const holder = start(["run", resource, ...on(one), ...sleeper(5_000)]);
    await holder.waitFor(/started/);
    const ran = await cli(["run", resource, ...on(one), "--wait", "300ms", ...sleeper(0)]);
    assert.equal(ran.code, 75);
    assert.match(ran.err, /still busy after waiting 300 ms/);
    holder.child.kill("SIGTERM");
    await holder.done;
  });

  it(
    "exits with the command's code: its own, 128+n for signal n, 127 not found, 126 not executable",
    T,
    async () => {
      const ran = (args: string[]) => cli(["run", fresh(), ...on(one), ...args]);
      assert.equal((await ran(sleeper(0, 7))).code, 7);
      assert.equal((await ran(node("process.kill(process.pid, 'SIGTERM')"))).code, 128 + 15);
      const missing = await ran(["--", "no-such-command-here"]);
      assert.equal(missing.code, 127);
      assert.match(missing.err, /cannot run no-such-command-here: not found/);
      assert.equal((await ran(["--", "./package.json"])).code, 126); // no execute permission
    },
  );

  it(
    "gives the command QUORUMLOCK_RESOURCE and QUORUMLOCK_FENCE; --quiet prints nothing of its own",
    T,
    async () => {
      const resource = fresh();
      const script = "console.log(process.env.QUORUMLOCK_RESOURCE, process.env.QUORUMLOCK_FENCE)";
      const first = await cli(["run", resource, ...on(three), "--quiet", ...node(script)]);
      const second = await cli(["run", resource, ...on(three), ...node(script)]);
      assert.equal(first.code, 0);
      assert.equal(first.err, "");
      const [name, fence] = first.out.trim().split(" ");
      assert.equal(name, resource);
      assert.ok(Number(fence) > 0);
      assert.ok(Number(second.out.trim().split(" ")[1]) > Number(fence), "the next holder's fence is higher");
      assert.match(second.err, new RegExp(`holding "${resource}" \\(fence \\d+\\); running `));
    },
  );

  it("keeps the lease's token out of its output unless --show-token asks for it", T, async () => {
    const holderToken = async (resource: string) => {
      const status = await cli(["status", resource, "--json", "--show-token", ...on(three)]);
      return JSON.parse(status.out).holder.token as string;
    };
    const resource = fresh();
    const quiet = start(["run", resource, ...on(three), ...sleeper(20_000)]);
    await quiet.waitFor(/started/);
    const token = await holderToken(resource);
    assert.match(token, /^[\w-]{27}$/);
    quiet.child.kill("SIGTERM");
    const ran = await quiet.done;
    assert.match(ran.err, new RegExp(`holding "${resource}" \\(fence \\d+\\); running `));
    assert.ok(!`${ran.out}${ran.err}`.includes(token), `the token is not printed:\n${ran.err}`);

    // Asked for, even with --quiet: an operator may need it to release a crashed run's lock.
    const other = fresh();
    const shown = start(["run", other, ...on(three), "--show-token", "--quiet", ...sleeper(20_000)]);
    await shown.waitFor(/started/);
    const printed = shown.done.then((r) => r.err);
    const expected = await holderToken(other);
    shown.child.kill("SIGTERM");
    assert.match(
      await printed,
      new RegExp(`^quorumlock: holding "${other}" \\(fence \\d+, token ${expected}\\); running `),
    );
  });

  it(
    "stops the command when the lease is lost (lock broken from outside): SIGTERM, SIGKILL after --grace, exit 70",
    T,
    async () => {
      const resource = fresh();
      const stubborn = node(
        "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('started'); setInterval(() => {}, 1000)",
      );
      const run = start(["run", resource, ...on(three), "--ttl", "1500ms", "--grace", "400ms", ...stubborn]);
      await run.waitFor(/started/);
      const broken = await cli(["break", resource, "--yes", ...on(three)]);
      assert.equal(broken.code, 0, broken.err);
      assert.match(broken.out, /broken on 3 of 3 nodes/);
      const since = performance.now();
      const ran = await run.done;
      assert.equal(ran.code, 70, ran.err);
      assert.match(ran.err, /was lost.*stopping the command \(SIGTERM, then SIGKILL after 400 ms\)/);
      assert.match(ran.out, /ignoring SIGTERM/, "SIGTERM came first");
      // Noticed at the next extension (every 500 ms), then 400 ms of grace; generous for a loaded machine.
      assert.ok(performance.now() - since < 5_000);
    },
  );

  it("stops the command at --max-hold like a lost lease (70)", T, async () => {
    const ran = await cli([
      "run",
      fresh(),
      ...on(one),
      "--ttl",
      "1s",
      "--max-hold",
      "1500ms",
      ...sleeper(20_000),
    ]);
    assert.equal(ran.code, 70, ran.err);
    assert.match(ran.err, /maxHold/);
  });

  it("passes SIGINT on to the command and releases the lock on the way out", T, async () => {
    const resource = fresh();
    const trap = node(
      "process.on('SIGINT', () => { console.log('command got SIGINT'); process.exit(42); }); console.log('started'); setInterval(() => {}, 1000)",
    );
    const run = start(["run", resource, ...on(three), ...trap]);
    await run.waitFor(/started/);
    assert.match((await cli(["status", resource, ...on(three)])).out, /is HELD/);
    run.child.kill("SIGINT"); // to quorumlock only: the command hears of it through quorumlock
    const ran = await run.done;
    assert.match(ran.out, /command got SIGINT/);
    assert.equal(ran.code, 42);
    // Released, not left to expire: the default TTL is 30 s.
    assert.match((await cli(["status", resource, ...on(three)])).out, /is free/);
  });

  it("passes SIGTERM on too (128+15 when it ends the command)", T, async () => {
    const run = start(["run", fresh(), ...on(one), ...sleeper(20_000)]);
    await run.waitFor(/started/);
    run.child.kill("SIGTERM");
    assert.equal((await run.done).code, 128 + 15);
  });

  it(
    "a signal while waiting ends the wait (130), runs nothing and leaves the holder's lock alone",
    T,
    async () => {
      const resource = fresh();
      const holder = start(["run", resource, ...on(three), ...sleeper(20_000)]);
      await holder.waitFor(/started/);
      const waiter = start(["run", resource, ...on(three), "--wait", "20s", ...sleeper(0)]);
      await waiter.waitFor(/waiting up to/);
      waiter.child.kill("SIGINT");
      const ran = await waiter.done;
      assert.equal(ran.code, 130);
      assert.doesNotMatch(ran.out, /started/);
      const status = JSON.parse((await cli(["status", resource, "--json", ...on(three)])).out);
      assert.equal(status.holder.nodes, 3, "the holder's lock is untouched on every node");
      holder.child.kill("SIGTERM");
      await holder.done;
    },
  );

  it("says the lock service is unavailable (69) when too few nodes answer", T, async () => {
    const ran = await cli(["run", fresh(), "--nodes", "redis://127.0.0.1:1", ...sleeper(0)]);
    assert.equal(ran.code, 69, ran.err);
    assert.match(ran.err, /^quorumlock: Cannot acquire lock .*check --nodes/);
    assert.equal(ran.err.split("\n").length, 2, "one line");
  });

  it("--fair: waiting runs take the lock in arrival order; status counts the waiters queued", T, async () => {
    const resource = fresh();
    const holder = start(["run", resource, ...on(one), "--fair", ...holdUntilStdinEnds()]);
    await holder.waitFor(/started/);
    const order: string[] = [];
    const waiters = [];
    for (const name of ["first", "second", "third"]) {
      const waiter = start([
        "run",
        resource,
        ...on(one),
        "--fair",
        "--wait",
        "20s",
        ...node(`console.log("${name}"); setTimeout(() => {}, 100)`),
      ]);
      waiter.child.stdout?.on("data", (d) => order.push(String(d).trim()));
      await waiter.waitFor(/waiting up to/);
      waiters.push(waiter);
    }
    const status = await cli(["status", resource, ...on(one)]);
    assert.match(status.out, /waiters queued 3 \(3 exclusive\)/);
    assert.equal(JSON.parse((await cli(["status", resource, "--json", ...on(one)])).out).waiters, 3);
    holder.child.stdin?.end();
    for (const waiter of waiters) assert.equal((await waiter.done).code, 0);
    assert.equal((await holder.done).code, 0);
    assert.deepEqual(order, ["first", "second", "third"]);
    assert.match((await cli(["status", resource, ...on(one)])).out, /waiters queued 0/);
  });

  for (const [size, nodes] of [
    [1, one],
    [3, three],
  ] as const) {
    it(
      `status counts who waits in every queue of a name, on ${size} node(s): exclusive, shared, permits`,
      T,
      async () => {
        const resource = fresh();
        const holder = start(["run", resource, ...on(nodes), ...holdUntilStdinEnds()]);
        const permitHolder = start(["run", resource, ...on(nodes), "--limit", "1", ...holdUntilStdinEnds()]);
        await Promise.all([holder.waitFor(/started/), permitHolder.waitFor(/started/)]);
        const waiters = [
          start(["run", resource, ...on(nodes), "--wait", "20s", ...sleeper(0)]),
          start(["run", resource, ...on(nodes), "--shared", "--wait", "20s", ...sleeper(0)]),
          start(["run", resource, ...on(nodes), "--limit", "1", "--wait", "20s", ...sleeper(0)]),
        ];
        for (const waiter of waiters) await waiter.waitFor(/waiting up to/);
        const text = await cli(["status", resource, ...on(nodes)]);
        assert.match(text.out, /waiters queued 3 \(1 exclusive, 1 shared, 1 for permits\)/);
        const json = JSON.parse((await cli(["status", resource, "--json", ...on(nodes)])).out);
        assert.deepEqual([json.waiters, json.readersWaiting, json.permitWaiters], [1, 1, 1]);
        assert.ok(
          json.nodes.every((n: { waiters: number; readersWaiting: number; permitWaiters: number }) =>
            [n.waiters, n.readersWaiting, n.permitWaiters].every((count) => count === 1),
          ),
          "each waiter queued on every node",
        );
        holder.child.stdin?.end();
        permitHolder.child.stdin?.end();
        for (const run of [holder, permitHolder, ...waiters]) assert.equal((await run.done).code, 0);
        const after = JSON.parse((await cli(["status", resource, "--json", ...on(nodes)])).out);
        assert.deepEqual([after.waiters, after.readersWaiting, after.permitWaiters], [0, 0, 0]);
      },
    );
  }
});

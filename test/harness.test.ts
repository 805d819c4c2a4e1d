// Tests of the test harness itself: if these fail, no other failure can be trusted.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { codeOf, contend, deadline, fromMessage, holdMessage } from "../src/cli/contention.js";
import {
  FencedCounter,
  FencingRegister,
  HoldLog,
  LostUpdateCounter,
  now,
  verdict,
} from "./harness/checker.js";
import { startProxy } from "./harness/proxy.js";
import { type RedisNode, startRedis, startRedisNodes } from "./harness/redis-node.js";
import { spawnWorker } from "./harness/workers.js";

const BOUNDED = { timeout: 20_000 };
const TIMED_OUT = Symbol("timed out");

/** A connected ioredis client that fails fast and never reconnects, so faults show up in the test. */
async function client(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 2_000,
  });
  redis.on("error", () => {}); // asserted through commands and "end"
  await redis.connect();
  return redis;
}

/** The promise's value, or TIMED_OUT if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  promise.catch(() => {}); // it may reject later, when the test disconnects
  return Promise.race([promise, sleep(ms, TIMED_OUT)]);
}

function ended(redis: Redis): Promise<void> {
  return new Promise((resolve) => redis.once("end", () => resolve()));
}

/** How a raw TCP connection attempt to `port` ends: the error code, or "closed" after connecting. */
function connectionOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let outcome = "closed";
    socket.on("error", (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? error.message;
    });
    socket.on("close", () => resolve(outcome));
  });
}

function assertGone(pid: number): void {
  assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `process ${pid} is still running`);
}

describe("redis nodes", () => {
  it("start in parallel on distinct free ports and answer PING", BOUNDED, async () => {
    const nodes = await startRedisNodes(3);
    try {
      const ports = nodes.map((node) => node.port);
      assert.equal(new Set(ports).size, 3);
      assert.ok(!ports.includes(6379));
      assert.deepEqual(
        nodes.urls(),
        ports.map((port) => `redis://127.0.0.1:${port}`),
      );
      for (const node of nodes) {
        const redis = await client(node.url);
        try {
          assert.equal(await redis.ping(), "PONG");
        } finally {
          redis.disconnect();
        }
      }
    } finally {
      await nodes.stopAll();
    }
  });

  it("refuse connections once killed, and come back on the same port with empty data", BOUNDED, async () => {
    const node = await startRedis();
    try {
      const firstPid = node.pid;
      const before = await client(node.url);
      await before.set("key", "value");
      before.disconnect();

      await node.kill();
      assert.equal(node.pid, undefined);
      assert.equal(await connectionOutcome(node.port), "ECONNREFUSED");

      const port = node.port;
      await node.restart();
      assert.equal(node.port, port);
      assert.notEqual(node.pid, firstPid);
      const afterRestart = await client(node.url);
      try {
        assert.equal(await afterRestart.get("key"), null);
      } finally {
        afterRestart.disconnect();
      }
    } finally {
      await node.stop();
    }
  });

  it("do not answer while paused, and answer once resumed", BOUNDED, async () => {
    const node = await startRedis();
    const redis = await client(node.url);
    try {
      node.pause();
      const reply = redis.ping();
      assert.equal(await within(reply, 200), TIMED_OUT);
      node.resume();
      assert.equal(await reply, "PONG");
    } finally {
      redis.disconnect();
      await node.stop();
    }
  });

  it("leave no process behind after stopAll, even a paused one", BOUNDED, async () => {
    const nodes = await startRedisNodes(2);
    const pids = nodes.map((node) => node.pid);
    nodes[0]!.pause();
    await nodes.stopAll();
    await nodes.stopAll(); // idempotent
    for (const pid of pids) assertGone(pid!);
    assert.deepEqual(
      nodes.map((node) => node.pid),
      [undefined, undefined],
    );
  });

  it("stop at the end of an `await using` scope", BOUNDED, async () => {
    let pid: number | undefined;
    {
      await using node = await startRedis();
      pid = node.pid;
    }
    assertGone(pid!);
  });

  it("reject extra arguments that would move them off their port", async () => {
    await assert.rejects(startRedis({ extraArgs: ["--port", "6379"] }), TypeError);
  });
});

describe("fault proxy", () => {
  let node: RedisNode;
  let direct: Redis;
  before(async () => {
    node = await startRedis();
    direct = await client(node.url);
  });
  after(async () => {
    direct?.disconnect();
    await node?.stop();
  });

  it("passes commands and replies through", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const redis = await client(proxy.url);
    try {
      await redis.set("pass", "1");
      assert.equal(await redis.get("pass"), "1");
      assert.equal(await direct.get("pass"), "1");
    } finally {
      redis.disconnect();
    }
  });

  it("delays each direction by the given time, in order", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const redis = await client(proxy.url);
    try {
      proxy.setMode({ kind: "delay", ms: 100 });
      const started = performance.now();
      assert.equal(await redis.ping(), "PONG");
      assert.ok(performance.now() - started >= 200, "the request and the reply are each delayed");
      const replies = await Promise.all(Array.from({ length: 20 }, () => redis.incr("delay-order")));
      assert.deepEqual(
        replies,
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    } finally {
      redis.disconnect();
    }
  });

  it("blackholes traffic both ways while keeping the connection open", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const redis = await client(proxy.url);
    try {
      proxy.setMode({ kind: "blackhole" });
      assert.equal(await within(redis.set("blackholed", "1"), 300), TIMED_OUT);
      assert.equal(redis.status, "ready");
      assert.equal(await direct.get("blackholed"), null);
    } finally {
      redis.disconnect();
    }
  });

  it("applies commands but drops the replies", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const redis = await client(proxy.url);
    try {
      proxy.setMode({ kind: "drop-replies" });
      assert.equal(await within(redis.set("dropped", "1"), 300), TIMED_OUT);
      assert.equal(await direct.get("dropped"), "1");
    } finally {
      redis.disconnect();
    }
  });

  it("resets current connections and new ones", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const redis = await client(proxy.url);
    try {
      const closed = ended(redis);
      proxy.setMode({ kind: "reset" });
      await closed;
      assert.match(await connectionOutcome(proxy.port), /^(ECONNRESET|closed)$/);
    } finally {
      redis.disconnect();
    }
  });

  it("heals: drops the faulty connections, and new ones work", BOUNDED, async () => {
    await using proxy = await startProxy(node);
    const stale = await client(proxy.url);
    let fresh: Redis | undefined;
    try {
      proxy.setMode({ kind: "blackhole" });
      const lost = stale.ping();
      assert.equal(await within(lost, 100), TIMED_OUT);
      const closed = ended(stale);
      proxy.heal();
      await closed;
      await assert.rejects(lost);
      assert.equal(proxy.mode.kind, "pass");
      fresh = await client(proxy.url);
      assert.equal(await fresh.ping(), "PONG");
    } finally {
      stale.disconnect();
      fresh?.disconnect();
    }
  });

  it("stops listening once closed", BOUNDED, async () => {
    const proxy = await startProxy(node);
    const redis = await client(proxy.url);
    const closed = ended(redis);
    await proxy.close();
    await proxy.close(); // idempotent
    await closed;
    assert.equal(await connectionOutcome(proxy.port), "ECONNREFUSED");
  });
});

describe("workers", () => {
  let dir: string;
  let script: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "quorumlock-harness-"));
    script = join(dir, "echo-worker.ts");
    await writeFile(
      script,
      `type Command = { cmd: "echo"; value: unknown } | { cmd: "now" } | { cmd: "exit"; code: number };
process.on("message", (command: Command) => {
  if (command.cmd === "echo") process.send?.({ echo: command.value });
  if (command.cmd === "now") process.send?.({ now: String(process.hrtime.bigint()) });
  if (command.cmd === "exit") process.exit(command.code);
});
process.send?.({ ready: true, argv: process.argv.slice(2), tag: process.env.WORKER_TAG });
`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const isEcho =
    (value: unknown) =>
    (message: unknown): boolean =>
      typeof message === "object" && message !== null && "echo" in message && message.echo === value;
  const isReady = (message: unknown): message is { ready: true; argv: string[]; tag: string } =>
    typeof message === "object" && message !== null && "ready" in message;

  it("get arguments and environment, and exchange messages as a mailbox", BOUNDED, async () => {
    await using worker = spawnWorker(script, ["--flag", "x"], { WORKER_TAG: "tagged" });
    const ready = await worker.waitFor(isReady);
    assert.deepEqual(ready.argv, ["--flag", "x"]);
    assert.equal(ready.tag, "tagged");
    worker.send({ cmd: "echo", value: 1 });
    worker.send({ cmd: "echo", value: 2 });
    // Waiting for the second message first must not lose the first one.
    assert.deepEqual(await worker.waitFor(isEcho(2)), { echo: 2 });
    assert.deepEqual(await worker.waitFor(isEcho(1)), { echo: 1 });
    assert.equal(worker.received.length, 3);
    await assert.rejects(worker.waitFor(isEcho(1), 100), /timed out after 100 ms.*matching/);
  });

  it("do not answer while paused, and answer once resumed", BOUNDED, async () => {
    await using worker = spawnWorker(script);
    await worker.waitFor(isReady);
    worker.pause();
    worker.send({ cmd: "echo", value: "late" });
    const reply = worker.waitFor(isEcho("late"));
    assert.equal(await within(reply, 200), TIMED_OUT);
    worker.resume();
    assert.deepEqual(await reply, { echo: "late" });
  });

  it("share the monotonic clock with the test process", BOUNDED, async () => {
    await using worker = spawnWorker(script);
    await worker.waitFor(isReady);
    const before = now();
    worker.send({ cmd: "now" });
    const reply = (await worker.waitFor((m) => typeof m === "object" && m !== null && "now" in m)) as {
      now: string;
    };
    const after = now();
    const theirs = BigInt(reply.now);
    assert.ok(before < theirs && theirs < after, `${before} < ${theirs} < ${after}`);
  });

  it("report their exit code, and waitFor fails fast once they are gone", BOUNDED, async () => {
    const worker = spawnWorker(script);
    await worker.waitFor(isReady);
    worker.send({ cmd: "exit", code: 3 });
    assert.equal(await worker.exited, 3);
    await assert.rejects(worker.waitFor(isEcho(1)), /exited with code 3/);
    assert.throws(() => worker.send({ cmd: "echo", value: 1 }), /not connected/);
  });

  it("are gone once killed, even while paused", BOUNDED, async () => {
    const worker = spawnWorker(script);
    await worker.waitFor(isReady);
    const pending = worker.waitFor(isEcho("never"));
    worker.pause();
    await worker.kill();
    assert.equal(await worker.exited, null);
    await assert.rejects(pending, /exited/);
    assertGone(worker.pid);
  });
});

describe("safety checker", () => {
  const ms = (n: number): bigint => BigInt(n) * 1_000_000n;

  it("accepts a clean history", () => {
    const log = new HoldLog();
    log.record({ worker: "a", fence: 1, start: ms(0), end: ms(10) });
    log.record({ worker: "b", fence: 2, start: ms(10), end: ms(20) }); // touching is not overlapping
    log.record({ worker: "a", fence: 5, start: ms(25), end: ms(30) });
    assert.deepEqual(log.overlaps(), []);
    assert.deepEqual(log.fencesIncreasing(), []);
    log.assertSafe();
  });

  it("catches two holds that overlap", () => {
    const log = new HoldLog();
    log.record({ worker: "b", start: ms(5), end: ms(15) });
    log.record({ worker: "a", start: ms(0), end: ms(10) });
    log.record({ worker: "c", start: ms(20), end: ms(30) });
    const overlaps = log.overlaps();
    assert.equal(overlaps.length, 1);
    assert.equal(overlaps[0]!.first.worker, "a");
    assert.equal(overlaps[0]!.second.worker, "b");
    assert.throws(() => log.assertSafe(), { name: "AssertionError", message: /1 overlapping pair/ });
  });

  it("catches a fence that goes down", () => {
    const log = new HoldLog();
    log.record({ worker: "a", fence: 1, start: ms(0), end: ms(10) });
    log.record({ worker: "b", fence: 3, start: ms(10), end: ms(20) });
    log.record({ worker: "c", fence: 3, start: ms(20), end: ms(30) });
    const violations = log.fencesIncreasing();
    assert.equal(violations.length, 1);
    assert.equal(violations[0]!.earlier.worker, "b");
    assert.equal(violations[0]!.later.worker, "c");
    assert.throws(() => log.assertSafe(), {
      name: "AssertionError",
      message: /c fence 3 .* comes after b fence 3/,
    });
  });

  it("rejects a hold that ends before it starts", () => {
    assert.throws(() => new HoldLog().record({ worker: "a", start: ms(2), end: ms(1) }), RangeError);
  });

  it("counts no overlap inside a hold whose lease had run out, but still wants its fence to rise", () => {
    const log = new HoldLog([
      { worker: "a", fence: 1, start: ms(0), end: ms(50), valid: false },
      { worker: "b", fence: 2, start: ms(20), end: ms(30) },
    ]);
    assert.deepEqual(log.overlaps(), []);
    log.record({ worker: "c", fence: 2, start: ms(25), end: ms(40), valid: false });
    assert.deepEqual(
      log.overlaps().map((o) => [o.first.worker, o.second.worker]),
      [["b", "c"]],
      "a valid holder excludes an expired one that starts inside it",
    );
    assert.deepEqual(
      log.fencesIncreasing().map((v) => [v.earlier.worker, v.later.worker]),
      [["b", "c"]],
    );
    assert.match(log.violations().join("\n"), /c fence 2 \(expired\) .* comes after b fence 2/);
  });

  it("a verdict counts each offending hold once, and the counter's lost updates", () => {
    const log = new HoldLog([
      { worker: "a", fence: 1, start: ms(0), end: ms(10) },
      { worker: "b", fence: 2, start: ms(2), end: ms(4) },
      { worker: "c", fence: 1, start: ms(3), end: ms(5) },
    ]);
    const counter = new FencedCounter();
    for (const fence of [1, 2, 2]) if (counter.admit(fence)) counter.write(counter.read() + 1);
    assert.equal(counter.admit(1), false, "a stale fence is refused");
    assert.deepEqual(verdict(log, counter), { overlaps: 2, fenceInversions: 1, lostUpdates: 0, safe: false });
    counter.write(counter.value); // a second holder's write from the same value
    assert.equal(verdict(new HoldLog(), counter).lostUpdates, 1);
  });

  it("a hold crosses IPC as a message and comes back the same", () => {
    const hold = { worker: "1/0", fence: 7, asked: ms(1), start: ms(2), end: ms(3), valid: true, permits: 2 };
    const sent = JSON.parse(JSON.stringify(holdMessage(hold)));
    assert.deepEqual(fromMessage(sent), hold);
  });

  it("fencing register rejects reads and writes with a stale fence", () => {
    const register = new FencingRegister<string>();
    assert.deepEqual(register.write(1, "one"), { ok: true });
    assert.deepEqual(register.write(2, "two"), { ok: true });
    assert.deepEqual(register.write(2, "two again"), { ok: true });
    assert.deepEqual(register.write(1, "stale"), { ok: false });
    assert.deepEqual(register.read(1), { ok: false });
    assert.deepEqual(register.read(3), { ok: true, value: "two again" });
    assert.equal(register.highestFence, 3);
    assert.equal(register.rejections, 2);
    assert.equal(register.accepted, 4);
  });

  it("lost-update counter counts increments lost to a race", () => {
    const counter = new LostUpdateCounter();
    const a = counter.read();
    const b = counter.read(); // a second holder reads before the first writes
    counter.write(a + 1);
    counter.write(b + 1);
    counter.write(counter.read() + 1);
    assert.equal(counter.value, 2);
    assert.equal(counter.writes, 3);
    assert.equal(counter.lostUpdates, 1);
  });
});

describe("contention driver", () => {
  it(
    "loops take, hold, release until the deadline; times each section; counts failures and goes on",
    BOUNDED,
    async () => {
      let holder: number | undefined;
      let tries = 0;
      const sections: { worker: number; asked: bigint; start: bigint; end: bigint }[] = [];
      const failures: string[] = [];
      const began = now();
      await contend<number>(
        {
          // An in-process lock: busy while held, and every fifth try fails.
          async take(worker) {
            await sleep(0);
            if (++tries % 5 === 0) throw Object.assign(new Error("node down"), { code: "NODE_DOWN" });
            if (holder !== undefined) throw new Error("busy");
            holder = worker;
            return worker;
          },
          hold: () => sleep(2),
          async release(lease) {
            assert.equal(holder, lease);
            holder = undefined;
          },
          held: (lease, worker, asked, start, end) => {
            assert.equal(lease, worker);
            sections.push({ worker, asked, start, end });
          },
          failed: (error) => failures.push(codeOf(error)),
        },
        { workers: 3, until: deadline(150), outsideMs: 1 },
      );
      const took = Number(now() - began) / 1e6;
      assert.ok(took >= 150 && took < 1_000, `ran ${took} ms`);
      assert.ok(sections.length >= 10, `only ${sections.length} sections`);
      // A timer may fire up to a millisecond early by the monotonic clock (libuv caches the loop's time).
      for (const s of sections) assert.ok(s.asked <= s.start && s.end - s.start >= 1_000_000n);
      assert.deepEqual(new Set(sections.map((s) => s.worker)), new Set([0, 1, 2]));
      assert.ok(failures.includes("NODE_DOWN") && failures.includes("Error: busy"), failures.join());
      new HoldLog(sections.map((s) => ({ ...s, worker: String(s.worker) }))).assertSafe();
    },
  );
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LockManager } from "../../src/index.js";
import { DEFAULTS, resolveCallOptions, resolveManagerOptions } from "../../src/options.js";

type Check = { code: string; name: string; message: RegExp };
const typeError = (message: RegExp): Check => ({ name: "TypeError", code: "ERR_INVALID_ARG_TYPE", message });
const valueError = (message: RegExp): Check => ({
  name: "RangeError",
  code: "ERR_INVALID_ARG_VALUE",
  message,
});
const unknown = (message: RegExp): Check => ({ name: "TypeError", code: "ERR_INVALID_ARG_VALUE", message });

describe("LockManager options", () => {
  it("defaults to one node at redis://127.0.0.1:6379 with documented values", () => {
    const o = resolveManagerOptions(undefined);
    assert.deepEqual(o.nodes, ["redis://127.0.0.1:6379"]);
    assert.equal(o.ttl, DEFAULTS.ttl);
    assert.equal(o.wait, DEFAULTS.wait);
    assert.equal(o.nodeTimeout, 500);
    assert.equal(o.prefix, "quorumlock:");
    assert.equal(o.fencing, true);
    assert.equal(o.wakeup, "pubsub");
    assert.equal(o.pollInterval, 100);
    assert.equal(o.fair, false);
    assert.ok(Object.isFrozen(DEFAULTS));
  });

  const bad: [string, unknown, Check][] = [
    ["options that are not an object", 42, typeError(/"options" option must be an object/)],
    ["an unknown option", { ttll: 5 }, unknown(/Unknown option "ttll".*Known options: nodes, ttl/)],
    ["an empty node list", { nodes: [] }, valueError(/"nodes".*non-empty array/)],
    ["nodes that are not an array", { nodes: "redis://x" }, typeError(/"nodes" option must be an array/)],
    ["an unparsable URL", { nodes: ["not a url"] }, valueError(/"nodes\[0\]".*URL/)],
    [
      "a URL of another scheme",
      { nodes: ["http://127.0.0.1:6379"] },
      valueError(/"nodes\[0\]".*"redis:" or "rediss:"/),
    ],
    ["a node of the wrong type", { nodes: [42] }, typeError(/"nodes\[0\]".*URL, an ioredis options object/)],
    [
      "the same node twice",
      { nodes: ["redis://127.0.0.1:7000", "redis://127.0.0.1:7000/0"] },
      valueError(/"nodes\[1\]".*repeats nodes\[0\]/),
    ],
    ["ttl 0", { ttl: 0 }, valueError(/"ttl".*integer from 10 to 2147483647/)],
    ["negative ttl", { ttl: -5 }, valueError(/"ttl"/)],
    ["NaN ttl", { ttl: Number.NaN }, valueError(/"ttl".*Received NaN/)],
    ["fractional ttl", { ttl: 1.5 }, valueError(/"ttl".*integer/)],
    ["absurdly large ttl", { ttl: 2 ** 31 }, valueError(/"ttl".*2147483647/)],
    ["infinite ttl", { ttl: Number.POSITIVE_INFINITY }, valueError(/"ttl"/)],
    [
      "string ttl",
      { ttl: "30s" },
      typeError(/"ttl" option must be a number of milliseconds. Received "30s"/),
    ],
    ["negative wait", { wait: -1 }, valueError(/"wait".*or Infinity/)],
    ["zero nodeTimeout", { nodeTimeout: 0 }, valueError(/"nodeTimeout"/)],
    ["a prefix with a brace", { prefix: "a{b" }, valueError(/"prefix".*without "\{" or "\}"/)],
    ["a non-boolean fencing", { fencing: "yes" }, typeError(/"fencing" option must be a boolean/)],
    [
      "an unknown wakeup",
      { wakeup: "push" },
      valueError(/"wakeup" option must be "pubsub" or "poll". Received "push"/),
    ],
    ["a non-string wakeup", { wakeup: true }, typeError(/"wakeup" option must be "pubsub" or "poll"/)],
    ["a zero pollInterval", { pollInterval: 0 }, valueError(/"pollInterval".*integer from 1/)],
    ["a non-boolean fair", { fair: 1 }, typeError(/"fair" option must be a boolean/)],
    [
      "fair mode on several nodes",
      { fair: true, nodes: ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001", "redis://127.0.0.1:7002"] },
      valueError(
        /"fair" option must be false with 3 nodes: the fair queue .* live on one Redis.*Received true/,
      ),
    ],
  ];
  for (const [what, options, check] of bad) {
    it(`rejects ${what} at once`, () => {
      assert.throws(
        () => new LockManager(options as never),
        (error: Error & { code?: string }) => {
          assert.equal(error.name, check.name);
          assert.equal(error.code, check.code);
          assert.match(error.message, check.message);
          return true;
        },
      );
    });
  }

  it("accepts wait: Infinity only when asked for explicitly", () => {
    assert.equal(resolveManagerOptions({ wait: Number.POSITIVE_INFINITY }).wait, Number.POSITIVE_INFINITY);
    assert.equal(resolveManagerOptions({}).wait, 10_000);
  });
});

describe("per-call options", () => {
  const defaults = resolveManagerOptions({ ttl: 5_000, wait: 1_000 });

  it("fall back to the manager's ttl and wait", () => {
    const o = resolveCallOptions("acquire", undefined, defaults);
    assert.equal(o.ttl, 5_000);
    assert.equal(o.wait, 1_000);
    assert.equal(o.autoExtend, false);
    assert.equal(o.maxHold, Number.POSITIVE_INFINITY);
  });

  it("make tryAcquire a single attempt and refuse a wait option there", () => {
    assert.equal(resolveCallOptions("tryAcquire", {}, defaults).wait, 0);
    assert.throws(
      () => resolveCallOptions("tryAcquire", { wait: 5 }, defaults),
      /Unknown option "wait" in tryAcquire/,
    );
  });

  it("always auto-extend in withLock", () => {
    assert.equal(resolveCallOptions("withLock", {}, defaults).autoExtend, true);
  });

  it("reject a signal that is not an AbortSignal", () => {
    assert.throws(() => resolveCallOptions("acquire", { signal: {} }, defaults), {
      code: "ERR_INVALID_ARG_TYPE",
      message: /"signal" option must be an AbortSignal/,
    });
  });

  it("take fair from the call, else the manager, and refuse it per call on several nodes", () => {
    assert.equal(resolveCallOptions("acquire", {}, defaults).fair, false);
    assert.equal(resolveCallOptions("tryAcquire", { fair: true }, defaults).fair, true);
    const fairManager = resolveManagerOptions({ fair: true });
    assert.equal(resolveCallOptions("withLock", {}, fairManager).fair, true);
    assert.equal(resolveCallOptions("withLock", { fair: false }, fairManager).fair, false);
    const quorum = resolveManagerOptions({ nodes: ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"] });
    assert.throws(() => resolveCallOptions("acquire", { fair: true }, quorum), {
      code: "ERR_INVALID_ARG_VALUE",
      message: /"fair" option must be false with 2 nodes/,
    });
    assert.equal(resolveCallOptions("acquire", { fair: false }, quorum).fair, false);
  });

  it("reject a maxHold shorter than the ttl", () => {
    assert.throws(() => resolveCallOptions("acquire", { ttl: 1_000, maxHold: 500 }, defaults), {
      code: "ERR_INVALID_ARG_VALUE",
      message: /"maxHold" option must be at least the ttl \(1000 ms\)/,
    });
  });
});

// A waiter whose votes a node that is away keeps from a quorum: the nodes it reaches split (the holder has some,
// the waiter gets the others), which looks like racing contenders, whose pause is on the scale of an attempt.
// But a node that is down or reconnecting fails at once, every time: the waiter must not try hundreds of times a
// second until the node is back or the holder lets go.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CHANNELS, LockManager, type NodeErrorEvent } from "../../src/index.js";
import { keysOf } from "../support/keys.js";
import { fresh } from "../support/names.js";
import { useCluster } from "../support/nodes.js";
import { LONG as T } from "../support/timeouts.js";

describe("a node away while the vote splits", () => {
  const env = useCluster({});

  it(
    "a waiter looks a few times a second, not hundreds, and gets the lock once the holder lets go",
    T,
    async () => {
      const name = fresh("away");
      const a = new LockManager({ nodes: env.cluster.urls, ttl: 5_000 });
      const b = new LockManager({ nodes: env.cluster.urls, ttl: 5_000, wait: 1_500 });
      const attempts: number[] = [];
      const away = env.cluster.urls[4]!.replace("redis://", "");
      const listener = (message: unknown) => {
        const event = message as NodeErrorEvent;
        if (event.operation === "acquire" && event.node === away) attempts.push(performance.now());
      };
      try {
        await (await b.acquire(`${name}:warm-up`)).release(); // b's connections are up
        // A's lease lands on 0, 1 and 2 only: 3 and 4 are busy for a moment.
        await Promise.all([3, 4].map((i) => env.direct[i]!.set(keysOf(name).lock, "foreign", "PX", 200)));
        const first = await a.tryAcquire(name);
        assert.ok(first, "A holds 0, 1 and 2");
        await env.cluster.nodes[4]!.kill();
        await sleep(250); // 3 is free again: B gets it, A refuses B on 0 to 2, and 4 fails at once
        subscribe(CHANNELS.nodeError, listener);
        const started = performance.now();
        const releasing = sleep(1_000).then(() => first.release());
        const second = await b.acquire(name);
        const waited = performance.now() - started;
        await releasing;
        unsubscribe(CHANNELS.nodeError, listener);
        // Before the pauses grew, this was one attempt every 2 ms or so: ~500 in the second A held.
        assert.ok(attempts.length >= 5, `kept looking (${attempts.length} attempts)`);
        assert.ok(attempts.length <= 40, `${attempts.length} attempts while A held for 1 s`);
        assert.ok(waited >= 950 && waited < 1_400, `B got the lock ${Math.round(waited)} ms after it asked`);
        await second.release();
      } finally {
        unsubscribe(CHANNELS.nodeError, listener);
        await a.close();
        await b.close();
      }
    },
  );
});

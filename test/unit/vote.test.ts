// The vote's decision rules (src/quorum.ts), with nodes that answer when the test says: pure logic, no server.
// Behaviour against real nodes (timeouts, lagging nodes, undo) is in test/core and test/faults.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RedisConnection } from "../../src/clients/connection.js";
import { type Verdict, type VoteOptions, vote } from "../../src/quorum.js";

/** `n` nodes whose answers the test gives one by one with answer(i, status). */
function nodes(n: number) {
  const answers: ((v: Verdict<null>) => void)[] = [];
  const conns = Array.from({ length: n }, (_, i) => ({ label: `node${i}` }) as unknown as RedisConnection);
  const start = (options: Partial<VoteOptions> & { quorum: number }) =>
    vote<null>(
      conns,
      (_conn, _abandoned, i) =>
        new Promise<Verdict<null>>((resolve) => {
          answers[i] = resolve;
        }),
      { timeout: 60_000, ...options },
    );
  const answer = (i: number, status: "ok" | "refused") => answers[i]!({ status, value: null });
  return { start, answer };
}

/** Whether `promise` settled by the time queued microtasks and one macrotask ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("vote", () => {
  it("is decided as lost once refusals leave no quorum, without waiting for the others", async () => {
    const { start, answer } = nodes(5);
    const { result, abandon } = start({ quorum: 4 });
    answer(0, "refused");
    assert.equal(await settled(result), false, "one refusal: four may still grant");
    answer(1, "refused");
    const r = await result;
    assert.equal(r.granted, false);
    assert.deepEqual(
      r.outcomes.map((o) => o.status),
      ["refused", "refused", "pending", "pending", "pending"],
    );
    abandon();
  });

  it("with refusalsAnswer (releases), a refusal counts toward the quorum: decided once four answered", async () => {
    const { start, answer } = nodes(5);
    const { result, abandon } = start({ quorum: 4, refusalsAnswer: true });
    answer(0, "refused");
    answer(1, "refused");
    answer(2, "ok");
    assert.equal(await settled(result), false, "three answers of five, four needed");
    answer(3, "refused");
    const r = await result;
    assert.equal(r.granted, true);
    assert.deepEqual(
      r.outcomes.map((o) => o.status),
      ["refused", "refused", "ok", "refused", "pending"],
      "each node's own answer is kept",
    );
    abandon();
  });

  it("with refusalWaitsForAll (acquire attempts), a refusal waits for every node; a grant does not", async () => {
    const refused = nodes(5);
    const lost = refused.start({ quorum: 3, refusalWaitsForAll: true });
    for (const i of [0, 1, 2]) refused.answer(i, "refused");
    assert.equal(await settled(lost.result), false, "three refusals decide it, but the others are awaited");
    refused.answer(3, "ok");
    refused.answer(4, "refused");
    assert.equal((await lost.result).granted, false);

    const granted = nodes(5);
    const won = granted.start({ quorum: 3, refusalWaitsForAll: true });
    for (const i of [0, 1, 2]) granted.answer(i, "ok");
    assert.equal((await won.result).granted, true);
    won.abandon();
  });
});

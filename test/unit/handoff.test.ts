// Which hand-off messages make a lease on a quorum (src/handoff.ts), without a server: the rules that keep a
// message older than the waiter's last refusal, or from a node it did not hear refuse, from counting. That real
// nodes hand off and a waiter holds on their messages is tested against redis-server in test/waiting.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LockContext } from "../../src/context.js";
import { claimQuorumHandOff, type NodeMark, type QuorumMark } from "../../src/handoff.js";
import type { Busy } from "../../src/primitive.js";
import { monotonicNow } from "../../src/validity.js";

const TTL = 10_000;
/** The nodes' clock when they refused, µs. */
const REFUSED_AT = 5_000_000_000;
const COUNTER = 41;

function setUp(marked: readonly boolean[] = [true, true, true, true, true], quorum = 3) {
  const sessions = marked.map((_, i) => ({ session: i }));
  const ctx = {
    nodes: sessions.map((s, i) => ({ label: `node${i}`, session: () => s.session })),
    quorum,
  } as unknown as LockContext;
  const nodes: (NodeMark | undefined)[] = marked.map((m, i) =>
    m ? { serverMicros: REFUSED_AT, counter: COUNTER, session: i } : undefined,
  );
  const mark: QuorumMark = { sentAt: monotonicNow() - 5, nodes, handed: new Map() };
  const last: Busy = { kind: "busy", retryAfter: undefined, outcomes: [], mark };
  /** Node `node`'s hand-off, `afterMs` after it refused, with `fence`. */
  const claim = (node: number, fence = COUNTER + 1, afterMs = 2, kind = "h") =>
    claimQuorumHandOff(
      ctx,
      { node, text: `${kind}:tag.1:${fence}:${REFUSED_AT + afterMs * 1000}` },
      TTL,
      last,
    );
  return { claim, mark, sessions };
}

describe("a quorum's hand-offs", () => {
  it("make a lease once a quorum of nodes handed the lock, dated from the earliest, with their fence", () => {
    const { claim } = setUp();
    assert.equal(claim(0, COUNTER + 1, 3), "pending");
    assert.equal(claim(3, COUNTER + 1, 1), "pending");
    const lease = claim(4, COUNTER + 1, 2);
    assert.ok(lease && lease !== "pending");
    assert.equal(lease.fence, COUNTER + 1);
    assert.deepEqual(
      lease.outcomes.map((o) => o.status),
      ["ok", "pending", "pending", "ok", "ok"],
    );
    assert.ok(lease.start <= monotonicNow());
  });

  it("count to the primitive's quorum: a semaphore of limit 3 on five nodes needs four", () => {
    const { claim } = setUp(undefined, 4);
    for (const node of [0, 1, 2]) assert.equal(claim(node), "pending");
    const lease = claim(3);
    assert.ok(lease && lease !== "pending");
    assert.equal(lease.fence, COUNTER + 1);
  });

  it("do not count a message whose fence is not above the counter the node refused with (an older hand-off)", () => {
    const { claim, mark } = setUp();
    assert.equal(claim(0, COUNTER), undefined);
    assert.equal(claim(1, COUNTER - 5), undefined);
    assert.equal(mark.handed.size, 0);
    assert.equal(claim(0), "pending");
  });

  it("do not count a node whose refusal saw no fencing counter (the hand-off started one)", () => {
    const { claim, mark } = setUp();
    (mark.nodes as NodeMark[])[0] = { ...mark.nodes[0]!, counter: 0 };
    assert.equal(claim(0, 1_700_000_000_000_000), undefined);
    assert.equal(mark.handed.size, 0);
  });

  it("do not count a node it did not hear refuse, nor one whose connection is new since", () => {
    const { claim, mark, sessions } = setUp([true, false, true, true, true]);
    assert.equal(claim(1), undefined, "no refusal from node 1 in the last attempt");
    sessions[2]!.session = 99; // reconnected: maybe a restarted server
    assert.equal(claim(2), undefined);
    assert.equal(mark.handed.size, 0);
  });

  it("are only hand-offs: a wake-up counts for nothing", () => {
    const { claim, mark } = setUp();
    assert.equal(claim(0, COUNTER + 1, 2, "w"), undefined);
    assert.equal(mark.handed.size, 0);
  });

  it("leave the fence to an attempt when no quorum handed out the highest one", () => {
    const { claim } = setUp();
    assert.equal(claim(0, COUNTER + 1), "pending");
    assert.equal(claim(1, COUNTER + 2), "pending");
    assert.equal(claim(2, COUNTER + 1), undefined);
  });

  it("make no lease with no validity left", () => {
    const { claim } = setUp();
    // Handed a whole TTL before the refusal was read, by the node's clock (a stalled process reading late).
    assert.equal(claim(0, COUNTER + 1, -TTL), "pending");
    assert.equal(claim(1, COUNTER + 1, -TTL), "pending");
    assert.equal(claim(2, COUNTER + 1, -TTL), undefined);
  });
});

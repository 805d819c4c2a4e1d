// The CLI's pure parts: what per-node views add up to, and the demo's safety checks. No I/O.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type NodeLockState, summarise } from "../../src/admin.js";
import { check, FencedCounter, type Hold } from "../../src/cli/demo-report.js";

const held = (node: string, token: string, ttlMs: number): NodeLockState => ({
  node,
  present: true,
  token,
  ttlMs,
  fence: 5,
});
const free = (node: string): NodeLockState => ({ node, present: false });
const silent = (node: string): NodeLockState => ({ node, error: "no answer" });

describe("status: what the nodes' views add up to", () => {
  it("held when one token is on a quorum, for as long as it stays on a quorum", () => {
    const state = summarise("r", 3, [
      held("a", "T", 9_000),
      held("b", "T", 7_000),
      held("c", "T", 8_000),
      free("d"),
      silent("e"),
    ]);
    assert.equal(state.state, "held");
    assert.deepEqual(state.holder, { token: "T", nodes: 3, ttlMs: 7_000 });
    const two = summarise("r", 2, [held("a", "T", 9_000), held("b", "T", 7_000), held("c", "T", 8_000)]);
    assert.equal(two.holder?.ttlMs, 8_000, "the second longest: gone from two of three nodes after 8 s");
    assert.equal(summarise("r", 2, [held("a", "T", -1), held("b", "T", -1), free("c")]).holder?.ttlMs, -1);
  });

  it("free when no token is on a quorum and none could be on the nodes that did not answer", () => {
    assert.equal(summarise("r", 2, [held("a", "T", 5_000), free("b"), free("c")]).state, "free");
    assert.equal(summarise("r", 2, [held("a", "T", 5_000), held("b", "U", 5_000), free("c")]).state, "free");
    assert.equal(summarise("r", 2, [free("a"), free("b"), silent("c")]).state, "free");
  });

  it("unknown when the silent nodes could make up a quorum", () => {
    assert.equal(summarise("r", 2, [held("a", "T", 5_000), free("b"), silent("c")]).state, "unknown");
    assert.equal(summarise("r", 2, [free("a"), silent("b"), silent("c")]).state, "unknown");
    assert.equal(summarise("r", 1, [silent("a")]).state, "unknown");
  });

  it("reports the highest fencing counter and how many nodes answered", () => {
    const state = summarise("r", 2, [{ ...free("a"), fence: 7 }, { ...free("b"), fence: 9 }, silent("c")]);
    assert.equal(state.fence, 9);
    assert.equal(state.answered, 2);
  });
});

const hold = (start: number, end: number, fence: number, more: Partial<Hold> = {}): Hold => ({
  worker: "w",
  fence,
  waitMs: 0,
  start: BigInt(start),
  end: BigInt(end),
  valid: true,
  ...more,
});
/** A counter that accepted `writes` writes and shows `value`. */
const counterAt = (value: number, writes = value) => Object.assign(new FencedCounter(), { value, writes });

describe("demo: the safety checks", () => {
  it("a clean run is safe", () => {
    const verdict = check([hold(0, 10, 1), hold(20, 30, 2), hold(31, 40, 3)], counterAt(3));
    assert.deepEqual(verdict, { overlaps: 0, fenceInversions: 0, lostUpdates: 0, safe: true });
  });

  it("catches overlapping holders, fences out of order, and lost updates", () => {
    assert.equal(check([hold(0, 10, 1), hold(5, 15, 2)], counterAt(2)).overlaps, 1);
    assert.equal(check([hold(0, 10, 2), hold(20, 30, 1)], counterAt(2)).fenceInversions, 1);
    assert.equal(check([hold(0, 10, 1), hold(20, 30, 2)], counterAt(1, 2)).lostUpdates, 1);
    assert.equal(check([hold(0, 10, 1), hold(5, 15, 2)], counterAt(2)).safe, false);
  });

  it("a holder whose lease ran out mid-section excludes no one: its fenced write was refused", () => {
    const verdict = check([hold(0, 50, 1, { valid: false }), hold(20, 30, 2)], counterAt(1));
    assert.deepEqual(verdict, { overlaps: 0, fenceInversions: 0, lostUpdates: 0, safe: true });
  });

  it("the counter refuses a fence below the highest it has seen", () => {
    const counter = new FencedCounter();
    assert.equal(counter.admit(5), true);
    assert.equal(counter.admit(5), true, "the same holder reads, then writes");
    assert.equal(counter.admit(4), false);
    assert.equal(counter.refused, 1);
  });
});

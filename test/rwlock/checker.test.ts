// The safety checker's rules for shared holds (a read-write lock's readers), without Redis.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HoldLog } from "../harness/checker.js";

const hold = (worker: string, start: number, end: number, fence: number, shared: boolean) => ({
  worker,
  start: BigInt(start),
  end: BigInt(end),
  fence,
  shared,
});

describe("safety checker with shared holds", () => {
  it("lets readers overlap each other, but never a writer", () => {
    const log = new HoldLog();
    log.record(hold("r1", 0, 10, 1, true));
    log.record(hold("r2", 5, 15, 2, true));
    assert.deepEqual(log.overlaps(), []);
    log.record(hold("w", 12, 20, 3, false));
    assert.deepEqual(
      log.overlaps().map((o) => [o.first.worker, o.second.worker]),
      [["r2", "w"]],
    );
  });

  it("wants a writer's fence above every earlier lease, and a reader's above every earlier writer's", () => {
    const ok = new HoldLog();
    ok.record(hold("r1", 0, 10, 5, true));
    ok.record(hold("r2", 11, 12, 4, true)); // granted first, reported late: readers are not ordered
    ok.record(hold("w", 13, 20, 6, false));
    ok.record(hold("r3", 21, 22, 7, true));
    assert.deepEqual(ok.fencesIncreasing(), []);
    const writer = new HoldLog();
    writer.record(hold("r1", 0, 10, 5, true));
    writer.record(hold("w", 11, 20, 5, false));
    assert.deepEqual(
      writer.fencesIncreasing().map((v) => [v.earlier.worker, v.later.worker]),
      [["r1", "w"]],
    );
    const reader = new HoldLog();
    reader.record(hold("w", 0, 10, 5, false));
    reader.record(hold("r", 11, 20, 4, true));
    assert.throws(() => reader.assertSafe(), /1 fence\(s\) not increasing/);
  });
});

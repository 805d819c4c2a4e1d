import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { drift, expiryOf, quorumOf, validityLeft } from "../../src/validity.js";

describe("Redlock arithmetic", () => {
  it("needs a strict majority: floor(N/2)+1", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(quorumOf), [1, 2, 2, 3, 3, 4, 4]);
  });

  it("allows 1% of the TTL plus 2 ms for clock drift", () => {
    assert.equal(drift(10_000), 102);
    assert.equal(drift(100), 3);
  });

  it("computes validity as ttl − elapsed − drift from the start of the attempt", () => {
    assert.equal(validityLeft(10_000, 1_000, 1_050), 10_000 - 50 - 102);
    assert.ok(
      validityLeft(1_000, 0, 1_000 - drift(1_000)) <= 0,
      "no validity once elapsed reaches ttl − drift",
    );
    assert.ok(validityLeft(1_000, 0, 1_000 - drift(1_000) - 1) > 0);
  });

  it("puts the expiry at start + ttl − drift", () => {
    assert.equal(expiryOf(10_000, 500), 500 + 10_000 - 102);
  });
});

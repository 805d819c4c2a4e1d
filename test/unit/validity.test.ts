import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { drift, expiryOf, quorumOf, serverEventStart, validityLeft } from "../../src/validity.js";

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

  it("dates a server event no later than it can have happened on the client's clock", () => {
    // Request sent at 1 000 ms; the server ran it at 5 000 000 µs and stamped the event 2 s later by its
    // clock, which may run 1% fast: the event was at least 1 980 ms after the send.
    assert.equal(serverEventStart(1_000, 5_000_000, 7_000_000), 1_000 + 1_980);
    // An event stamped before the request ran moves back in full.
    assert.equal(serverEventStart(1_000, 5_000_000, 4_500_000), 500);
    assert.equal(serverEventStart(1_000, 5_000_000, 5_000_000), 1_000);
  });
});

// The safety checker and the protected resource live with the demo that ships them (src/cli/): the tests, the
// bench and the demo check with the same rules.
export * from "../../src/cli/checker.js";
export * from "../../src/cli/fenced-counter.js";

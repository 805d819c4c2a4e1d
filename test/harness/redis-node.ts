// The test harness's redis-server nodes are the ones `quorumlock demo` starts: one implementation.
export * from "../../src/cli/local-redis.js";

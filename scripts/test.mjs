#!/usr/bin/env node
// Runs the test files with Node's test runner (TypeScript through tsx). With no arguments: every
// test/**/*.test.ts. Files run in separate processes, one at a time: each starts its own redis-server nodes
// and worker processes, and on a 2-core machine two such files at once skew the timing-sensitive tests.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : [],
  );
}

const args = process.argv.slice(2);
const files = args.length > 0 ? args : walk("test").sort();
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=180000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);

// The published shape: `import` and `require()` of the built package both work on Node 20 and take a lock.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RedisNode, startRedis } from "./harness/redis-node.js";

const root = new URL("..", import.meta.url).pathname;
const newest = (dir: string): number =>
  Math.max(
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );

function run(args: string[], url: string): string {
  return execFileSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, URL: url },
    encoding: "utf8",
  });
}

const script = (load: string) => `${load}
const locks = new LockManager({ nodes: [process.env.URL] });
const lease = await locks.acquire("package-test");
console.log(JSON.stringify({ fence: typeof lease.fence, error: typeof LockError, lost: CHANNELS.lost }));
await lease.release();
await locks.close();`;

describe("the built package", () => {
  let node: RedisNode;
  before(async () => {
    // CI builds before testing; locally, build when dist/ is missing or older than src/.
    const built = join(root, "dist/index.cjs");
    if (!existsSync(built) || statSync(built).mtimeMs < newest(join(root, "src"))) {
      execFileSync("npx", ["tsup", "--silent"], { cwd: root, stdio: "inherit" });
    }
    node = await startRedis();
  });
  after(() => node?.stop());

  it("can be imported as ESM by its package name", { timeout: 20_000 }, () => {
    const out = run(
      ["--input-type=module", "-e", script(`import { LockManager, LockError, CHANNELS } from "quorumlock";`)],
      node.url,
    );
    assert.deepEqual(JSON.parse(out), { fence: "number", error: "function", lost: "quorumlock:lost" });
  });

  it("can be require()d from CommonJS", { timeout: 20_000 }, () => {
    const body = script(`const { LockManager, LockError, CHANNELS } = require("quorumlock");`);
    const out = run(["--input-type=commonjs", "-e", `(async () => {${body}})()`], node.url);
    assert.deepEqual(JSON.parse(out), { fence: "number", error: "function", lost: "quorumlock:lost" });
  });

  it("ships type declarations for both", () => {
    assert.ok(existsSync(join(root, "dist/index.d.ts")));
    assert.ok(existsSync(join(root, "dist/index.d.cts")));
  });
});

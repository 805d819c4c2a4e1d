import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";

const root = new URL("..", import.meta.url).pathname;

function runDemo(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; out: string; err: string; ms: number }>((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "demo", ...args], {
      cwd: root,
      env,
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => resolve({ code, out, err, ms: performance.now() - started }));
  });
}

describe("quorumlock demo (npm run demo)", () => {
  it("runs contending processes on 5 local nodes, kills one, and reports a safe run in under a minute", {
    timeout: 60_000,
  }, async () => {
    const { code, out, ms } = await runDemo(["--duration", "4s", "--processes", "2", "--workers", "3"]);
    assert.equal(code, 0, out);
    assert.match(out, /5 node\(s\), quorum 3/);
    assert.match(out, /overlapping holders\s+0/);
    assert.match(out, /fence order\s+ok/);
    assert.match(out, /lost updates: 0/);
    assert.match(out, /node killed\s+redis:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /Safe: no overlap/);
    const sections = Number(out.match(/sections done\s+(\d+)/)?.[1]);
    assert.ok(sections > 20, `only ${sections} sections`);
    assert.ok(ms < 60_000);
  });

  it("says in one line how to get redis-server when it is missing", { timeout: 20_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: "/nonexistent" };
    delete env.QUORUMLOCK_NODES;
    const { code, err } = await runDemo([], env);
    assert.equal(code, 69);
    assert.match(
      err,
      /^quorumlock: redis-server is not installed: install it \(.*apt-get install redis-server\) or pass --nodes\n$/,
    );
  });

  it("rejects a bad flag with a usage error", { timeout: 20_000 }, async () => {
    const { code, err } = await runDemo(["--duration", "soon"]);
    assert.equal(code, 64);
    assert.match(err, /--duration must be a duration such as/);
  });
});

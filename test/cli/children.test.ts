// `quorumlock run` and the processes its command starts: the command leads a process group of its own, and a
// lost lease, a signal passed on, or the command's exit stops the whole group, so nothing outlives the lock.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fresh as freshName } from "../support/names.js";
import { useNodes } from "../support/nodes.js";
import { MEDIUM as T } from "../support/timeouts.js";
import { cli, gone, ignoring, start } from "./cli.js";

describe("quorumlock run: the command's children", () => {
  let dir: string;
  let files = 0;
  const fresh = () => freshName("children");
  /** Every grandchild a test started: killed at the end whatever a failing test left behind. */
  const grandchildren: number[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "quorumlock-children-"));
  });
  after(async () => {
    for (const pid of grandchildren) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const three = useNodes(3);
  const on = () => ["--nodes", three.urls().join(",")];

  /**
   * `sh` that starts `sleep 60` in the background, prints "started" once the sleep's pid is in a file, then runs
   * `then`. --quiet: run's own line quotes the command, "started" included.
   */
  const withGrandchild = (then: string, before = "") => {
    const file = join(dir, `${++files}.pid`);
    // The sleep's output is not the test's pipe: a sleep left running must not hold it open.
    const script = `${before}sleep 60 >/dev/null 2>&1 & echo $! > ${file}; echo started; ${then}`;
    return {
      script,
      command: ["--quiet", "--", "sh", "-c", script],
      pid: () => {
        const pid = Number(readFileSync(file, "utf8"));
        grandchildren.push(pid);
        return pid;
      },
    };
  };
  const free = async (resource: string) =>
    assert.match((await cli(["status", resource, ...on()])).out, /is free/, "released, not left to expire");

  it(
    "a lost lease stops the whole group: the command's grandchild is gone when run exits 70",
    T,
    async () => {
      const resource = fresh();
      const sh = withGrandchild("wait");
      const run = start(["run", resource, ...on(), "--ttl", "1500ms", "--grace", "5s", ...sh.command]);
      await run.waitFor(/started/);
      const sleep = sh.pid();
      assert.equal((await cli(["break", resource, "--yes", ...on()])).code, 0);
      const ran = await run.done;
      assert.equal(ran.code, 70, ran.err);
      await gone(sleep, 1_000); // SIGTERM did it: SIGKILL would have come only after 5 s
    },
  );

  it("a lost lease: SIGKILL after --grace goes to the whole group too", T, async () => {
    const resource = fresh();
    // Ignored signals stay ignored across exec: neither sh nor its sleep heeds SIGTERM.
    const sh = withGrandchild("wait", "trap '' TERM; ");
    const run = start(["run", resource, ...on(), "--ttl", "1500ms", "--grace", "400ms", ...sh.command]);
    await run.waitFor(/started/);
    const sleep = sh.pid();
    assert.equal((await cli(["break", resource, "--yes", ...on()])).code, 0);
    const ran = await run.done;
    assert.equal(ran.code, 70, ran.err);
    await gone(sleep, 1_000);
  });

  it("SIGTERM to quorumlock reaches the whole group; the lock is released", T, async () => {
    const resource = fresh();
    const sh = withGrandchild("wait");
    const run = start(["run", resource, ...on(), ...sh.command]);
    await run.waitFor(/started/);
    const sleep = sh.pid();
    run.child.kill("SIGTERM");
    const ran = await run.done;
    assert.equal(ran.code, 128 + 15, ran.err);
    await gone(sleep, 1_000);
    await free(resource);
  });

  it(
    "SIGINT: what survives it (sh's background jobs ignore SIGINT) is stopped before the release",
    T,
    async () => {
      const resource = fresh();
      const sh = withGrandchild("wait");
      const run = start(["run", resource, ...on(), ...sh.command]);
      await run.waitFor(/started/);
      const sleep = sh.pid();
      await ignoring(sleep, "SIGINT"); // the test's premise; on a busy machine the fork can lag behind "started"
      run.child.kill("SIGINT");
      const ran = await run.done;
      assert.equal(ran.code, 128 + 2, ran.err);
      await gone(sleep, 1_000);
      assert.match(ran.err, /left processes running in its process group; stopping them \(SIGTERM/);
      await free(resource);
    },
  );

  it(
    "when the command exits, what it left running in its group is stopped before the release",
    T,
    async () => {
      const resource = fresh();
      const sh = withGrandchild("exit 3");
      const ran = await cli(["run", resource, ...on(), ...sh.command]);
      await gone(sh.pid(), 1_000);
      assert.equal(ran.code, 3, "the command's own exit code");
      assert.match(ran.err, /left processes running in its process group/);
      await free(resource);
    },
  );

  it(
    "runs the command in a group of its own; --foreground keeps it in quorumlock's, and leaves what it left",
    T,
    async () => {
      const groups = "echo $(ps -o pgid= -p $$) $(ps -o pgid= -p $PPID)"; // the command's, quorumlock's
      const own = await cli(["run", fresh(), ...on(), "--", "sh", "-c", groups]);
      const [command, quorumlock] = own.out.trim().split(/\s+/);
      assert.notEqual(command, quorumlock, own.out);

      const sh = withGrandchild("true");
      const fg = await cli([
        "run",
        fresh(),
        ...on(),
        "--foreground",
        "--",
        "sh",
        "-c",
        `${groups}; ${sh.script}`,
      ]);
      const sleep = sh.pid(); // killed at the end
      assert.equal(fg.code, 0, fg.err);
      const [same, also] = fg.out.trim().split(/\s+/);
      assert.equal(same, also, fg.out);
      assert.doesNotThrow(
        () => process.kill(sleep, 0),
        "--foreground leaves the command's leftovers running",
      );
    },
  );
});

// The hot path's timers (src/deadlines.ts): many deadlines behind one Node.js timer, for votes and lease expiries.
// Pure logic on real timers, no server.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { Deadlines } from "../../src/deadlines.js";
import { monotonicNow } from "../../src/validity.js";

/** Resolves once `fired` holds `count` entries, or rejects after `ms`. */
function until(fired: unknown[], count: number, ms: number): Promise<void> {
  const started = monotonicNow();
  return new Promise((resolve, reject) => {
    const look = () => {
      if (fired.length >= count) resolve();
      else if (monotonicNow() - started > ms)
        reject(new Error(`${fired.length} of ${count} fired in ${ms} ms`));
      else setTimeout(look, 2);
    };
    look();
  });
}

describe("Deadlines", () => {
  for (const afterIo of [false, true])
    it(`fires each deadline once, not before it is due, in deadline order, and none that was cancelled${afterIo ? " (after I/O)" : ""}`, async () => {
      const deadlines = new Deadlines(true, monotonicNow, afterIo);
      const now = monotonicNow();
      const fired: { id: number; at: number; late: number }[] = [];
      const entries = [];
      // Random order, ties included, so that the heap's sifting is exercised in both directions.
      for (let id = 0; id < 200; id++) {
        const at = now + 5 + Math.floor(Math.random() * 60);
        entries.push({
          id,
          entry: deadlines.add(at, () => fired.push({ id, at, late: monotonicNow() - at })),
        });
      }
      const cancelled = new Set<number>();
      for (const { id, entry } of entries) {
        if (Math.random() < 0.5) {
          deadlines.cancel(entry);
          deadlines.cancel(entry); // twice is harmless
          cancelled.add(id);
        }
      }
      assert.equal(deadlines.size, 200 - cancelled.size);
      await until(fired, 200 - cancelled.size, 2_000);
      await new Promise((resolve) => setTimeout(resolve, 80));
      assert.equal(fired.length, 200 - cancelled.size, "a cancelled deadline fired, or one fired twice");
      assert.deepEqual(new Set(fired.map((f) => f.id)).size, fired.length);
      for (const f of fired) {
        assert.ok(!cancelled.has(f.id), `deadline ${f.id} fired after it was cancelled`);
        assert.ok(f.late >= 0, `deadline ${f.id} fired ${-f.late} ms early`);
      }
      for (let i = 1; i < fired.length; i++)
        assert.ok(fired[i]!.at >= fired[i - 1]!.at, "out of deadline order");
      assert.equal(deadlines.size, 0);
    });

  it("fires a deadline added earlier than the one the timer is armed for on time", async () => {
    const deadlines = new Deadlines(false, monotonicNow);
    const fired: string[] = [];
    const late = deadlines.add(monotonicNow() + 10_000, () => fired.push("late"));
    const started = monotonicNow();
    deadlines.add(monotonicNow() + 20, () => fired.push("soon"));
    await until(fired, 1, 1_000);
    assert.deepEqual(fired, ["soon"]);
    assert.ok(monotonicNow() - started < 500);
    deadlines.cancel(late);
    assert.equal(deadlines.size, 0);
  });

  it("lets a deadline added from a firing one fire too", async () => {
    const deadlines = new Deadlines(true, monotonicNow);
    const fired: string[] = [];
    deadlines.add(monotonicNow() + 5, () => {
      fired.push("first");
      deadlines.add(monotonicNow() + 5, () => fired.push("second"));
    });
    await until(fired, 2, 1_000);
    assert.deepEqual(fired, ["first", "second"]);
  });

  it("holds the process open while a keep-alive deadline is pending, and never otherwise", () => {
    // A child process: whether it exits by itself is what is being tested.
    const run = (keepAlive: boolean, cancel: boolean) =>
      spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "-e",
          `import("${new URL("../../src/deadlines.ts", import.meta.url).pathname}").then(({ Deadlines }) => {
             const d = new Deadlines(${keepAlive}, () => performance.now());
             const e = d.add(performance.now() + 300, () => console.log("fired"));
             ${cancel ? "d.cancel(e);" : ""}
           });`,
        ],
        { encoding: "utf8", timeout: 10_000 },
      );
    assert.equal(
      run(true, false).stdout.trim(),
      "fired",
      "a pending vote's deadline must keep the process alive",
    );
    assert.equal(run(false, false).stdout.trim(), "", "a lease's expiry must not keep the process alive");
    const cancelled = run(true, true);
    assert.equal(cancelled.status, 0);
    assert.equal(
      cancelled.stdout.trim(),
      "",
      "a cancelled deadline must neither fire nor keep the process alive",
    );
  });
});

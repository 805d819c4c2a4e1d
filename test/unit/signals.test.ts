// A call's cancellation (src/signals.ts): what the driver, the vote and the waits listen to instead of an
// AbortSignal per call. Pure logic, no server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Cancel, pause, SignalFanout } from "../../src/signals.js";

describe("Cancel", () => {
  it("calls each listener still registered once, with the reason set, and none added later", () => {
    const cancel = new Cancel();
    const calls: string[] = [];
    cancel.onAbort(() => calls.push(`a:${String(cancel.reason)}`));
    const off = cancel.onAbort(() => calls.push("removed"));
    cancel.onAbort(() => calls.push(`c:${cancel.aborted}`));
    off();
    off(); // twice is harmless
    cancel.abort("why");
    cancel.abort("again");
    assert.deepEqual(calls, ["a:why", "c:true"]);
    assert.equal(cancel.reason, "why");
    cancel.onAbort(() => calls.push("late"))();
    assert.equal(calls.length, 2);
  });

  it("pause resolves after its time, and rejects with the reason when aborted first or already", async () => {
    const cancel = new Cancel();
    await pause(1, cancel);
    await pause(-5, undefined);
    const waiting = pause(10_000, cancel);
    cancel.abort(new Error("stop"));
    await assert.rejects(waiting, /stop/);
    await assert.rejects(pause(1, cancel), /stop/);
  });

  it("pause ends early when woken, and a wake-up after it ended changes nothing", async () => {
    const cancel = new Cancel();
    let wake: (() => void) | undefined;
    const started = performance.now();
    const waiting = pause(10_000, cancel, (w) => {
      wake = w;
    });
    wake!();
    await waiting;
    assert.ok(performance.now() - started < 1_000);
    wake!();
    cancel.abort(new Error("later"));
  });

  it("SignalFanout: one listener per caller signal aborts every linked call, and unlinking removes it", () => {
    const fanout = new SignalFanout();
    const controller = new AbortController();
    const [a, b, c] = [new Cancel(), new Cancel(), new Cancel()];
    fanout.link(controller.signal, a);
    const unlinkB = fanout.link(controller.signal, b);
    unlinkB();
    controller.abort(new Error("caller"));
    assert.equal(a.aborted, true);
    assert.match(String(a.reason), /caller/);
    assert.equal(b.aborted, false, "unlinked");
    fanout.link(controller.signal, c);
    assert.equal(c.aborted, true, "a signal aborted already aborts at once");
  });
});

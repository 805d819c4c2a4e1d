// What the quorum hand-off tests (test/waiting/handoff.test.ts for the lock, test/semaphore/handoff.test.ts for
// permits) share: an old hand-off message makes no lease.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lease } from "../../src/index.js";
import type { inspector } from "./adapters.js";

/** A lease held on every node, and a waiter `id` of another manager queued behind it there. */
export interface QueuedBehind {
  readonly admins: readonly ReturnType<typeof inspector>[];
  readonly held: Lease;
  readonly waiting: Promise<Lease>;
  settled(): boolean;
}

/**
 * Publishes, on every node, what that node would have published for a hand-off to waiter `id` made before the
 * waiter's last refusal there (one that an undo of its own took back, read late): a fence no higher than the
 * node's counter now, on the primitive's `channel`. Checks that the waiter takes none of it for a lease, and still
 * gets the next one, with a higher fence, once the holder releases.
 */
export async function staleHandOffsMakeNoLease(
  q: QueuedBehind,
  channel: string,
  fenceKey: string,
  id: string,
): Promise<void> {
  const own = `${channel}:${id.split(".")[0]}`;
  for (const admin of q.admins) {
    const [seconds = 0, micros = 0] = (await admin.time()).map(Number);
    const fence = await admin.get(fenceKey);
    const heard = await admin.publish(own, `h:${id}:${fence}:${seconds * 1_000_000 + micros}`);
    assert.equal(heard, 1, "the waiter's manager listens");
  }
  await sleep(200);
  assert.equal(q.settled(), false, "the waiter did not take the stale hand-offs for a lease");
  await q.held.release();
  const lease = await q.waiting;
  assert.ok(lease.fence! > q.held.fence!);
  await lease.release();
}

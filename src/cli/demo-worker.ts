// One demo process (the hidden `__demo-worker` command). Once the parent says go, WORKERS loops of the shared
// contention driver take the lock, do a fenced read-modify-write on the counter that lives in the parent,
// release, work a little outside the lock, and go again until the deadline.
import { type Lease, LockManager } from "../index.js";
import { codeOf, contend, deadline, type HoldMessage, holdMessage } from "./contention.js";

/** Parent → worker. */
export type ToWorker =
  | { type: "go"; durationMs: number }
  | { type: "reply"; id: number; ok: boolean; value: number };
/** Worker → parent. */
export type FromWorker =
  | { type: "ready" }
  | { type: "read" | "write"; id: number; fence: number; value?: number }
  | HoldMessage
  | { type: "error"; code: string }
  | { type: "done" };

const send = (message: FromWorker) => process.send?.(message);

export async function demoWorker(): Promise<number> {
  // The parent is gone (killed, or interrupted): nobody is counting any more.
  process.on("disconnect", () => process.exit(0));
  const nodes = JSON.parse(process.env.QL_DEMO_NODES ?? "[]") as string[];
  const resource = process.env.QL_DEMO_RESOURCE ?? "demo";
  const workers = Number(process.env.QL_DEMO_WORKERS ?? 4);
  const counter = new CounterClient();
  const go = new Promise<number>((resolve) =>
    process.on("message", (m: ToWorker) => {
      if (m.type === "go") resolve(m.durationMs);
      else counter.answer(m);
    }),
  );
  // Short TTL and node timeout, so that the node killed part way costs little; 5 s to wait for a turn.
  const locks = new LockManager({ nodes, ttl: 2_000, wait: 5_000, nodeTimeout: 200 });
  send({ type: "ready" });
  const until = deadline(await go);
  await contend<Lease>(
    {
      take: () => locks.acquire(resource),
      hold: (lease) => counter.increment(lease.fence!),
      // A node down during release: the key expires by itself.
      release: (lease) => lease.release().catch(() => {}),
      held: (lease, w, asked, start, end) =>
        send(
          holdMessage({
            worker: `${process.pid}/${w}`,
            fence: lease.fence!,
            asked,
            start,
            end,
            valid: lease.valid,
          }),
        ),
      failed: (error) => send({ type: "error", code: codeOf(error) }),
    },
    { workers, until, outsideMs: 1 },
  );
  await locks.close();
  send({ type: "done" });
  process.disconnect();
  return 0;
}

/** Requests to the parent's counter over IPC, matched to their replies by id. */
class CounterClient {
  readonly #pending = new Map<number, (reply: { ok: boolean; value: number }) => void>();
  #nextId = 0;

  /** The critical section: read the counter and write it back plus one, both with the lease's fence. */
  async increment(fence: number): Promise<void> {
    const read = await this.#call("read", fence);
    if (read.ok) await this.#call("write", fence, read.value + 1); // refused too if a newer fence came between
  }

  #call(type: "read" | "write", fence: number, value?: number): Promise<{ ok: boolean; value: number }> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      send({ type, id, fence, ...(value === undefined ? {} : { value }) });
    });
  }

  answer(reply: Extract<ToWorker, { type: "reply" }>): void {
    this.#pending.get(reply.id)?.(reply);
    this.#pending.delete(reply.id);
  }
}

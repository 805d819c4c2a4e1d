// One demo process (the hidden `__demo-worker` command). Once the parent says go, WORKERS async loops take the
// lock, do a fenced read-modify-write on the counter that lives in the parent, release, work a little outside
// the lock, and go again until the deadline.
import { setTimeout as sleep } from "node:timers/promises";
import { type Lease, LockManager } from "../index.js";

/** Parent → worker. */
export type ToWorker =
  | { type: "go"; durationMs: number }
  | { type: "reply"; id: number; ok: boolean; value: number };
/** Worker → parent. */
export type FromWorker =
  | { type: "ready" }
  | { type: "read" | "write"; id: number; fence: number; value?: number }
  | {
      type: "hold";
      worker: string;
      fence: number;
      waitMs: number;
      start: string;
      end: string;
      valid: boolean;
    }
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
  const until = performance.now() + (await go);
  await Promise.all(
    Array.from({ length: workers }, (_, w) => loop(locks, resource, `${process.pid}/${w}`, counter, until)),
  );
  await locks.close();
  send({ type: "done" });
  process.disconnect();
  return 0;
}

async function loop(
  locks: LockManager,
  resource: string,
  worker: string,
  counter: CounterClient,
  until: number,
) {
  while (performance.now() < until) {
    const asked = performance.now();
    try {
      const lease = await locks.acquire(resource);
      const waitMs = performance.now() - asked;
      await section(lease, worker, waitMs, counter);
      await lease.release().catch(() => {}); // a node down during release: the key expires by itself
    } catch (error) {
      send({ type: "error", code: (error as { code?: string }).code ?? String(error) });
    }
    await sleep(1); // work outside the lock
  }
}

/** The critical section: read the counter and write it back plus one, both with the lease's fence. */
async function section(lease: Lease, worker: string, waitMs: number, counter: CounterClient) {
  const fence = lease.fence!;
  const start = process.hrtime.bigint();
  const read = await counter.call("read", fence);
  if (read.ok) await counter.call("write", fence, read.value + 1); // refused too if a newer fence came between
  const end = process.hrtime.bigint();
  const valid = lease.valid;
  send({ type: "hold", worker, fence, waitMs, start: `${start}`, end: `${end}`, valid });
}

/** Requests to the parent's counter over IPC, matched to their replies by id. */
class CounterClient {
  readonly #pending = new Map<number, (reply: { ok: boolean; value: number }) => void>();
  #nextId = 0;

  call(type: "read" | "write", fence: number, value?: number): Promise<{ ok: boolean; value: number }> {
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

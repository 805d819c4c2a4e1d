// One demo process (the hidden `__demo-worker` command): WORKERS async loops take the lock, do a fenced
// read-modify-write on the counter that lives in the parent, release, work a little outside the lock, and go
// again until the deadline.
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager } from "../index.js";

type Reply = { id: number; ok: boolean; value?: number };

export async function demoWorker(): Promise<number> {
  const nodes = JSON.parse(process.env.QL_DEMO_NODES ?? "[]") as string[];
  const resource = process.env.QL_DEMO_RESOURCE ?? "demo";
  const workers = Number(process.env.QL_DEMO_WORKERS ?? 4);
  const until = performance.now() + Number(process.env.QL_DEMO_DURATION_MS ?? 10_000);

  const pending = new Map<number, (reply: Reply) => void>();
  let nextId = 0;
  process.on("message", (reply: Reply) => pending.get(reply.id)?.(reply));
  // The counter refuses reads and writes with a fence below the highest it has seen.
  const counter = (op: "read" | "write", fence: number, value?: number) =>
    new Promise<Reply>((resolve) => {
      const id = nextId++;
      pending.set(id, (reply) => {
        pending.delete(id);
        resolve(reply);
      });
      process.send?.({ type: op, id, fence, value });
    });

  const locks = new LockManager({ nodes, ttl: 2_000, wait: 5_000, nodeTimeout: 200 });
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < until) {
        const asked = performance.now();
        try {
          const lease = await locks.acquire(resource);
          const waitMs = performance.now() - asked;
          const start = process.hrtime.bigint();
          const read = await counter("read", lease.fence!);
          if (read.ok) await counter("write", lease.fence!, read.value! + 1);
          const end = process.hrtime.bigint();
          const worker = `${process.pid}/${w}`;
          process.send?.({
            type: "hold",
            worker,
            fence: lease.fence,
            waitMs,
            start: `${start}`,
            end: `${end}`,
          });
          await lease.release().catch(() => {}); // a node down during release: the key expires by itself
        } catch (error) {
          process.send?.({ type: "error", code: (error as { code?: string }).code ?? String(error) });
        }
        await sleep(1); // work outside the lock
      }
    }),
  );
  await locks.close();
  process.send?.({ type: "done" });
  process.disconnect();
  return 0;
}

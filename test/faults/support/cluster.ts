// Lock clients for the fault tests: in worker processes (fixtures/client.ts) on a cluster from
// test/support/nodes.ts, or in the test process with their script calls watched; and what they report.
import { LockManager, type LockManagerOptions } from "../../../src/index.js";
import type { HoldLog } from "../../harness/checker.js";
import { spawnWorker, type WorkerProcess } from "../../harness/workers.js";
import type { Cluster } from "../../support/nodes.js";
import type { ClientConfig, ClientOptions, Done, Hold } from "../fixtures/client.js";
import type { ProtectedResource } from "./resource.js";
import { type SpiedNodes, spiedNodes } from "./spy.js";

const CLIENT = new URL("../fixtures/client.ts", import.meta.url).pathname;

/** Starts a lock client process on `cluster`; its holds reach the shared resource through `resource`. */
export function spawnClient(
  cluster: Pick<Cluster, "urls" | "direct">,
  config: Omit<ClientConfig, "nodes" | "direct">,
  resource?: ProtectedResource,
): WorkerProcess {
  const full: ClientConfig = { nodes: cluster.urls, direct: cluster.direct, ...config };
  const worker = spawnWorker(CLIENT, [], { FAULT_CLIENT: JSON.stringify(full) });
  if (resource) void resource.serve(worker);
  return worker;
}

/** `processes` client processes, two contending loops each, on `name` for `durationMs`. */
export function spawnContenders(
  cluster: Pick<Cluster, "urls" | "direct">,
  resource: ProtectedResource,
  run: { name: string; processes: number; durationMs: number; options: ClientOptions },
): WorkerProcess[] {
  const { name, processes, durationMs, options } = run;
  return Array.from({ length: processes }, () =>
    spawnClient(cluster, { mode: "contend", resource: name, workers: 2, durationMs, ...options }, resource),
  );
}

export const isHold = (m: unknown): m is Hold => (m as Hold | null)?.type === "hold";
export const isDone = (m: unknown): m is Done => (m as Done | null)?.type === "done";

/** Holds reported by `workers` so far, into `log`. */
export function recordHolds(workers: readonly WorkerProcess[], log: HoldLog): void {
  for (const worker of workers) {
    for (const m of worker.received) {
      if (isHold(m))
        log.record({ worker: m.worker, fence: m.fence, start: BigInt(m.start), end: BigInt(m.end) });
    }
  }
}

/** Waits for every contending worker's summary, then records all holds in `log`. */
export async function finish(
  workers: readonly WorkerProcess[],
  log: HoldLog,
  timeoutMs = 60_000,
): Promise<Done[]> {
  const done = await Promise.all(workers.map((w) => w.waitFor(isDone, timeoutMs)));
  recordHolds(workers, log);
  return done;
}

/** Sections reported by `workers` so far. */
export function progress(workers: readonly WorkerProcess[]): number {
  return workers.reduce((n, w) => n + w.received.filter(isHold).length, 0);
}

/** The combined summary: every error count, slow call and stray key of all workers. */
export function merged(done: readonly Done[]): Omit<Done, "type"> {
  const errors: Record<string, number> = {};
  for (const d of done)
    for (const [code, n] of Object.entries(d.errors)) errors[code] = (errors[code] ?? 0) + n;
  return {
    sections: done.reduce((n, d) => n + d.sections, 0),
    errors,
    slow: done.flatMap((d) => d.slow),
    strays: done.flatMap((d) => d.strays),
  };
}

/** A manager in the test process whose script calls are watched (see spy.ts); `close` closes both. */
export function spiedManager(
  urls: readonly string[],
  options: Omit<LockManagerOptions, "nodes">,
): { locks: LockManager; spy: SpiedNodes; close(): Promise<void> } {
  const spy = spiedNodes(urls);
  const locks = new LockManager({ nodes: spy.clients, ...options });
  return {
    locks,
    spy,
    async close() {
      await locks.close();
      spy.close();
    },
  };
}

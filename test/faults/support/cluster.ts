// What every fault test file starts from: five redis-server nodes (optionally behind fault proxies), old enough
// to vote under the restart quarantine, and lock clients in worker processes.
import { setTimeout as sleep } from "node:timers/promises";
import { LockManager, type LockManagerOptions } from "../../../src/index.js";
import type { HoldLog } from "../../harness/checker.js";
import { type FaultProxy, startProxy } from "../../harness/proxy.js";
import { type RedisNodes, startRedisNodes } from "../../harness/redis-node.js";
import { spawnWorker, type WorkerProcess } from "../../harness/workers.js";
import type { ClientConfig, Done, Hold } from "../fixtures/client.js";
import type { ProtectedResource } from "./resource.js";
import { type SpiedNodes, spiedNodes } from "./spy.js";

const CLIENT = new URL("../fixtures/client.ts", import.meta.url).pathname;

/**
 * The longest a node can stay quarantined after its server started: the quarantine, its drift allowance, and up
 * to 2 s more because INFO reports whole seconds of uptime (see src/quarantine.ts).
 */
export function quarantineOf(quarantine: number): number {
  return quarantine + 2_000 + Math.ceil(quarantine * 0.01 + 2) + 50;
}

export interface Cluster extends AsyncDisposable {
  readonly nodes: RedisNodes;
  /** One proxy per node, when asked for. */
  readonly proxies: readonly FaultProxy[];
  /** Direct URLs of the nodes. */
  readonly direct: string[];
  /** What clients connect to: the proxies' URLs if there are proxies, else the nodes'. */
  readonly urls: string[];
  /** Restarts these nodes (by index) empty, and remembers when, for {@link aged}. */
  restart(...indices: number[]): Promise<void>;
  /**
   * Resolves once every node has been up long enough for a quarantine of `quarantine` ms to let it vote, in the
   * eyes of any client, even one that connects only now.
   */
  aged(quarantine: number): Promise<void>;
}

export async function startCluster(options: { nodes?: number; proxies?: boolean } = {}): Promise<Cluster> {
  const nodes = await startRedisNodes(options.nodes ?? 5);
  let started = performance.now();
  const proxies = options.proxies ? await Promise.all(nodes.map((node) => startProxy(node))) : [];
  const stop = async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await nodes.stopAll();
  };
  return {
    nodes,
    proxies,
    direct: nodes.urls(),
    urls: proxies.length > 0 ? proxies.map((p) => p.url) : nodes.urls(),
    async restart(...indices) {
      await Promise.all(indices.map((i) => nodes[i]!.restart()));
      started = performance.now();
    },
    aged: (quarantine) => sleep(Math.max(0, started + quarantineOf(quarantine) - performance.now())),
    [Symbol.asyncDispose]: stop,
  };
}

/** Starts a lock client process; its holds reach the shared resource through `resource`. */
export function spawnClient(config: ClientConfig, resource?: ProtectedResource): WorkerProcess {
  const worker = spawnWorker(CLIENT, [], { FAULT_CLIENT: JSON.stringify(config) });
  if (resource) void resource.serve(worker);
  return worker;
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

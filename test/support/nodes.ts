// Per-file node setup: redis-server nodes started before a suite and stopped after it, optionally behind fault
// proxies and old enough to vote under the restart quarantine.
import { after, before } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { type FaultProxy, startProxy } from "../harness/proxy.js";
import { type RedisNodes, type StartRedisOptions, startRedisNodes } from "../harness/redis-node.js";
import { inspectors } from "./adapters.js";

/** Started in `before`, stopped in `after`: reading it before the suite runs is a mistake in the test. */
function started<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("the suite's nodes start in before()");
  return value;
}

export interface TestNodes {
  readonly nodes: RedisNodes;
  urls(): string[];
}

/** `count` nodes for the enclosing suite (or file). */
export function useNodes(count: number, options: StartRedisOptions = {}): TestNodes {
  let nodes: RedisNodes | undefined;
  before(async () => {
    nodes = await startRedisNodes(count, options);
  });
  after(() => nodes?.stopAll());
  return {
    get nodes() {
      return started(nodes);
    },
    urls: () => started(nodes).urls(),
  };
}

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

export interface ClusterOptions {
  /** 5 unless given. */
  readonly nodes?: number;
  readonly proxies?: boolean;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
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

/**
 * A cluster for the enclosing suite, aged for a quarantine of `aged` ms (if given) before the first test, with a plain
 * connection to each node (`direct`, not through the proxies) for looking at keys from the outside.
 */
export function useCluster(options: ClusterOptions & { readonly aged?: number }): {
  readonly cluster: Cluster;
  readonly direct: Redis[];
} {
  let cluster: Cluster | undefined;
  let direct: Redis[] | undefined;
  before(async () => {
    cluster = await startCluster(options);
    direct = inspectors(cluster.direct);
    if (options.aged !== undefined) await cluster.aged(options.aged);
  });
  after(async () => {
    for (const d of direct ?? []) d.disconnect();
    await cluster?.[Symbol.asyncDispose]();
  });
  return {
    get cluster() {
      return started(cluster);
    },
    get direct() {
      return started(direct);
    },
  };
}

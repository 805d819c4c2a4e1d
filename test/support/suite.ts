// The setup every behaviour suite shares: its own redis-server nodes for the suite, and managers on them over
// the suite's client adapter, all closed after the suite.
import { after, before } from "node:test";
import { LockManager, type LockManagerOptions } from "../../src/index.js";
import { type RedisNodes, startRedisNodes } from "../harness/redis-node.js";
import type { Adapter } from "./adapters.js";

export interface SuiteNodes {
  /** The suite's nodes (started in `before`). */
  readonly nodes: RedisNodes;
  readonly urls: string[];
  /** A manager on the suite's nodes over the suite's adapter, closed after the suite. */
  manager(options?: Omit<LockManagerOptions, "nodes">): Promise<LockManager>;
}

export function suiteNodes(
  adapter: Adapter,
  count: number,
  defaults: Omit<LockManagerOptions, "nodes"> = {},
): SuiteNodes {
  let started: RedisNodes | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    started = await startRedisNodes(count);
  });
  after(async () => {
    await Promise.allSettled(cleanups.map((c) => c()));
    await started?.stopAll();
  });
  const nodes = (): RedisNodes => {
    if (!started) throw new Error("the suite's nodes start in before()");
    return started;
  };
  return {
    get nodes() {
      return nodes();
    },
    get urls() {
      return nodes().urls();
    },
    async manager(options = {}) {
      const { specs, cleanup } = await adapter.connect(nodes().urls());
      const locks = new LockManager({ nodes: specs, ...defaults, ...options });
      cleanups.push(async () => {
        await locks.close();
        await cleanup();
      });
      return locks;
    },
  };
}

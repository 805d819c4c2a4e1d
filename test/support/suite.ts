// The setup every behaviour suite shares: its own redis-server nodes for the suite, and managers on them over
// the suite's client adapter, all closed after the suite.
import { after } from "node:test";
import { LockManager, type LockManagerOptions } from "../../src/index.js";
import type { RedisNodes } from "../harness/redis-node.js";
import type { Adapter } from "./adapters.js";
import { useNodes } from "./nodes.js";

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
  const cleanups: (() => Promise<void>)[] = [];
  // Registered before the nodes' own after(), so it runs first: managers close while their nodes are up.
  after(async () => {
    await Promise.allSettled(cleanups.map((c) => c()));
  });
  const env = useNodes(count);
  return {
    get nodes() {
      return env.nodes;
    },
    get urls() {
      return env.nodes.urls();
    },
    async manager(options = {}) {
      const { specs, cleanup } = await adapter.connect(env.nodes.urls());
      const locks = new LockManager({ nodes: specs, ...defaults, ...options });
      cleanups.push(async () => {
        await locks.close();
        await cleanup();
      });
      return locks;
    },
  };
}

// The same behaviour suites run against each client adapter: ioredis connections the manager opens from
// URLs, and node-redis clients injected ready-made.
import { Redis } from "ioredis";
import { createClient } from "redis";
import type { NodeSpec } from "../../src/index.js";

export interface Adapter {
  readonly name: string;
  /** Node specs for the manager, and a cleanup for whatever the test itself opened. */
  connect(urls: readonly string[]): Promise<{ specs: NodeSpec[]; cleanup(): Promise<void> }>;
}

export const ioredisAdapter: Adapter = {
  name: "ioredis",
  async connect(urls) {
    return { specs: [...urls], cleanup: async () => {} };
  },
};

export const nodeRedisAdapter: Adapter = {
  name: "node-redis",
  async connect(urls) {
    const clients = urls.map((url) =>
      createClient({ url, socket: { reconnectStrategy: (retries: number) => Math.min(50 * retries, 500) } }),
    );
    for (const client of clients) client.on("error", () => {});
    await Promise.all(clients.map((client) => client.connect()));
    return {
      specs: clients as unknown as NodeSpec[],
      cleanup: async () => {
        for (const client of clients) client.destroy();
      },
    };
  },
};

export const adapters: readonly Adapter[] = [ioredisAdapter, nodeRedisAdapter];

/** A plain connection for looking at a node from the outside (what keys exist, SCRIPT FLUSH, …). */
export function inspector(url: string): Redis {
  // A short disconnectTimeout: ioredis keeps a timer until the socket closes, which tests count as a leak.
  const client = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true, disconnectTimeout: 20 });
  client.on("error", () => {});
  return client;
}

/** Connected plain connections straight to the nodes (not through any proxy), for looking at keys from the outside. */
export function inspectors(urls: readonly string[]): Redis[] {
  return urls.map((url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 0, disconnectTimeout: 20 });
    client.on("error", () => {});
    return client;
  });
}

/** Runs `fn` with an inspector per node and disconnects them afterwards. */
export async function inspect<T>(urls: readonly string[], fn: (nodes: Redis[]) => Promise<T>): Promise<T> {
  const nodes = urls.map(inspector);
  try {
    return await fn(nodes);
  } finally {
    for (const node of nodes) node.disconnect();
  }
}

/** Values of `key` on every node that answers (`undefined` for nodes that do not). */
export async function valuesOn(urls: readonly string[], key: string): Promise<(string | null | undefined)[]> {
  return inspect(urls, (nodes) =>
    Promise.all(
      nodes.map((node) =>
        Promise.race([
          node.get(key).catch(() => undefined),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300).unref()),
        ]),
      ),
    ),
  );
}

/** Resolves with the signal's reason once it aborts — at once if it already has. */
export function whenAborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true }),
  );
}

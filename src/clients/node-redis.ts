import type { RedisConnection } from "./connection.js";

/**
 * The part of a node-redis (`redis` package) client that quorumlock uses. Typed by shape so that the
 * library does not need `redis` installed unless you pass such a client.
 */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: { url?: string; socket?: { host?: string; port?: number; path?: string } };
}

/** Adapter for an injected node-redis client (never closed by quorumlock). */
export class NodeRedisConnection implements RedisConnection {
  readonly label: string;

  constructor(readonly client: NodeRedisClient) {
    const { url, socket } = client.options ?? {};
    this.label =
      socket?.path ??
      (socket?.host ? `${socket.host}:${socket.port ?? 6379}` : url ? hostOf(url) : "node-redis");
  }

  send(args: readonly (string | number)[]): Promise<unknown> {
    // A disconnected client would queue the command until it reconnects; a lock vote cannot use that answer.
    if (!this.client.isReady) return Promise.reject(new Error(`${this.label} is not connected`));
    return this.client.sendCommand(args.map(String));
  }

  async close(): Promise<void> {}
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export function isNodeRedis(value: unknown): value is NodeRedisClient {
  const v = value as Partial<NodeRedisClient> | null;
  return typeof v === "object" && v !== null && typeof v.sendCommand === "function" && "isOpen" in v;
}

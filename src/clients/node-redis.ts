import {
  oneAtATime,
  type RedisConnection,
  redactedAs,
  type Subscriber,
  type SubscriberEvents,
} from "./connection.js";

/**
 * The part of a node-redis (`redis` package) client that quorumlock uses. Typed by shape so that the
 * library does not need `redis` installed unless you pass such a client.
 */
export interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options?: { url?: string; socket?: { host?: string; port?: number; path?: string } };
  duplicate(): NodeRedisSubscriberClient;
  /** node-redis emits "ready" in the same step as `isReady` turns true, after every (re)connect. */
  on?(event: "ready", listener: () => void): unknown;
  off?(event: "ready", listener: () => void): unknown;
}

/** The part of a duplicated node-redis client used for pub/sub. */
export interface NodeRedisSubscriberClient {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  on(event: "error" | "ready", listener: (...args: unknown[]) => void): unknown;
  destroy(): void;
}

/**
 * Connections counted per client by one "ready" listener, however many managers share the client: a listener
 * per manager would trip Node's MaxListenersExceededWarning from the 11th on. The last manager to close
 * removes it, so the client is left as it was found.
 */
const readiness = new WeakMap<NodeRedisClient, { sessions: number; users: number; onReady(): void }>();

/**
 * Adapter for an injected node-redis client, never closed by quorumlock. Its commands are sent on the client
 * itself: node-redis rejects the commands waiting for a reply when the socket drops instead of resending
 * them, so a lock command cannot reach the node after the vote gave up on it (test/clients/no-replay.test.ts).
 */
export class NodeRedisConnection implements RedisConnection {
  readonly label: string;
  #watching = false;

  constructor(readonly client: NodeRedisClient) {
    const { url, socket } = client.options ?? {};
    this.label =
      socket?.path ??
      (socket?.host ? `${socket.host}:${socket.port ?? 6379}` : url ? hostOf(url) : "node-redis");
  }

  session(): unknown {
    // Counted from the first call on (the restart quarantine and runScript ask: a new session may be a new server).
    let shared = readiness.get(this.client);
    if (!this.#watching) {
      this.#watching = true;
      if (shared === undefined) {
        const created = {
          sessions: 0,
          users: 0,
          onReady: () => {
            created.sessions++;
          },
        };
        this.client.on?.("ready", created.onReady);
        readiness.set(this.client, created);
        shared = created;
      }
      shared.users++;
    }
    return shared?.sessions;
  }

  send(args: readonly (string | number)[]): Promise<unknown> {
    // A disconnected client would queue the command until it reconnects; a lock vote cannot use that answer.
    if (!this.client.isReady) return Promise.reject(new Error(`${this.label} is not connected`));
    return this.client.sendCommand(args.map(String)).catch(redactedAs(...args));
  }

  subscriber(events: SubscriberEvents): Subscriber {
    const sub = this.client.duplicate();
    let connected = false;
    sub.on("error", () => {});
    sub.on("ready", () => {
      if (connected) events.reconnected();
      connected = true;
    });
    // node-redis needs connect() before anything; later calls wait for it (or fail with it).
    const ready = sub.connect();
    ready.catch(() => {});
    const listener = (payload: string, channel: string) => events.message(channel, payload);
    const serial = oneAtATime(ready);
    return {
      subscribe: (channel) => serial(() => sub.subscribe(channel, listener).catch(redactedAs(channel))),
      unsubscribe: (channel) => serial(() => sub.unsubscribe(channel, listener).catch(redactedAs(channel))),
      close: async () => sub.destroy(),
    };
  }

  async close(): Promise<void> {
    const shared = readiness.get(this.client);
    if (!this.#watching || shared === undefined) return;
    this.#watching = false;
    if (--shared.users > 0) return;
    this.client.off?.("ready", shared.onReady);
    readiness.delete(this.client);
  }
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

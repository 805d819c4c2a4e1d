import { Redis, type RedisOptions } from "ioredis";
import { oneAtATime, type RedisConnection, type Subscriber, type SubscriberEvents } from "./connection.js";

/** Options the manager sets on connections it opens itself (injected clients keep their own). */
const OWNED_DEFAULTS: RedisOptions = {
  // Commands to a node that is down fail at the first failed reconnect instead of queueing: a lock
  // attempt would give up on that node anyway, and a stale acquire replayed later only delays others.
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  connectTimeout: 2000,
};

/** Adapter for an ioredis client. */
export class IORedisConnection implements RedisConnection {
  readonly label: string;
  #wasReady = false;

  constructor(
    readonly client: Redis,
    private readonly owned: boolean,
  ) {
    const { host, port, path } = client.options;
    this.label = path ?? `${host ?? "127.0.0.1"}:${port ?? 6379}`;
    this.#wasReady = client.status === "ready";
    client.on("ready", () => {
      this.#wasReady = true;
    });
  }

  /** Opens a connection from a `redis://` / `rediss://` URL or an ioredis options object. */
  static open(target: string | RedisOptions): IORedisConnection {
    const client =
      typeof target === "string"
        ? new Redis(target, OWNED_DEFAULTS)
        : new Redis({ ...OWNED_DEFAULTS, ...target });
    // Connection errors surface on the commands that fail; without a listener ioredis would print them.
    client.on("error", () => {});
    return new IORedisConnection(client, true);
  }

  send(args: readonly (string | number)[]): Promise<unknown> {
    // Before the first connection, commands queue until it is up (bounded by the caller's timeout). Once a
    // connection that was up has dropped, fail at once: queueing only makes every vote wait for a dead node.
    if (this.#wasReady && this.client.status !== "ready") {
      return Promise.reject(new Error(`${this.label} is not connected (${this.client.status})`));
    }
    const [command, ...rest] = args;
    return this.client.call(String(command), ...rest);
  }

  session(): unknown {
    // A new socket for every connection, set before it can become ready (the "ready" event comes a tick late).
    return this.client.stream;
  }

  subscriber(events: SubscriberEvents): Subscriber {
    // Same address and credentials; ioredis subscribes again by itself after a reconnect.
    const sub = this.client.duplicate({
      lazyConnect: false,
      enableOfflineQueue: true,
      autoResubscribe: true,
    });
    let connected = false;
    sub.on("error", () => {});
    sub.on("message", (channel: string, payload: string) => events.message(channel, payload));
    sub.on("ready", () => {
      if (connected) events.reconnected();
      connected = true;
    });
    const serial = oneAtATime();
    return {
      subscribe: (channel) => serial(() => sub.subscribe(channel)),
      unsubscribe: (channel) => serial(() => sub.unsubscribe(channel)),
      close: async () => sub.disconnect(),
    };
  }

  async close(): Promise<void> {
    // disconnect(), not quit(): quit waits for a reply that a frozen node never sends.
    if (this.owned) this.client.disconnect();
  }
}

/** True for an ioredis `Redis` instance (checked by shape, so that a second copy of ioredis also works). */
export function isIORedis(value: unknown): value is Redis {
  const v = value as Partial<Redis> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.call === "function" &&
    typeof v.duplicate === "function" &&
    typeof v.status === "string" &&
    typeof v.options === "object"
  );
}

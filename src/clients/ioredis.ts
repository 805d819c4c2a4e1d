import { Command, Redis, type RedisOptions } from "ioredis";
import {
  oneAtATime,
  type RedisConnection,
  redacted,
  redactedAs,
  type Subscriber,
  type SubscriberEvents,
} from "./connection.js";

/**
 * Forced on every connection that carries lock commands. ioredis by default resends, after a reconnect, the
 * commands that were in flight when the socket dropped (`autoResendUnfulfilledCommands`) and keeps queued ones
 * for 20 reconnects (`maxRetriesPerRequest`): an acquire that the vote already gave up on, and whose cleanup
 * already failed with "not connected", would then take the lock later, for a whole TTL, for nobody. With
 * these options every command in flight or queued fails as soon as the connection drops, and is never sent
 * again. (The offline queue only ever holds commands sent before the first connection: see `send()`.)
 */
const NO_REPLAY: RedisOptions = { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false };

/**
 * A `reconnectOnError` policy may reconnect on an error reply (e.g. READONLY after a failover), but its
 * answer "2" (reconnect and resend the command) would replay too: reconnect only.
 */
function reconnectOnly(policy: RedisOptions["reconnectOnError"]): RedisOptions["reconnectOnError"] {
  return policy ? (error) => (policy(error) ? 1 : false) : null;
}

const UTF8 = { replyEncoding: "utf8" } as const;

/** Defaults for connections opened from a URL or an options object (the caller's options override them). */
const OWNED_DEFAULTS: RedisOptions = {
  retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  connectTimeout: 2000,
};

/**
 * Adapter for ioredis. Lock commands always go over a connection of the adapter's own, which it closes in
 * `close()`: opened from a URL or options object, or, for an injected client, `client.duplicate()` with the
 * {@link NO_REPLAY} options. The injected client itself is never sent a command, given a listener, or
 * closed: its options (often ioredis' defaults) could replay an acquire, and we may not change them.
 */
export class IORedisConnection implements RedisConnection {
  readonly label: string;
  readonly client: Redis;
  /** A connection attempt has ended (it was up, or it failed): from then on, fail at once while not ready. */
  #triedOnce = false;

  private constructor(client: Redis) {
    const { host, port, path } = client.options;
    this.label = path ?? `${host ?? "127.0.0.1"}:${port ?? 6379}`;
    // Connection errors surface on the commands that fail; without a listener ioredis would print them.
    client.on("error", () => {});
    const tried = () => {
      this.#triedOnce = true;
    };
    client.on("ready", tried);
    client.on("close", tried);
    this.client = client;
  }

  /** Lock commands go over a duplicate of `client` (same address, credentials, TLS, db) that we own. */
  static injected(client: Redis): IORedisConnection {
    return new IORedisConnection(
      client.duplicate({
        ...NO_REPLAY,
        reconnectOnError: reconnectOnly(client.options.reconnectOnError),
        // Connect now, and queue the first commands until connected, whatever the client was told.
        lazyConnect: false,
        enableOfflineQueue: true,
      }),
    );
  }

  /** Opens a connection from a `redis://` / `rediss://` URL or an ioredis options object. */
  static open(target: string | RedisOptions): IORedisConnection {
    const client =
      typeof target === "string"
        ? new Redis(target, { ...OWNED_DEFAULTS, ...NO_REPLAY })
        : new Redis({
            ...OWNED_DEFAULTS,
            ...target,
            ...NO_REPLAY,
            reconnectOnError: reconnectOnly(target.reconnectOnError),
          });
    return new IORedisConnection(client);
  }

  send(args: readonly (string | number)[]): Promise<unknown> {
    // While the first connection is being made, commands queue until it is up (bounded by the caller's timeout).
    // Once a connection was up and dropped, or the first attempt failed (a node down when the manager started),
    // fail at once: queued, a command waits for the next reconnect attempt (up to a second of backoff), and every
    // vote that needs that node to decide waits the node timeout, holding the nodes it took.
    if (this.#triedOnce && this.client.status !== "ready") {
      return Promise.reject(new Error(`${this.label} is not connected (${this.client.status})`));
    }
    // Straight to sendCommand, as `call` would after copying the arguments twice more (this is the hot path).
    const keyPrefix = this.client.options.keyPrefix;
    let command: Command;
    if (keyPrefix) {
      command = new Command(String(args[0]), args.slice(1), { replyEncoding: "utf8", keyPrefix });
    } else {
      // Arguments set after construction, as strings (what the constructor would make of strings and numbers):
      // its `args.flat()` took ~1 µs for a script call's 14 arguments, a sixth of the library's own work per
      // lock. (Its argument transformers only reshape objects and Maps, which are never sent here.) With a key
      // prefix the constructor must see them, to prefix the keys.
      command = new Command(String(args[0]), [], UTF8);
      const strings: string[] = new Array(args.length - 1);
      for (let i = 1; i < args.length; i++) {
        const arg = args[i]!;
        strings[i - 1] = typeof arg === "string" ? arg : String(arg);
      }
      command.args = strings;
    }
    this.client.sendCommand(command);
    return command.promise.catch((error: unknown) => {
      throw redacted(error, args);
    });
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
      subscribe: (channel) => serial(() => sub.subscribe(channel).catch(redactedAs(channel))),
      unsubscribe: (channel) => serial(() => sub.unsubscribe(channel).catch(redactedAs(channel))),
      close: async () => sub.disconnect(),
    };
  }

  async close(): Promise<void> {
    // disconnect(), not quit(): quit waits for a reply that a frozen node never sends.
    this.client.disconnect();
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

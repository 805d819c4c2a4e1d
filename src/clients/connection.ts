/**
 * The whole of what the lock algorithms need from a Redis driver. Each driver gets one small adapter
 * (ioredis.ts, node-redis.ts); nothing else in the library imports a driver.
 */
export interface RedisConnection {
  /** The node's address for messages and per-node outcomes, e.g. `127.0.0.1:6379`. */
  readonly label: string;
  /**
   * Sends one command and resolves with its RESP2 reply (string, number, null, or an array of them).
   * Rejects with an Error whose message starts with the Redis error prefix (e.g. `NOSCRIPT …`) on an error
   * reply, or with a connection error. Commands on one connection are applied in the order they are sent.
   */
  send(args: readonly (string | number)[]): Promise<unknown>;
  /** Closes the connection when the manager opened it; leaves an injected client alone. */
  close(): Promise<void>;
}

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
   * reply, or with a connection error: an Error of the adapter's own (see {@link redacted}), which never
   * carries the command's arguments (they include lease tokens). Commands on one connection are applied in
   * the order they are sent.
   */
  send(args: readonly (string | number)[]): Promise<unknown>;
  /**
   * Opens a separate connection to the same node for pub/sub (a subscribed connection can send nothing
   * else). It is always the caller's to close, even when this connection was injected.
   */
  subscriber(events: SubscriberEvents): Subscriber;
  /**
   * Optional. Names the current network connection: a new value (compared with `===`) after every reconnect,
   * available synchronously, so the restart quarantine can ask a server its age before anything else is sent.
   */
  session?(): unknown;
  /** Closes the connection when the manager opened it; leaves an injected client alone. */
  close(): Promise<void>;
}

export interface SubscriberEvents {
  message(channel: string, payload: string): void;
  /** The connection came back after a drop: messages published meanwhile were missed. */
  reconnected(): void;
}

export interface Subscriber {
  /** Resolves once the node confirmed the subscription. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs subscription changes one at a time, each once the previous one settled, in call order. Both drivers
 * need it: node-redis can skip a SUBSCRIBE issued while an UNSUBSCRIBE of the same channel is pending, and
 * ioredis sends an UNSUBSCRIBE issued during its connection handshake at once but a SUBSCRIBE issued before
 * the socket existed only after the handshake, so the channel stays subscribed.
 */
export function oneAtATime(after: Promise<unknown> = Promise.resolve()) {
  let queue = after.catch(() => {});
  return (change: () => Promise<unknown>): Promise<void> => {
    const run = queue.then(change);
    queue = run.catch(() => {});
    return run.then(() => {});
  };
}

/** Arguments at least this long are hidden in messages: tokens (27 characters), keys, SHA1s, script sources. */
const HIDDEN_FROM = 8;

/**
 * A driver's error reduced to its message, for every rejection an adapter passes on. Drivers attach the
 * command and its arguments to their errors (ioredis: `error.command.args`), and a lock command's arguments
 * include the lease's token, the right to extend and release it: our errors and `quorumlock:node-error`
 * events must never carry one. So the driver's error is not kept (neither as it is nor as `cause`), and an
 * argument that a message quotes is replaced. Short arguments (counts, TTLs) are kept: hiding them would
 * garble the message. The Redis error prefix stays first (`NOSCRIPT …`), as callers check it.
 */
export function redacted(error: unknown, args: readonly (string | number)[]): Error {
  let message = error instanceof Error ? error.message : String(error);
  for (const arg of args) {
    const text = String(arg);
    if (text.length >= HIDDEN_FROM) message = message.replaceAll(text, "<argument>");
  }
  return new Error(message);
}

/** A rejection handler that rethrows {@link redacted} (for a subscriber's calls, whose argument is a channel). */
export const redactedAs =
  (...args: readonly (string | number)[]) =>
  (error: unknown): never => {
    throw redacted(error, args);
  };

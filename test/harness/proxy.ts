/**
 * A TCP proxy between clients and one Redis node that can delay, swallow or cut traffic on demand,
 * to test what the lock does when a node is slow, partitioned or answers too late.
 */
import { connect, createServer, type Socket } from "node:net";

export type ProxyMode =
  /** Bytes flow both ways. */
  | { kind: "pass" }
  /** Every chunk, in either direction, is delivered `ms` later; order is preserved. */
  | { kind: "delay"; ms: number }
  /** Connections stay open but nothing passes either way (a partition). */
  | { kind: "blackhole" }
  /** Commands reach the node and are applied, but its replies are discarded. */
  | { kind: "drop-replies" }
  /** Current connections are reset, and new ones are reset as soon as they are accepted. */
  | { kind: "reset" };

export interface FaultProxy extends AsyncDisposable {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly mode: ProxyMode;
  /**
   * Applies to bytes from now on; bytes still waiting out a delay are dropped if the new mode does not
   * let their direction through.
   */
  setMode(mode: ProxyMode): void;
  /**
   * Back to `pass`. After any other mode the current connections are destroyed, because a half-delivered
   * RESP stream cannot be resumed: clients must reconnect.
   */
  heal(): void;
  /** Stops listening and destroys every connection; idempotent. */
  close(): Promise<void>;
}

type Direction = "to-server" | "to-client";

function lets(mode: ProxyMode, direction: Direction): boolean {
  switch (mode.kind) {
    case "pass":
    case "delay":
      return true;
    case "drop-replies":
      return direction === "to-server";
    case "blackhole":
    case "reset":
      return false;
  }
}

function checkMode(mode: ProxyMode): ProxyMode {
  const kinds = ["pass", "delay", "blackhole", "drop-replies", "reset"];
  if (typeof mode !== "object" || mode === null || !kinds.includes(mode.kind)) {
    throw new TypeError(`mode.kind must be one of ${kinds.join(", ")}`);
  }
  if (mode.kind === "delay" && !(Number.isFinite(mode.ms) && mode.ms >= 0)) {
    throw new TypeError(`delay mode needs ms to be a finite number >= 0, got ${String(mode.ms)}`);
  }
  return Object.freeze({ ...mode });
}

type Item = { readonly at: number; readonly chunk: Buffer } | { readonly at: number; readonly end: true };

/** One direction of one connection: a FIFO, so a delay never reorders bytes, even when the delay changes. */
class Lane {
  readonly #queue: Item[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly to: Socket,
    private readonly open: () => boolean,
  ) {}

  push(item: Item): void {
    this.#queue.push(item);
    if (this.#timer === undefined) this.#drain();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #drain = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (let head = this.#queue[0]; head !== undefined && head.at <= now; head = this.#queue[0]) {
      this.#queue.shift();
      if (!this.open() || this.to.destroyed) continue;
      // Backpressure is ignored: test traffic is small.
      if ("chunk" in head) this.to.write(head.chunk);
      else this.to.end();
    }
    const next = this.#queue[0];
    if (next !== undefined) this.#timer = setTimeout(this.#drain, Math.max(1, Math.ceil(next.at - now)));
  };
}

/** Starts a proxy on a free loopback port that forwards to `target`. */
export async function startProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: ProxyMode = { kind: "pass" };
  const connections = new Set<{ client: Socket; server: Socket; destroy(reset: boolean): void }>();

  const admit = (lane: Lane, direction: Direction, item: { chunk: Buffer } | { end: true }): void => {
    if (!lets(mode, direction)) return;
    const at = performance.now() + (mode.kind === "delay" ? mode.ms : 0);
    lane.push({ at, ...item });
  };

  // Half-open sockets so a FIN travels through the lane in order with the data before it.
  const listener = createServer({ allowHalfOpen: true }, (client) => {
    if (mode.kind === "reset") {
      client.resetAndDestroy();
      return;
    }
    const server = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const toServer = new Lane(server, () => lets(mode, "to-server"));
    const toClient = new Lane(client, () => lets(mode, "to-client"));
    const connection = {
      client,
      server,
      destroy(reset: boolean): void {
        toServer.clear();
        toClient.clear();
        if (reset && !client.destroyed) client.resetAndDestroy();
        else client.destroy();
        server.destroy();
        connections.delete(connection);
      },
    };
    connections.add(connection);
    client.on("data", (chunk: Buffer) => admit(toServer, "to-server", { chunk }));
    server.on("data", (chunk: Buffer) => admit(toClient, "to-client", { chunk }));
    client.on("end", () => admit(toServer, "to-server", { end: true }));
    server.on("end", () => admit(toClient, "to-client", { end: true }));
    // An error on either side (e.g. the node was killed) ends both, as a real connection would.
    client.on("error", () => connection.destroy(false));
    server.on("error", () => connection.destroy(false));
    const forgetWhenClosed = (): void => {
      if (client.destroyed && server.destroyed) connection.destroy(false);
    };
    client.on("close", forgetWhenClosed);
    server.on("close", forgetWhenClosed);
  });

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(0, "127.0.0.1", resolve);
  });
  const address = listener.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no TCP address");
  const port = address.port;

  const destroyAll = (reset: boolean): void => {
    for (const connection of [...connections]) connection.destroy(reset);
  };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      listener.close(() => resolve());
      destroyAll(false);
    });
    return closing;
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    setMode(next) {
      mode = checkMode(next);
      if (mode.kind === "reset") destroyAll(true);
    },
    heal() {
      const previous = mode;
      mode = { kind: "pass" };
      if (previous.kind !== "pass") destroyAll(false);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

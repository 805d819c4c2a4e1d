// Restart quarantine, in band: the Redis docs' "delayed restart", done by the clients instead of the operator.
// A node that restarted without its data has forgotten the locks it granted, and could hand one of them to a
// second client while the first lease is still valid. So a node whose server started less than `quarantine`
// ms ago does not vote: every request to it fails with NodeQuarantinedError until that time has passed. The
// server's age is read from INFO on every new connection, before anything else is sent on it (a restart
// always breaks the connection). See docs/SAFETY.md.
import type { RedisConnection, Subscriber, SubscriberEvents } from "./clients/connection.js";
import { LockError } from "./errors.js";
import { drift, monotonicNow } from "./validity.js";

/**
 * `uptime_in_seconds` is the difference of two whole-second wall-clock readings, so it can exceed the real
 * uptime by up to a second.
 */
const UPTIME_GRANULARITY_MS = 1_000;

/**
 * A node refused to take part because its server started too recently (it may have lost locks it granted
 * before a restart). It is a failed node, never a busy lock. Code `ERR_NODE_QUARANTINED`.
 */
export class NodeQuarantinedError extends LockError {
  /** The node's address, e.g. `127.0.0.1:6379`. */
  readonly node: string;
  /** Milliseconds until the node takes part again. */
  readonly remainingMs: number;

  constructor(node: string, remainingMs: number) {
    super(
      "ERR_NODE_QUARANTINED",
      `${node} is quarantined for another ${Math.ceil(remainingMs)} ms: its server started recently and may have ` +
        "lost locks it granted before a restart",
    );
    this.node = node;
    this.remainingMs = remainingMs;
  }
}

/** What INFO says about the server process. */
export interface ServerLife {
  readonly runId: string;
  readonly uptimeSeconds: number;
}

export function parseServerInfo(info: string): ServerLife {
  const runId = /^run_id:(\w+)/m.exec(info)?.[1];
  const uptime = /^uptime_in_seconds:(\d+)/m.exec(info)?.[1];
  if (runId === undefined || uptime === undefined) {
    throw new Error(
      "INFO server did not report run_id and uptime_in_seconds (the restart quarantine needs them)",
    );
  }
  return { runId, uptimeSeconds: Number(uptime) };
}

/**
 * The monotonic instant from which a node may vote, given the uptime it reported in a reply received at `now`:
 * its latest possible start plus the quarantine, plus the clock-rate allowance (its uptime runs on its clock).
 */
export function votesFrom(uptimeSeconds: number, now: number, quarantine: number): number {
  const latestStart = now - uptimeSeconds * 1000 + UPTIME_GRANULARITY_MS;
  return latestStart + quarantine + drift(quarantine);
}

/** Wraps each node so that it takes part only once its server has been up for `quarantine` ms (0: off). */
export function quarantineRestarts(
  nodes: readonly RedisConnection[],
  quarantine: number,
): readonly RedisConnection[] {
  return quarantine === 0 ? nodes : nodes.map((node) => new QuarantinedNode(node, quarantine));
}

class QuarantinedNode implements RedisConnection {
  readonly label: string;
  /** The server process last seen, and when it may vote. */
  #life: { readonly runId: string; readonly votesFrom: number } | undefined;
  /** The connection `#life` was read on; a new one may lead to a restarted server. */
  #session: unknown;
  /** Requests waiting for admission, in the order they were sent. */
  #queue: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  constructor(
    private readonly inner: RedisConnection,
    private readonly quarantine: number,
  ) {
    this.label = inner.label;
  }

  send(args: readonly (string | number)[]): Promise<unknown> {
    if (this.#waiting === 0 && this.#admitted()) return this.inner.send(args);
    // Behind the requests still waiting: commands must reach the node in the order they were sent (a release
    // must never overtake the acquire it undoes).
    this.#waiting++;
    const admitted = this.#queue.then(() => this.#admit());
    this.#queue = admitted.catch(() => {});
    return admitted.then(
      () => {
        this.#waiting--;
        return this.inner.send(args);
      },
      (error: unknown) => {
        this.#waiting--;
        throw error;
      },
    );
  }

  subscriber(events: SubscriberEvents): Subscriber {
    return this.inner.subscriber(events); // wake-ups are only hints: a quarantined node may still send them
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #admitted(): boolean {
    const life = this.#life;
    return life !== undefined && this.inner.session?.() === this.#session && monotonicNow() >= life.votesFrom;
  }

  async #admit(): Promise<void> {
    while (this.#life === undefined || this.inner.session?.() !== this.#session) {
      const info = parseServerInfo(String(await this.inner.send(["INFO", "server"])));
      // Read in the same step as the reply: a reconnect needs I/O, so this is the connection that answered.
      this.#session = this.inner.session?.();
      // The same process as before (the connection only blipped): it did not lose anything meanwhile.
      if (this.#life?.runId !== info.runId) {
        this.#life = {
          runId: info.runId,
          votesFrom: votesFrom(info.uptimeSeconds, monotonicNow(), this.quarantine),
        };
      }
    }
    const left = this.#life!.votesFrom - monotonicNow();
    if (left > 0) throw new NodeQuarantinedError(this.label, left);
  }
}

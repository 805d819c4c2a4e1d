// What a node must be to vote, checked from INFO on every new connection before anything else is sent on it:
// - a Redis version the scripts run on (5.0 or newer: they call TIME after a write, which older servers only
//   allow with script effects replication switched on by hand). An older one fails every request with
//   NodeUnsupportedError, instead of failing each script with a message that does not say why.
// - optionally, the restart quarantine, in band: the Redis docs' "delayed restart", done by the clients instead
//   of the operator. A node that restarted without its data has forgotten the locks it granted, and could hand
//   one of them to a second client while the first lease is still valid. So a node whose server started less
//   than `quarantine` ms ago does not vote: every request to it fails with NodeQuarantinedError until that time
//   has passed (a restart always breaks the connection). See docs/SAFETY.md.
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

/** The oldest Redis the scripts run on, as [major, minor]. */
export const MIN_REDIS_VERSION = [5, 0] as const;

/**
 * A node runs a Redis older than quorumlock supports ({@link MIN_REDIS_VERSION}). It is a failed node, never a
 * busy one. Code `ERR_NODE_UNSUPPORTED`.
 */
export class NodeUnsupportedError extends LockError {
  /** The node's address, e.g. `127.0.0.1:6379`. */
  readonly node: string;
  /** The version the node reported, e.g. `4.0.14`. */
  readonly version: string;

  constructor(node: string, version: string) {
    super(
      "ERR_NODE_UNSUPPORTED",
      `${node} runs Redis ${version}; quorumlock needs Redis ${MIN_REDIS_VERSION.join(".")} or newer (its scripts ` +
        "call TIME after a write)",
    );
    this.node = node;
    this.version = version;
  }
}

/** The `redis_version` INFO reports, when it is older than {@link MIN_REDIS_VERSION}; else undefined. */
export function unsupportedVersion(info: string): string | undefined {
  const version = /^redis_version:([\d.]+)/m.exec(info)?.[1];
  if (version === undefined) return undefined;
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [minMajor, minMinor] = MIN_REDIS_VERSION;
  return major < minMajor || (major === minMajor && minor < minMinor) ? version : undefined;
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

/**
 * Wraps each node so that it takes part only when its server runs a supported Redis version and, with a
 * `quarantine` (0: off), once its server has been up for that many ms.
 */
export function checkedNodes(
  nodes: readonly RedisConnection[],
  quarantine: number,
): readonly RedisConnection[] {
  return nodes.map((node) => new CheckedNode(node, quarantine));
}

/**
 * An error reply that means INFO is not allowed here (renamed away, or not in the user's ACL). Without the
 * quarantine that only costs the version check; other failures (a dropped connection, LOADING) fail the request.
 */
const infoForbidden = (error: unknown): boolean =>
  error instanceof Error && /^(ERR unknown command|NOPERM)/.test(error.message);

class CheckedNode implements RedisConnection {
  readonly label: string;
  /** The server process last seen, and when it may vote (0 without the quarantine). */
  #life: { readonly runId: string; readonly votesFrom: number } | undefined;
  /** Set when the server runs a Redis version the scripts do not support. */
  #unsupported: NodeUnsupportedError | undefined;
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

  session(): unknown {
    return this.inner.session?.();
  }

  subscriber(events: SubscriberEvents): Subscriber {
    return this.inner.subscriber(events); // wake-ups are only hints: a quarantined node may still send them
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #admitted(): boolean {
    const life = this.#life;
    return (
      life !== undefined &&
      this.#unsupported === undefined &&
      this.inner.session?.() === this.#session &&
      monotonicNow() >= life.votesFrom
    );
  }

  async #admit(): Promise<void> {
    while (this.#life === undefined || this.inner.session?.() !== this.#session) {
      let text: string;
      try {
        text = String(await this.inner.send(["INFO", "server"]));
      } catch (error) {
        if (this.quarantine > 0 || !infoForbidden(error)) throw error;
        text = "";
      }
      // Read in the same step as the reply: a reconnect needs I/O, so this is the connection that answered.
      this.#session = this.inner.session?.();
      const old = unsupportedVersion(text);
      this.#unsupported = old === undefined ? undefined : new NodeUnsupportedError(this.label, old);
      if (this.quarantine === 0) {
        this.#life = { runId: "", votesFrom: 0 };
        continue;
      }
      const info = parseServerInfo(text);
      // The same process as before (the connection only blipped): it did not lose anything meanwhile.
      if (this.#life?.runId !== info.runId) {
        this.#life = {
          runId: info.runId,
          votesFrom: votesFrom(info.uptimeSeconds, monotonicNow(), this.quarantine),
        };
      }
    }
    if (this.#unsupported) throw this.#unsupported;
    const left = this.#life!.votesFrom - monotonicNow();
    if (left > 0) throw new NodeQuarantinedError(this.label, left);
  }
}

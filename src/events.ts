// Lock events on `node:diagnostics_channel`: free when nobody subscribes, and they never throw into the
// lock's own code path (diagnostics_channel isolates subscriber errors).
import { channel } from "node:diagnostics_channel";

/** The kinds of lease quorumlock hands out, as named in events. */
export type PrimitiveName = "mutex" | "semaphore" | "read" | "write";

/** Payload of `quorumlock:acquired`. Tokens are never published: they are the right to release. */
export interface AcquiredEvent {
  readonly resource: string;
  /** What was acquired: `"mutex"`, `"semaphore"`, `"read"` or `"write"` (a read-write lock's two sides). */
  readonly primitive: PrimitiveName;
  readonly fence: number | undefined;
  readonly ttl: number;
  /** From the call until the lease was handed out, in ms. */
  readonly waitedMs: number;
}
/** Payload of `quorumlock:extended`. */
export interface ExtendedEvent {
  readonly resource: string;
  readonly primitive: PrimitiveName;
  readonly fence: number | undefined;
  readonly ttl: number;
  readonly automatic: boolean;
}
/** Payload of `quorumlock:released`. */
export interface ReleasedEvent {
  readonly resource: string;
  readonly primitive: PrimitiveName;
  readonly fence: number | undefined;
  /** How long the lease was held, in ms. */
  readonly heldMs: number;
}
/** Payload of `quorumlock:lost`: the lease expired, was taken over, or reached its maxHold. */
export interface LostEvent {
  readonly resource: string;
  readonly primitive: PrimitiveName;
  readonly fence: number | undefined;
  readonly reason: Error;
}
/** Payload of `quorumlock:node-error`: one node failed or timed out during an operation. */
export interface NodeErrorEvent {
  readonly node: string;
  /** `acquire`, `fence-sync`, `extend` or `release`. */
  readonly operation: string;
  /** The lock key, e.g. `quorumlock:{orders:42}`. */
  readonly key: string;
  readonly error: Error;
}

/**
 * The channel names, for `diagnostics_channel.subscribe(name, listener)`.
 * @example
 * import { subscribe } from "node:diagnostics_channel";
 * subscribe(CHANNELS.lost, (event) => log.warn("lock lost", event));
 */
export const CHANNELS = Object.freeze({
  acquired: "quorumlock:acquired",
  extended: "quorumlock:extended",
  released: "quorumlock:released",
  lost: "quorumlock:lost",
  nodeError: "quorumlock:node-error",
});

const acquired = channel(CHANNELS.acquired);
const extended = channel(CHANNELS.extended);
const released = channel(CHANNELS.released);
const lost = channel(CHANNELS.lost);
const nodeError = channel(CHANNELS.nodeError);

/** Whether anyone listens, for the hot path's events: their payload is then not even built. */
export const observed = {
  get acquired(): boolean {
    return acquired.hasSubscribers;
  },
  get released(): boolean {
    return released.hasSubscribers;
  },
};

export const emit = {
  acquired: (event: AcquiredEvent) => acquired.hasSubscribers && acquired.publish(event),
  extended: (event: ExtendedEvent) => extended.hasSubscribers && extended.publish(event),
  released: (event: ReleasedEvent) => released.hasSubscribers && released.publish(event),
  lost: (event: LostEvent) => lost.hasSubscribers && lost.publish(event),
  nodeError: (event: NodeErrorEvent) => nodeError.hasSubscribers && nodeError.publish(event),
};

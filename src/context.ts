import type { RedisConnection } from "./clients/connection.js";

/** What every lock operation needs from its manager. */
export interface LockContext {
  readonly nodes: readonly RedisConnection[];
  /** floor(N/2)+1. */
  readonly quorum: number;
  readonly nodeTimeout: number;
  readonly prefix: string;
  readonly fencing: boolean;
  /** Registers background work (cleanups) that `close()` must wait for. */
  track(work: Promise<unknown>): void;
}

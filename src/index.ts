export type { NodeRedisClient } from "./clients/node-redis.js";
export type { NodeSpec } from "./clients/resolve.js";
export {
  LockAbortedError,
  LockError,
  LockLostError,
  LockManagerClosedError,
  LockTimeoutError,
  LockUnavailableError,
  type NodeOutcome,
  SemaphoreLimitError,
} from "./errors.js";
export {
  type AcquiredEvent,
  CHANNELS,
  type ExtendedEvent,
  type LostEvent,
  type NodeErrorEvent,
  type ReleasedEvent,
} from "./events.js";
export { Lease } from "./lease.js";
export { LockManager } from "./manager.js";
export { type AcquireOptions, DEFAULTS, type LockManagerOptions, type WithLockOptions } from "./options.js";
export { NodeQuarantinedError, NodeUnsupportedError } from "./quarantine.js";
export { ReadWriteLock, type ReadWriteOptions, type WithReadWriteOptions } from "./rwlock/index.js";
export {
  type PermitOptions,
  Semaphore,
  type SemaphoreOptions,
  type WithPermitOptions,
} from "./semaphore/handle.js";

/** Where one node stood at the moment an operation was decided. */
export interface NodeOutcome {
  /** The node's address, e.g. `127.0.0.1:6379`. */
  readonly node: string;
  /**
   * - `ok`: the node did what was asked.
   * - `refused`: the node answered, but the lock is someone else's (or no longer ours).
   * - `error`: the node answered with an error, or the connection failed.
   * - `timeout`: no answer within the per-node timeout.
   * - `pending`: the outcome was already decided before this node answered.
   */
  readonly status: "ok" | "refused" | "error" | "timeout" | "pending";
  /** The error for `error` and `timeout`. */
  readonly error?: Error;
}

/** Base class of every error quorumlock throws on purpose (bad arguments aside). */
export class LockError extends Error {
  /** Stable machine-readable code, e.g. `ERR_LOCK_TIMEOUT`. */
  readonly code: string;
  /** The resource the operation was about, when there was one. */
  readonly resource: string | undefined;
  /** Per-node outcomes of the deciding attempt, when nodes were asked. */
  readonly nodes: readonly NodeOutcome[];

  constructor(
    code: string,
    message: string,
    options: { resource?: string; nodes?: readonly NodeOutcome[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.resource = options.resource;
    this.nodes = options.nodes ?? [];
  }
}

/** The lock stayed busy (held by someone else) until the `wait` deadline. Code `ERR_LOCK_TIMEOUT`. */
export class LockTimeoutError extends LockError {
  constructor(resource: string, waitedMs: number, nodes: readonly NodeOutcome[]) {
    super(
      "ERR_LOCK_TIMEOUT",
      `Lock "${resource}" is still held by someone else after waiting ${waitedMs} ms`,
      {
        resource,
        nodes,
      },
    );
  }
}

/**
 * Not enough nodes answered for the operation to reach a quorum (nodes down, frozen, too slow, or erroring).
 * This is never raised for a lock that is merely busy. Code `ERR_LOCK_UNAVAILABLE`; `nodes` says why per node.
 */
export class LockUnavailableError extends LockError {
  constructor(
    resource: string,
    operation: string,
    needed: number,
    nodes: readonly NodeOutcome[],
    detail = "",
  ) {
    const failed = nodes.filter((n) => n.status === "error" || n.status === "timeout");
    const first = failed[0]?.error?.message;
    super(
      "ERR_LOCK_UNAVAILABLE",
      `Cannot ${operation} lock "${resource}": ${detail || `needed ${needed} of ${nodes.length} nodes, ${failed.length} failed`}` +
        (first ? ` (first failure: ${first})` : ""),
      { resource, nodes, cause: failed[0]?.error },
    );
  }
}

/** The lease is no longer held on a quorum: it expired, was released, or was taken over. Code `ERR_LOCK_LOST`. */
export class LockLostError extends LockError {
  constructor(resource: string, why: string, nodes: readonly NodeOutcome[] = []) {
    super("ERR_LOCK_LOST", `Lock "${resource}" was lost: ${why}`, { resource, nodes });
  }
}

/**
 * The operation was aborted through its `signal`. `name` is `"AbortError"` (as for Node's own APIs), code
 * `ABORT_ERR`, and `cause` is the signal's reason.
 */
export class LockAbortedError extends LockError {
  constructor(resource: string, reason: unknown) {
    super("ABORT_ERR", `Acquiring lock "${resource}" was aborted`, { resource, cause: reason });
    this.name = "AbortError";
  }
}

/** The manager was closed; it takes no more work. Code `ERR_LOCK_MANAGER_CLOSED`. */
export class LockManagerClosedError extends LockError {
  constructor() {
    super("ERR_LOCK_MANAGER_CLOSED", "This LockManager has been closed");
  }
}

/**
 * A semaphore is held with a different limit than this handle's (two deployments disagree). Code
 * `ERR_SEMAPHORE_LIMIT`. A new limit takes over once the semaphore has no holders.
 */
export class SemaphoreLimitError extends LockError {
  /** This handle's limit. */
  readonly limit: number;
  /** The limit the current holders use. */
  readonly heldLimit: number;

  constructor(resource: string, limit: number, heldLimit: number, nodes: readonly NodeOutcome[] = []) {
    super(
      "ERR_SEMAPHORE_LIMIT",
      `Semaphore "${resource}" is held with limit ${heldLimit}, but this handle's limit is ${limit}: ` +
        "every user of a semaphore must use one limit (a new one takes over once nobody holds a permit)",
      { resource, nodes },
    );
    this.limit = limit;
    this.heldLimit = heldLimit;
  }
}

type ArgErrorCode = "ERR_INVALID_ARG_TYPE" | "ERR_INVALID_ARG_VALUE";

function withCode<E extends Error>(error: E, code: ArgErrorCode): E & { code: ArgErrorCode } {
  return Object.assign(error, { code });
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
    return String(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`: the argument is of the wrong type. */
export function invalidType(name: string, expected: string, actual: unknown): TypeError {
  return withCode(
    new TypeError(`The "${name}" option must be ${expected}. Received ${describe(actual)}`),
    "ERR_INVALID_ARG_TYPE",
  );
}

/** `RangeError` with code `ERR_INVALID_ARG_VALUE`: the argument has the right type but a value not allowed. */
export function invalidValue(name: string, allowed: string, actual: unknown): RangeError {
  return withCode(
    new RangeError(`The "${name}" option must be ${allowed}. Received ${describe(actual)}`),
    "ERR_INVALID_ARG_VALUE",
  );
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE`: an option name that does not exist. */
export function unknownOption(where: string, name: string, known: readonly string[]): TypeError {
  return withCode(
    new TypeError(`Unknown option "${name}" in ${where}. Known options: ${known.join(", ")}`),
    "ERR_INVALID_ARG_VALUE",
  );
}

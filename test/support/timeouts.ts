// Per-test time limits: far above what a test needs on a loaded 2-core machine, so a hang fails the test
// instead of stalling the run.

/** A few calls on local nodes. */
export const QUICK = { timeout: 10_000 };
/** Behaviour of one primitive on local nodes. */
export const SHORT = { timeout: 20_000 };
/** Several clients or processes, or nodes killed and restarted. */
export const MEDIUM = { timeout: 30_000 };
/** Contention for seconds, quarantines and faults. */
export const LONG = { timeout: 60_000 };
/** Many rounds of faults, or thousands of waiters. */
export const LONGEST = { timeout: 90_000 };

// The signals `quorumlock run` catches for its whole life, so that the lock is always released on the way out:
// while it waits for the lock, a signal aborts the wait; while the command runs, signals are passed on to it.

/**
 * SIGHUP too: a closed terminal must not kill quorumlock and leave the command running without the lock. And
 * SIGQUIT (Ctrl-\): the command has a process group of its own, so the terminal's SIGQUIT reaches quorumlock only.
 */
export const FORWARDED = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
] as const satisfies readonly NodeJS.Signals[];

export class Interrupts {
  readonly #controller = new AbortController();
  #forward: ((signal: NodeJS.Signals) => void) | undefined;
  /** The first signal received, if any. */
  first: NodeJS.Signals | undefined;

  readonly #on = (signal: NodeJS.Signals) => {
    this.first ??= signal;
    this.#controller.abort(signal);
    this.#forward?.(signal);
  };

  constructor() {
    for (const signal of FORWARDED) process.on(signal, this.#on);
  }

  /** Aborts at the first signal. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** From now on, every signal received is also handed to `forward` (the running command). */
  forwardTo(forward: ((signal: NodeJS.Signals) => void) | undefined): void {
    this.#forward = forward;
  }

  /** Stops catching: the default handling (exit) applies again. */
  stop(): void {
    for (const signal of FORWARDED) process.off(signal, this.#on);
    this.#forward = undefined;
  }
}

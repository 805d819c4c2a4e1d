/** Exit codes of the `quorumlock` command (sysexits.h where one fits). `run` otherwise exits with the command's code. */
export const EXIT = Object.freeze({
  ok: 0,
  /** Bad flags, durations or arguments. */
  usage: 64,
  /** Not enough Redis nodes answered. */
  unavailable: 69,
  /** The lease was lost while the command ran; the command was stopped. */
  lost: 70,
  /** The lock is held by someone else (and `--wait` ran out, 0 by default). */
  busy: 75,
});

/** An error the CLI reports as one line and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

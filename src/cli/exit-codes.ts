import { constants } from "node:os";

/**
 * Exit codes of the `quorumlock` command (sysexits.h where one fits). `run` otherwise exits with the command's
 * own code: 128+n when signal n ended it, 126 when it could not be executed, 127 when it was not found.
 */
export const EXIT = Object.freeze({
  ok: 0,
  /** Something unexpected; also the demo's "safety was violated". */
  failure: 1,
  /** Bad flags, durations or arguments. */
  usage: 64,
  /** Not enough Redis nodes answered (or, for the demo, no redis-server to start). */
  unavailable: 69,
  /** The lease was lost while the command ran; the command was stopped. */
  lost: 70,
  /** The lock is held by someone else (and `--wait` ran out, 0 by default). */
  busy: 75,
  /** `run`: the command was found but could not be executed. */
  cannotExecute: 126,
  /** `run`: the command was not found. */
  notFound: 127,
});

/** 128 + the signal's number, as shells report a process that a signal ended. */
export function signalExit(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** An error the CLI reports as one line (never a stack trace) and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** A usage error: what is wrong, and where to read how it is done. */
export function usageError(command: string, problem: string): CliError {
  return new CliError(`${problem} (see "quorumlock ${command} --help")`, EXIT.usage);
}

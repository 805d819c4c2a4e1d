// `quorumlock run`'s command: started with the lock held, stopped if the lease is lost, signals passed on.
import { spawn } from "node:child_process";
import type { Lease } from "../index.js";
import { EXIT, signalExit } from "./exit-codes.js";
import type { Interrupts } from "./interrupts.js";

export interface SuperviseOptions {
  /** Time between SIGTERM and SIGKILL once the lease is lost, in ms. */
  readonly grace: number;
  readonly interrupts: Interrupts;
  /** Problems worth a line even under --quiet. */
  readonly warn: (line: string) => void;
}

/**
 * Runs `command` until it exits and resolves with the exit code `run` should give: the command's own (128+n
 * for signal n), 127 / 126 when it cannot be started, or EXIT.lost when the lease was lost meanwhile.
 * The caller releases the lease.
 */
export function supervise(
  lease: Lease,
  command: readonly string[],
  options: SuperviseOptions,
): Promise<number> {
  const { grace, interrupts, warn } = options;
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      env: {
        ...process.env,
        QUORUMLOCK_RESOURCE: lease.resource,
        QUORUMLOCK_FENCE: String(lease.fence ?? ""),
      },
    });
    let lost = false;
    let killTimer: NodeJS.Timeout | undefined;
    const running = () => child.exitCode === null && child.signalCode === null;
    const onLost = () => {
      if (!running()) return;
      lost = true;
      const why = (lease.signal.reason as Error).message;
      warn(`${why}; stopping the command (SIGTERM, then SIGKILL after ${grace} ms)`);
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), grace);
    };
    lease.signal.addEventListener("abort", onLost, { once: true });
    interrupts.forwardTo((signal) => {
      if (running()) child.kill(signal);
    });
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      lease.signal.removeEventListener("abort", onLost);
      interrupts.forwardTo(undefined);
      resolve(lost ? EXIT.lost : code);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill(), not a failed start
      const notFound = error.code === "ENOENT";
      warn(`cannot run ${command[0]}: ${notFound ? "not found" : error.message}`);
      finish(notFound ? EXIT.notFound : EXIT.cannotExecute);
    });
    child.on("exit", (code, signal) => finish(signal ? signalExit(signal) : (code ?? EXIT.failure)));
  });
}

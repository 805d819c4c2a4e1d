// `quorumlock run`'s command: started with the lock held, stopped if the lease is lost, signals passed on.
import { spawn } from "node:child_process";
import type { Lease } from "../index.js";
import { EXIT, signalExit } from "./exit-codes.js";
import type { Interrupts } from "./interrupts.js";
import { groupAlive, groupGone, signalGroup } from "./process-group.js";

export interface SuperviseOptions {
  /** Time between SIGTERM and SIGKILL when the command (or what it left running) is stopped, in ms. */
  readonly grace: number;
  /**
   * Leave the command in quorumlock's own process group, as `timeout --foreground` does: it keeps the terminal
   * (/dev/tty, job control), but only its first process is signalled and what it leaves running is left.
   */
  readonly foreground: boolean;
  readonly interrupts: Interrupts;
  /** Problems worth a line even under --quiet. */
  readonly warn: (line: string) => void;
}

/** Once SIGKILL went to the group, how long its processes get to be gone before we say so and go on. */
const KILLED_MS = 1_000;

/**
 * Runs `command` until it exits and resolves with the exit code `run` should give: the command's own (128+n
 * for signal n), 127 / 126 when it cannot be started, or EXIT.lost when the lease was lost meanwhile.
 *
 * The command leads a process group (and session) of its own, and every signal goes to the whole group: a lost
 * lease must stop `long-task` in `sh -c 'long-task; other'`, not only `sh`. When the command exits, whatever it
 * left running in its group is stopped too (SIGTERM, SIGKILL after `grace`) before this resolves: the caller
 * then releases the lease, and nothing the command started may outlive the lock. (Windows has no process
 * groups: there, as with `foreground`, only the command's own process is signalled.)
 */
export function supervise(
  lease: Lease,
  command: readonly string[],
  options: SuperviseOptions,
): Promise<number> {
  const { grace, interrupts, warn } = options;
  const grouped = !options.foreground && process.platform !== "win32";
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      // setsid(): a new group, and no controlling terminal. Ctrl-C reaches quorumlock alone, which passes it
      // on once (in the terminal's group the command would get it twice); the inherited stdin stays readable.
      detached: grouped,
      env: {
        ...process.env,
        QUORUMLOCK_RESOURCE: lease.resource,
        QUORUMLOCK_FENCE: String(lease.fence ?? ""),
      },
    });
    const pid = child.pid;
    const running = () => child.exitCode === null && child.signalCode === null;
    const send = (signal: NodeJS.Signals) => {
      if (grouped && pid !== undefined) signalGroup(pid, signal);
      else if (running()) child.kill(signal);
    };
    let lost = false;
    let stoppedAt: number | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (stoppedAt !== undefined) return;
      stoppedAt = performance.now();
      send("SIGTERM");
      killTimer = setTimeout(() => send("SIGKILL"), grace);
    };
    const onLost = () => {
      if (!running()) return;
      lost = true;
      const why = (lease.signal.reason as Error).message;
      warn(`${why}; stopping the command (SIGTERM, then SIGKILL after ${grace} ms)`);
      stop();
    };
    lease.signal.addEventListener("abort", onLost, { once: true });
    interrupts.forwardTo(send);
    // Should quorumlock itself die of an error, the command must not run on without anyone holding the lock.
    const onExit = () => send("SIGKILL");
    process.on("exit", onExit);

    /** What the command left behind in its group, stopped within the grace that began with the first SIGTERM. */
    const stopLeftovers = async () => {
      if (!grouped || pid === undefined || !groupAlive(pid)) return;
      if (stoppedAt === undefined) {
        warn(
          `the command exited but left processes running in its process group; stopping them (SIGTERM, then SIGKILL after ${grace} ms)`,
        );
        stop();
      }
      if (await groupGone(pid, grace - (performance.now() - stoppedAt!))) return;
      send("SIGKILL");
      if (!(await groupGone(pid, KILLED_MS))) {
        warn(
          `processes of the command's group ${pid} are still there after SIGKILL; releasing the lock anyway`,
        );
      }
    };

    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      lease.signal.removeEventListener("abort", onLost);
      interrupts.forwardTo(undefined);
      process.off("exit", onExit);
      resolve(lost ? EXIT.lost : code);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (pid !== undefined) return; // a failed kill(), not a failed start
      const notFound = error.code === "ENOENT";
      warn(`cannot run ${command[0]}: ${notFound ? "not found" : error.message}`);
      finish(notFound ? EXIT.notFound : EXIT.cannotExecute);
    });
    child.on("exit", (code, signal) => {
      const result = signal ? signalExit(signal) : (code ?? EXIT.failure);
      void stopLeftovers().then(() => finish(result));
    });
  });
}

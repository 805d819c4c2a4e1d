// Safety net for every child process the demo or a test starts: whatever a test forgets (or a crash skips), no
// child survives this process.
import type { ChildProcess } from "node:child_process";

const live = new Set<ChildProcess>();
let armed = false;

function killLive(): void {
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Installed with the first child, not on import: a command that starts none keeps Node's own signal handling. */
function arm(): void {
  armed = true;
  process.on("exit", killLive);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killLive();
      // Keep the default "die on signal" unless someone else (e.g. the test runner) handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Tracks `child` until it exits; returns the function that stops tracking it. */
export function reapOnExit(child: ChildProcess): () => void {
  if (!armed) arm();
  live.add(child);
  return () => live.delete(child);
}

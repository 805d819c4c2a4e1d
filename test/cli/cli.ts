// Runs the `quorumlock` command as a real process (TypeScript through tsx), with its output collected and a
// way to wait for a line instead of sleeping.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { reapOnExit } from "../harness/reaper.js";

const root = new URL("../..", import.meta.url).pathname;

/** Nowhere: a test that forgets --nodes must fail, never reach the machine's shared Redis on 6379. */
export const NO_NODES = "redis://127.0.0.1:1";

export interface Ran {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  /** Milliseconds from start to exit. */
  readonly ms: number;
}

export interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<Ran>;
  /** Resolves when stdout or stderr has printed a match; rejects on exit without one, or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function start(args: readonly string[], env: NodeJS.ProcessEnv = {}): Running {
  const began = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, QUORUMLOCK_NODES: NO_NODES, REDIS_URL: "", QUORUMLOCK_DEBUG: "", ...env },
  });
  reapOnExit(child);
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  child.stdout?.on("data", (d) => {
    out += d;
    changed();
  });
  child.stderr?.on("data", (d) => {
    err += d;
    changed();
  });
  const done = new Promise<Ran>((resolve) =>
    child.on("close", (code) => {
      changed();
      resolve({ code, out, err, ms: performance.now() - began });
    }),
  );
  let exited = false;
  void done.then(() => {
    exited = true;
    changed();
  });
  const waitFor = (pattern: RegExp, timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}${err}`)),
        timeoutMs,
      );
      const check = () => {
        if (pattern.test(out) || pattern.test(err)) finish();
        else if (exited) finish(new Error(`exited without printing ${pattern}:\n${out}${err}`));
      };
      const finish = (error?: Error) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      listeners.add(check);
      check();
    });
  return { child, done, waitFor };
}

export const cli = (args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Ran> => start(args, env).done;

/** `-- node -e <script>`: a command for `run` that does what the script says. */
export const node = (script: string): string[] => ["--", process.execPath, "-e", script];

/** A command that prints "started", then exits with `code` after `ms`. */
export const sleeper = (ms: number, code = 0): string[] =>
  node(`console.log("started"); setTimeout(() => process.exit(${code}), ${ms})`);

/**
 * A command that prints "started", then runs until quorumlock's stdin (which it inherits) is closed: end it with
 * `running.child.stdin.end()`, so a test does not depend on how long starting other processes takes.
 */
export const holdUntilStdinEnds = (code = 0): string[] =>
  node(
    `console.log("started"); process.stdin.resume(); process.stdin.on("end", () => process.exit(${code}))`,
  );

/**
 * Resolves once process `pid` is gone: kill(pid, 0) says ESRCH, or it is a zombie (dead; where PID 1 does not
 * reap orphans, as in many containers, a killed orphan stays one). Rejects if it is still running after `ms`.
 */
export async function gone(pid: number, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  for (let pause = 5; running(pid); pause = Math.min(pause * 2, 100)) {
    if (performance.now() > deadline) throw new Error(`process ${pid} still runs after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/**
 * Resolves once process `pid` ignores `signal` (Linux: /proc/<pid>/status's SigIgn mask). A shell forks a
 * background job first and sets its SIGINT to ignored in the child afterwards: on a busy machine the parent can
 * print its next line before the child has run that far, and a SIGINT sent then kills the job.
 */
export async function ignoring(pid: number, signal: NodeJS.Signals, ms = 5_000): Promise<void> {
  const bit = 1n << BigInt(constants.signals[signal] - 1);
  const deadline = performance.now() + ms;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const mask = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
    if (mask & bit) return;
    if (performance.now() > deadline)
      throw new Error(`process ${pid} does not ignore ${signal} after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
  if (!existsSync("/proc")) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"; // "pid (comm) state …"
  } catch {
    return false; // reaped meanwhile
  }
}

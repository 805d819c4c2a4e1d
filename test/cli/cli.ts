// Runs the `quorumlock` command as a real process (TypeScript through tsx), with its output collected and a
// way to wait for a line instead of sleeping.
import { type ChildProcess, spawn } from "node:child_process";
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

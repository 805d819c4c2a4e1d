/**
 * Child Node processes (TypeScript through tsx) that talk to the test over IPC: lock contenders that
 * really run in parallel, and clients that can be frozen with SIGSTOP to simulate a long GC pause.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { inspect } from "node:util";
import { reapOnExit } from "./reaper.js";

const DEFAULT_WAIT_MS = 10_000;

export interface WorkerProcess extends AsyncDisposable {
  readonly pid: number;
  /** Every message the worker has sent so far, in order (whether or not {@link waitFor} consumed it). */
  readonly received: readonly unknown[];
  /** Resolves with the exit code, or `null` when a signal ended the worker. */
  readonly exited: Promise<number | null>;
  /** Sends a message over IPC; throws if the worker is no longer connected. */
  send(message: unknown): void;
  /**
   * Resolves with the first not-yet-consumed message that matches, and consumes it (a mailbox: a message
   * that arrived before the call is not missed, and no message satisfies two calls). Rejects after
   * `timeoutMs` (default 10 s), or as soon as the worker exits without sending a match.
   */
  waitFor<T>(predicate: (message: unknown) => message is T, timeoutMs?: number): Promise<T>;
  waitFor(predicate: (message: unknown) => boolean, timeoutMs?: number): Promise<unknown>;
  /** SIGSTOP: the worker's timers and sockets freeze, like a process stuck in a long pause. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** SIGKILL; resolves once the worker has exited. Idempotent. */
  kill(): Promise<void>;
}

interface Waiter {
  readonly predicate: (message: unknown) => boolean;
  resolve(message: unknown): void;
  reject(error: Error): void;
}

/** Runs `scriptPath` (TypeScript or JavaScript) in a child Node process with an IPC channel. */
export function spawnWorker(
  scriptPath: string,
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): WorkerProcess {
  // Resolved here so the child finds tsx whatever its working directory.
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), scriptPath, ...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...env },
  });
  const pid = child.pid;
  if (pid === undefined) {
    child.on("error", () => {});
    throw new Error(`could not spawn a worker for ${scriptPath}`);
  }
  const untrack = reapOnExit(child);

  const received: unknown[] = [];
  const mailbox: unknown[] = [];
  const waiters = new Set<Waiter>();
  let exitCode: number | null | undefined;
  const describe = (): string => `worker pid ${pid} (${scriptPath})`;

  child.on("message", (message: unknown) => {
    received.push(message);
    for (const waiter of waiters) {
      if (waiter.predicate(message)) {
        waiter.resolve(message);
        return;
      }
    }
    mailbox.push(message);
  });
  // A failed send after the worker died surfaces through `exited` and waitFor; don't crash the test.
  child.on("error", () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      untrack();
      exitCode = code;
      for (const waiter of waiters) {
        waiter.reject(new Error(`${describe()} exited with code ${code} before sending a matching message`));
      }
      resolve(code);
    });
  });

  const waitFor = (
    predicate: (message: unknown) => boolean,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<unknown> => {
    const index = mailbox.findIndex((message) => predicate(message));
    if (index >= 0) return Promise.resolve(mailbox.splice(index, 1)[0]);
    if (exitCode !== undefined) {
      return Promise.reject(
        new Error(
          `${describe()} exited with code ${exitCode} before sending a message matching ${predicate}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (message) => {
          settle();
          resolve(message);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const pending = inspect(mailbox, { depth: 4, breakLength: Number.POSITIVE_INFINITY });
        waiter.reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${describe()} to send a message matching ${predicate}; ` +
              `unconsumed messages: ${pending}`,
          ),
        );
      }, timeoutMs);
      const settle = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      waiters.add(waiter);
    });
  };

  const kill = async (): Promise<void> => {
    if (exitCode === undefined) child.kill("SIGKILL");
    await exited;
  };

  return {
    pid,
    received,
    exited,
    send(message) {
      if (!child.connected) throw new Error(`cannot send to ${describe()}: it is not connected (exited?)`);
      child.send(message as Parameters<ChildProcess["send"]>[0]);
    },
    // One implementation behind both overloads: the type guard only narrows the caller's type.
    waitFor: waitFor as WorkerProcess["waitFor"],
    pause() {
      child.kill("SIGSTOP");
    },
    resume() {
      child.kill("SIGCONT");
    },
    kill,
    [Symbol.asyncDispose]: kill,
  };
}

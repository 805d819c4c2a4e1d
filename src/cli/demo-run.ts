// The demo's run: worker processes contend for one lock while this process keeps the shared counter (a fencing
// register), records every critical section, kills a node part way, and shows progress.
import { type ChildProcess, fork } from "node:child_process";
import { fromMessage, type HoldMessage } from "./contention.js";
import { FencedCounter, type Hold, type Summary } from "./demo-report.js";
import type { FromWorker, ToWorker } from "./demo-worker.js";
import type { RedisNodes } from "./local-redis.js";

export interface ContendOptions {
  readonly nodes: string[];
  /** The nodes the demo started: only these may be killed. */
  readonly local: RedisNodes | undefined;
  readonly processes: number;
  readonly workers: number;
  readonly durationMs: number;
}

/** Workers start slowly under tsx (each compiles the CLI); the clock starts once they all are ready. */
const READY_DEADLINE_MS = 30_000;
/** After the duration: how long workers get to finish their last section and exit. */
const FINISH_DEADLINE_MS = 15_000;
/** When the node is killed, as a fraction of the duration. */
const KILL_AT = 0.4;

/** What the parent records while the workers run. */
class Records {
  readonly counter = new FencedCounter();
  readonly holds: Hold[] = [];
  readonly errors = new Map<string, number>();
  readonly trouble: string[] = [];

  readonly onMessage = (child: ChildProcess, m: FromWorker) => {
    if (m.type === "read" || m.type === "write") child.send(serve(this.counter, m) satisfies ToWorker);
    else if (m.type === "hold") this.holds.push(section(m));
    else if (m.type === "error") this.errors.set(m.code, (this.errors.get(m.code) ?? 0) + 1);
  };
}

export async function contend(o: ContendOptions): Promise<Summary & { interrupted: boolean }> {
  const records = new Records();
  const starting = performance.now();
  const children = Array.from({ length: o.processes }, () =>
    startWorker(o, `demo:counter:${process.pid}`, records.onMessage),
  );
  const exited = Promise.all(children.map((c) => c.exited));
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    for (const c of children) c.child.kill("SIGKILL");
  };
  process.once("SIGINT", interrupt);
  const { holds, counter, errors, trouble } = records;
  const summary = (elapsedMs: number, killed: Summary["killed"]) => ({
    holds,
    counter,
    errors,
    trouble,
    elapsedMs,
    killed,
    killPlanned: victimOf(o) !== undefined,
    interrupted,
  });
  try {
    const ready = await Promise.race([
      Promise.all(children.map((c) => c.ready)).then(() => true),
      exited.then(() => false),
      timeout(READY_DEADLINE_MS, false),
    ]);
    if (!ready) {
      trouble.push(interrupted ? "interrupted while starting" : "the worker processes did not all start");
      return summary(0, undefined);
    }
    const startup = ((performance.now() - starting) / 1000).toFixed(1);
    console.log(`${o.processes} worker processes ready after ${startup}s; go`);
    const { elapsedMs, killed, finished } = await runFor(o, children, exited, records);
    if (interrupted) trouble.push(`interrupted after ${(elapsedMs / 1000).toFixed(1)}s`);
    else if (!finished) trouble.push("some workers did not finish in time");
    else if (children.some((c) => c.child.exitCode !== 0)) trouble.push("some worker processes failed");
    return summary(elapsedMs, killed);
  } finally {
    process.off("SIGINT", interrupt);
    for (const c of children) c.child.kill("SIGKILL");
  }
}

/** Starts the clock, kills a node part way, shows progress, and waits for the workers to finish. */
async function runFor(
  o: ContendOptions,
  children: readonly Worker[],
  exited: Promise<unknown>,
  records: Records,
) {
  for (const c of children) c.child.send({ type: "go", durationMs: o.durationMs } satisfies ToWorker);
  const began = performance.now();
  const progress = new Progress(o, records.holds, records.counter, began);
  const killing = killOneNode(o, progress);
  const finished = await Promise.race([
    exited.then(() => true),
    timeout(o.durationMs + FINISH_DEADLINE_MS, false),
  ]);
  const elapsedMs = Math.min(performance.now() - began, o.durationMs);
  progress.stop();
  return { elapsedMs, killed: await killing.done(), finished };
}

/** The counter's side of a read or write: refused when the fence is stale. */
function serve(counter: FencedCounter, m: Extract<FromWorker, { type: "read" | "write" }>): ToWorker {
  const ok = counter.admit(m.fence);
  if (ok && m.type === "write") counter.write(m.value!);
  return { type: "reply", id: m.id, ok, value: counter.value };
}

/** A worker's section as the report sees it (a demo worker sends every field). */
function section(m: HoldMessage): Hold {
  const hold = fromMessage(m);
  return { ...hold, fence: hold.fence!, valid: hold.valid!, waitMs: Number(hold.start - hold.asked!) / 1e6 };
}

interface Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

/** A worker is this same program (dist/cli/main.js, or src/cli/main.ts with tsx in execArgv). */
function startWorker(
  o: ContendOptions,
  resource: string,
  onMessage: (child: ChildProcess, m: FromWorker) => void,
): Worker {
  const child = fork(process.argv[1]!, ["__demo-worker"], {
    env: {
      ...process.env,
      QL_DEMO_NODES: JSON.stringify(o.nodes),
      QL_DEMO_RESOURCE: resource,
      QL_DEMO_WORKERS: String(o.workers),
    },
  });
  const ready = new Promise<void>((resolve) => {
    child.on("message", (m: FromWorker) => (m.type === "ready" ? resolve() : onMessage(child, m)));
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return { child, ready, exited };
}

function timeout<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** Only a node the demo started; and with fewer than 3 nodes, killing one would stop everything. */
const victimOf = (o: ContendOptions) => (o.local && o.local.length >= 3 ? o.local.at(-1) : undefined);

/** Kills one node part way. */
function killOneNode(o: ContendOptions, progress: Progress) {
  const victim = victimOf(o);
  let killed: Promise<Summary["killed"]> = Promise.resolve(undefined);
  const timer = victim
    ? setTimeout(() => {
        const atMs = o.durationMs * KILL_AT;
        killed = victim.kill().then(() => ({ url: victim.url, atMs }));
        progress.note(`killed node ${victim.url} (kill -9)`);
      }, o.durationMs * KILL_AT)
    : undefined;
  return {
    done: () => {
      clearTimeout(timer);
      return killed;
    },
  };
}

/** A live line on a terminal; a plain line every 2 s otherwise (logs, CI). */
class Progress {
  readonly #live = process.stdout.isTTY === true;
  readonly #timer: NodeJS.Timeout;
  #lastLine = 0;

  constructor(
    readonly o: ContendOptions,
    readonly holds: readonly Hold[],
    readonly counter: FencedCounter,
    readonly began: number,
  ) {
    this.#timer = setInterval(() => this.#show(false), this.#live ? 200 : 500);
  }

  note(line: string): void {
    process.stdout.write(`${this.#live ? "\r\x1b[K" : ""}${line}\n`);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#show(true);
  }

  #show(final: boolean): void {
    const elapsed = (performance.now() - this.began) / 1000;
    const sections = this.holds.length;
    const up = this.o.local ? this.o.local.filter((n) => n.pid !== undefined).length : this.o.nodes.length;
    const line =
      `[${elapsed.toFixed(1).padStart(5)}s] sections ${String(sections).padStart(6)} ` +
      `(${(sections / Math.max(elapsed, 0.001)).toFixed(0)}/s)  counter ${this.counter.value}  ` +
      `nodes up ${up}/${this.o.nodes.length}  stale writes rejected ${this.counter.refused}`;
    if (this.#live) process.stdout.write(`\r\x1b[K${line}${final ? "\n" : ""}`);
    else if (final || elapsed - this.#lastLine >= 2) {
      this.#lastLine = elapsed;
      console.log(line);
    }
  }
}

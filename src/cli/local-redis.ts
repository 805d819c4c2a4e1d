/**
 * Real `redis-server` processes on free loopback ports, for `quorumlock demo` (which kills one part way). The test
 * harness (test/harness/redis-node.ts) builds on these to pause and restart nodes too. Every child is SIGKILLed
 * when this process exits, so none can outlive it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { reapOnExit } from "./reaper.js";

const HOST = "127.0.0.1";
/** The machine's shared Redis; never start on it, never talk to it. */
const RESERVED_PORT = 6379;
const READY_DEADLINE_MS = 10_000;
const READY_POLL_MS = 20;
const PORT_ATTEMPTS = 5;
const LOG_TAIL_CHARS = 4_000;

export interface RedisNode extends AsyncDisposable {
  readonly host: typeof HOST;
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** `undefined` while the node is killed or stopped. */
  readonly pid: number | undefined;
  /** SIGKILL; resolves once the process has exited. No-op when not running. */
  kill(): Promise<void>;
  /** Final stop; idempotent. */
  stop(): Promise<void>;
}

export interface RedisNodes<N extends RedisNode = RedisNode> extends ReadonlyArray<N>, AsyncDisposable {
  urls(): string[];
  stopAll(): Promise<void>;
}

let redisServerPath: string | undefined;
function findRedisServer(): string {
  if (redisServerPath !== undefined) return redisServerPath;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      redisServerPath = candidate;
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    "redis-server was not found on PATH. The test harness runs real Redis servers: install one with " +
      "`apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).",
  );
}

async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, HOST, resolve);
    });
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (port !== RESERVED_PORT) return port;
  }
}

/** One raw RESP PING; true only on `+PONG` (a node still loading answers `-LOADING`). */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = "";
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
    socket.on("data", (chunk: string) => {
      reply += chunk;
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

/** The port was taken before redis-server could bind it. */
export class AddressInUseError extends Error {}

export interface RedisProcess {
  readonly child: ChildProcess;
  /** Resolves after exit and after stdout/stderr are drained, so the log tail is complete. */
  readonly closed: Promise<void>;
}

/**
 * Spawns redis-server on `port` (with `extraArgs` appended) and resolves once it answers PING. `wrapper`, when
 * given, is a command that runs it (valgrind with its options, for the benchmark's instruction counts).
 */
export async function launchRedis(
  port: number,
  extraArgs: readonly string[] = [],
  wrapper: readonly string[] = [],
): Promise<RedisProcess> {
  const args = [
    ...["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
    ...["--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning", "--logfile", ""],
    // Nothing is persisted, but keep any stray dump.rdb out of the repository.
    ...["--dir", tmpdir()],
    ...extraArgs,
  ];
  const [file, ...before] = [...wrapper, findRedisServer()];
  const child = spawn(file!, [...before, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const untrack = reapOnExit(child);
  let log = "";
  const keepTail = (chunk: Buffer): void => {
    log = (log + chunk.toString("utf8")).slice(-LOG_TAIL_CHARS);
  };
  child.stdout?.on("data", keepTail);
  child.stderr?.on("data", keepTail);
  let spawnError: Error | undefined;
  let exited = false;
  const closed = new Promise<void>((resolve) => {
    child.once("error", (error) => {
      spawnError = error;
      exited = true;
      untrack();
      resolve();
    });
    child.once("close", () => {
      exited = true;
      untrack();
      resolve();
    });
  });

  const deadline = performance.now() + READY_DEADLINE_MS;
  for (;;) {
    if (exited) {
      await closed;
      if (/Address already in use/.test(log)) throw new AddressInUseError(`port ${port} is in use`);
      throw new Error(
        `redis-server on port ${port} exited before answering PING` +
          (spawnError ? ` (${spawnError.message})` : "") +
          `. Log tail:\n${log}`,
      );
    }
    if (await ping(port, 500)) return { child, closed };
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      await closed;
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${READY_DEADLINE_MS} ms. Log tail:\n${log}`,
      );
    }
    await sleep(READY_POLL_MS);
  }
}

/** A redis-server this process started. Subclasses (the test harness) may start it again in its place. */
export class LocalRedisNode implements RedisNode {
  readonly host = HOST;
  readonly port: number;
  /** The live process, `undefined` while killed or stopped. */
  protected running: RedisProcess | undefined;
  #lastExit: Promise<void> = Promise.resolve();

  constructor(port: number, running: RedisProcess) {
    this.port = port;
    this.running = running;
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  kill(): Promise<void> {
    const running = this.running;
    if (running !== undefined) {
      this.running = undefined;
      running.child.kill("SIGKILL");
      this.#lastExit = running.closed;
    }
    return this.#lastExit;
  }

  stop(): Promise<void> {
    return this.kill();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Launches redis-server on a free loopback port, with `extraArgs` appended (and run by `wrapper`, as in
 * {@link launchRedis}); resolves once it answers PING.
 */
export async function launchOnFreePort(
  extraArgs: readonly string[] = [],
  wrapper: readonly string[] = [],
): Promise<RedisProcess & { port: number }> {
  // The OS's free port can be taken before redis binds it (another process starts one too): retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, ...(await launchRedis(port, extraArgs, wrapper)) };
    } catch (error) {
      if (!(error instanceof AddressInUseError) || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/** Starts `count` nodes with `start` in parallel; if one fails, stops the others and rethrows. */
export async function startNodes<N extends RedisNode>(
  count: number,
  start: () => Promise<N>,
): Promise<RedisNodes<N>> {
  if (!Number.isInteger(count) || count < 1) {
    throw new TypeError(`count must be a positive integer, got ${String(count)}`);
  }
  const results = await Promise.allSettled(Array.from({ length: count }, start));
  const nodes = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failure = results.find((result) => result.status === "rejected");
  if (failure !== undefined) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failure.reason;
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  return Object.freeze(
    Object.assign(nodes, {
      urls: () => nodes.map((node) => node.url),
      stopAll,
      [Symbol.asyncDispose]: stopAll,
    }),
  );
}

/** Starts `count` redis-server nodes on free loopback ports, in parallel. */
export function startRedisNodes(count: number): Promise<RedisNodes> {
  return startNodes(count, async () => {
    const { port, ...running } = await launchOnFreePort();
    return new LocalRedisNode(port, running);
  });
}

// The test suite's redis-server nodes: the ones `quorumlock demo` starts (one implementation of launching and
// killing, src/cli/local-redis.ts), plus what only tests do to them: pause, resume, restart, extra arguments.
import {
  AddressInUseError,
  type RedisNode as LocalNode,
  LocalRedisNode,
  type RedisNodes as LocalRedisNodes,
  launchOnFreePort,
  launchRedis,
  type RedisProcess,
  startNodes,
} from "../../src/cli/local-redis.js";

export { reapOnExit } from "../../src/cli/reaper.js";

export interface RedisNode extends LocalNode {
  /** SIGSTOP: the socket stays open but nothing is answered, like a long GC pause or a frozen VM. */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Kills the node if it is running, then starts it again on the same port with empty data; resolves once PING answers. */
  restart(): Promise<void>;
}

export type RedisNodes = LocalRedisNodes<RedisNode>;

export interface StartRedisOptions {
  /** Appended to the harness's arguments, e.g. `["--maxmemory", "10mb"]`. Must not set `--port` or `--bind`. */
  extraArgs?: readonly string[];
}

class TestNode extends LocalRedisNode implements RedisNode {
  readonly #extraArgs: readonly string[];
  #paused = false;
  #stopped = false;

  constructor(port: number, extraArgs: readonly string[], running: RedisProcess) {
    super(port, running);
    this.#extraArgs = extraArgs;
  }

  override kill(): Promise<void> {
    // SIGKILL also ends a stopped process; the SIGCONT just keeps the paused state honest.
    if (this.#paused) this.running?.child.kill("SIGCONT");
    this.#paused = false;
    return super.kill();
  }

  pause(): void {
    this.#child("pause").kill("SIGSTOP");
    this.#paused = true;
  }

  resume(): void {
    this.#child("resume").kill("SIGCONT");
    this.#paused = false;
  }

  async restart(): Promise<void> {
    if (this.#stopped)
      throw new Error(`redis node on port ${this.port} was stopped; start a new one instead`);
    await this.kill();
    try {
      this.running = await launchRedis(this.port, this.#extraArgs);
    } catch (error) {
      if (error instanceof AddressInUseError) {
        throw new Error(`cannot restart redis on port ${this.port}: another process took the port`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  override stop(): Promise<void> {
    this.#stopped = true;
    return super.stop();
  }

  #child(action: string) {
    if (this.running === undefined)
      throw new Error(`cannot ${action} redis on port ${this.port}: it is not running`);
    return this.running.child;
  }
}

/** Starts one redis-server on a free loopback port and resolves once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisNode> {
  const extraArgs = [...(options.extraArgs ?? [])];
  if (extraArgs.some((arg) => arg === "--port" || arg === "--bind")) {
    throw new TypeError("extraArgs must not set --port or --bind: the harness picks a free loopback port");
  }
  const { port, ...running } = await launchOnFreePort(extraArgs);
  return new TestNode(port, extraArgs, running);
}

/** Starts `count` nodes in parallel; if one fails, stops the others and rethrows. */
export function startRedisNodes(count: number, options: StartRedisOptions = {}): Promise<RedisNodes> {
  return startNodes(count, () => startRedis(options));
}

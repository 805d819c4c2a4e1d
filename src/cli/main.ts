// The `quorumlock` command. Each subcommand lives in its own module; this file dispatches and turns every error
// into one line and an exit code.
import { createRequire } from "node:module";
import { demo } from "./demo.js";
import { demoWorker } from "./demo-worker.js";
import { CliError, EXIT } from "./exit-codes.js";
import { breakLock, release } from "./release.js";
import { run } from "./run.js";
import { status } from "./status.js";

const USAGE = `Usage: quorumlock <command> [options]

Commands:
  run <resource> [options] -- <command> [args…]   run a command while holding the lock
  status <resource> [--json] [--show-token]       held or free; per node: holder, TTL left, fence counter
  release <resource> --token <token>              release a lock by its holder's token
  break <resource> --yes                          delete the lock whoever holds it (dangerous)
  demo [--processes n] [--duration 10s]           contending processes on 5 local nodes, one killed part way

Nodes: --nodes url,url, else $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379.
Exit codes: 64 usage error, 69 lock service unavailable, 70 lease lost, 75 busy (run: else the command's own).
Run "quorumlock <command> --help" for a command's options and examples; --version prints the version.`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  run,
  status,
  release,
  break: breakLock,
  demo,
  // Hidden: one of the demo's worker processes (the demo forks this same program).
  "__demo-worker": demoWorker,
};

function command(name: string): Command {
  const found = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!found) {
    throw new CliError(
      `unknown command "${name}"; commands: run, status, release, break, demo (see "quorumlock --help")`,
      EXIT.usage,
    );
  }
  return found;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return EXIT.usage;
  }
  if (name === "--help" || name === "-h" || (name === "help" && rest.length === 0)) {
    console.log(USAGE);
    return EXIT.ok;
  }
  if (name === "help") return command(rest[0]!)(["--help"]);
  if (name === "--version" || name === "-V") {
    // The same path from src/cli/ under tsx and from dist/cli/ once built.
    console.log(createRequire(import.meta.url)("../../package.json").version);
    return EXIT.ok;
  }
  return command(name)(rest);
}

/** One line on stderr and an exit code; the stack only when QUORUMLOCK_DEBUG is set. */
function fail(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  const exit =
    error instanceof CliError
      ? error.code
      : typeof code === "string" && code.startsWith("ERR_INVALID_ARG")
        ? EXIT.usage
        : EXIT.failure;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`quorumlock: ${message.split("\n")[0]}\n`);
  if (process.env.QUORUMLOCK_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return exit;
}

process.on("uncaughtException", (error) => process.exit(fail(error)));
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = fail(error);
  },
);

// The `quorumlock` command. Each subcommand lives in its own module; this file only dispatches and turns
// errors into one line and an exit code.
import { breakLock, release } from "./admin.js";
import { demo } from "./demo.js";
import { demoWorker } from "./demo-worker.js";
import { CliError, EXIT } from "./exit-codes.js";
import { run } from "./run.js";
import { status } from "./status.js";

const USAGE = `Usage: quorumlock <command> [options]

Commands:
  run <resource> [options] -- <command> [args…]   run a command while holding the lock
  status <resource> [--json]                      is it held, where, for how long, fence counter
  release <resource> --token <token>              release a lock you hold the token of
  break <resource> --yes                          delete the lock whoever holds it (dangerous)
  demo [--processes n] [--duration 10s]           contending processes on 5 local nodes, one killed

Nodes: --nodes url,url, else $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379.
Run "quorumlock <command> --help" for a command's options and examples.`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  run,
  status,
  release,
  break: breakLock,
  demo,
  // Internal: one of the demo's worker processes.
  "__demo-worker": demoWorker,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(USAGE);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (!command) throw new CliError(`unknown command "${name}"\n${USAGE}`, EXIT.usage);
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code =
      error instanceof CliError
        ? error.code
        : (error as { code?: string }).code?.startsWith("ERR_INVALID_ARG")
          ? EXIT.usage
          : 1;
    process.stderr.write(`quorumlock: ${(error as Error).message}\n`);
    process.exitCode = code;
  },
);

// `quorumlock demo` (and `npm run demo`): contending workers in several processes take one lock on a quorum of
// Redis nodes and do fenced read-modify-write on a shared counter; a node is killed part way; the report checks
// that the lock kept its promises.
import { report } from "./demo-report.js";
import { contend } from "./demo-run.js";
import { CliError, EXIT, signalExit, usageError } from "./exit-codes.js";
import { type RedisNodes, startRedisNodes } from "./local-redis.js";
import { duration, integer, namedNodes, parse } from "./options.js";

export const DEMO_USAGE = `Usage: quorumlock demo [options]

Starts 5 local Redis nodes (unless nodes are given), runs contending workers in several processes that do fenced
read-modify-write on a shared counter, kills one node part way (kill -9), and reports whether the lock kept its
promises: sections done, lost updates, overlapping holders, fence order, stale writes rejected, wait times.
Needs redis-server on PATH for the local nodes; a node the demo did not start is never killed.

Options:
  --nodes <url,…>       use these Redis masters instead (default: $QUORUMLOCK_NODES, else 5 local nodes)
  --processes <n>       worker processes, 1 to 16 (default 3)
  --workers <n>         async workers per process, 1 to 64 (default 4)
  --duration <time>     how long the workers run, 1s to 10m (default 10s)
  -h, --help            this help

Exit codes: 0 safe; 1 unsafe (overlap, fence inversion or lost update); 69 no redis-server, or no node
answered; 130 interrupted; 64 usage error.

Examples:
  quorumlock demo
  quorumlock demo --processes 4 --workers 8 --duration 30s
  quorumlock demo --nodes redis://a:6379,redis://b:6379,redis://c:6379`;

export async function demo(argv: string[]): Promise<number> {
  const { values, positionals } = parse("demo", argv, {
    processes: { type: "string" },
    workers: { type: "string" },
    duration: { type: "string" },
  });
  if (values.help) {
    console.log(DEMO_USAGE);
    return EXIT.ok;
  }
  if (positionals.length > 0) throw usageError("demo", `unexpected argument "${positionals[0]}"`);
  const processes = integer("demo", "processes", values.processes, 3, [1, 16]);
  const workers = integer("demo", "workers", values.workers, 4, [1, 64]);
  const durationMs = duration("demo", "duration", values.duration, 10_000, [1_000, 600_000]);
  // Not $REDIS_URL: that names the one server an app uses, not a set of nodes to hammer.
  const urls = namedNodes("demo", values.nodes);

  const local = urls ? undefined : await startLocalNodes();
  try {
    const list = urls ?? local!.urls();
    console.log(
      `quorumlock demo: ${list.length} node(s), quorum ${Math.floor(list.length / 2) + 1}; ${processes} processes × ` +
        `${workers} workers contend for one lock for ${durationMs / 1000}s` +
        (local ? "; one node will be killed part way" : ""),
    );
    const summary = await contend({ nodes: list, local, processes, workers, durationMs });
    const { lines, verdict } = report(summary);
    console.log(`\n${lines.join("\n")}`);
    if (summary.interrupted) return signalExit("SIGINT");
    if (!verdict.safe) return EXIT.failure;
    if (summary.holds.length === 0) {
      throw new CliError(
        "no worker ever got the lock: are the nodes up? (see errors above)",
        EXIT.unavailable,
      );
    }
    return EXIT.ok;
  } finally {
    await local?.stopAll();
  }
}

async function startLocalNodes(): Promise<RedisNodes> {
  try {
    return await startRedisNodes(5);
  } catch (error) {
    const message = (error as Error).message;
    throw new CliError(
      /not found|ENOENT/.test(message)
        ? "redis-server is not installed: install it (macOS: brew install redis; Debian/Ubuntu: apt-get install redis-server) or pass --nodes"
        : `could not start local Redis nodes: ${message.split("\n")[0]}`,
      EXIT.unavailable,
    );
  }
}

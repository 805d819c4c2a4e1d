// `npm run demo`: contending workers in several processes take one lock on a quorum of Redis nodes and do
// fenced read-modify-write on a shared counter; a node is killed part way; the report checks safety.
import { type ChildProcess, fork } from "node:child_process";
import { parseArgs } from "node:util";
import ms from "ms";
import { type RedisNodes, startRedisNodes } from "../test/harness/redis-node.js";
import { check, FencedCounter, type Hold, percentile } from "./report.js";

const USAGE = `Usage: npm run demo -- [options]

  --nodes <url,url,…>   use these Redis masters (default: QUORUMLOCK_NODES, else start 5 local nodes)
  --processes <n>       worker processes (default 3)
  --workers <n>         async workers per process (default 4)
  --duration <time>     how long to run, e.g. 10s (default 10s)
  -h, --help            show this help`;

const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;

function fail(message: string, code: number): never {
  console.error(`demo: ${message}`);
  process.exit(code);
}

function options() {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        nodes: { type: "string" },
        processes: { type: "string", default: "3" },
        workers: { type: "string", default: "4" },
        duration: { type: "string", default: "10s" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`, EX_USAGE);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, max: number): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1 || n > max)
      fail(`--${name} must be a whole number from 1 to ${max}`, EX_USAGE);
    return n;
  };
  const duration = ms(String(values.duration) as ms.StringValue);
  if (!Number.isFinite(duration) || duration < 1_000 || duration > 600_000) {
    fail(`--duration must be a time from 1s to 10m, such as "10s" (got "${values.duration}")`, EX_USAGE);
  }
  const listed = (values.nodes as string | undefined) ?? process.env.QUORUMLOCK_NODES;
  return {
    nodes: listed
      ? listed
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    processes: count("processes", 16),
    workers: count("workers", 64),
    duration,
  };
}

const opts = options();
let local: RedisNodes | undefined;
if (!opts.nodes) {
  try {
    local = await startRedisNodes(5);
  } catch (error) {
    const missing = /not found|ENOENT/.test((error as Error).message);
    fail(
      missing
        ? "redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server) or pass --nodes"
        : `could not start local Redis nodes: ${(error as Error).message.split("\n")[0]}`,
      EX_UNAVAILABLE,
    );
  }
}
const nodes = opts.nodes ?? local!.urls();
const quorum = Math.floor(nodes.length / 2) + 1;
const resource = `demo:counter:${process.pid}`;
console.log(
  `quorumlock demo: ${nodes.length} node(s), quorum ${quorum}; ${opts.processes} processes × ${opts.workers} workers ` +
    `contend for "${resource}" for ${ms(opts.duration)}${local ? "; one node will be killed part way" : ""}`,
);

const counter = new FencedCounter();
const holds: Hold[] = [];
const errors = new Map<string, number>();
const began = performance.now();
let killed: string | undefined;

function onMessage(child: ChildProcess, m: Record<string, unknown>): void {
  if (m.type === "read" || m.type === "write") {
    const ok = counter.admit(m.fence as number);
    if (ok && m.type === "write") {
      counter.value = m.value as number;
      counter.writes++;
    }
    child.send({ id: m.id, ok, value: counter.value });
  } else if (m.type === "hold") {
    holds.push({ ...(m as unknown as Hold), start: BigInt(m.start as string), end: BigInt(m.end as string) });
  } else if (m.type === "error") {
    errors.set(m.code as string, (errors.get(m.code as string) ?? 0) + 1);
  }
}

const children = Array.from({ length: opts.processes }, () => {
  const child = fork(new URL("./worker.ts", import.meta.url).pathname, [], {
    execArgv: ["--import", import.meta.resolve("tsx")],
    env: {
      ...process.env,
      QL_DEMO_NODES: JSON.stringify(nodes),
      QL_DEMO_RESOURCE: resource,
      QL_DEMO_WORKERS: String(opts.workers),
      QL_DEMO_DURATION_MS: String(opts.duration),
    },
  });
  child.on("message", (m) => onMessage(child, m as Record<string, unknown>));
  return child;
});
const exited = children.map((child) => new Promise<number | null>((resolve) => child.on("exit", resolve)));

const live = process.stdout.isTTY;
let lastLine = 0;
function progress(final = false): void {
  const elapsed = (performance.now() - began) / 1000;
  const up = local ? local.filter((n) => n.pid !== undefined).length : nodes.length;
  const line =
    `[${elapsed.toFixed(1).padStart(5)}s] sections ${String(holds.length).padStart(6)} ` +
    `(${(holds.length / Math.max(elapsed, 0.001)).toFixed(0)}/s)  nodes up ${up}/${nodes.length}  ` +
    `stale writes refused ${counter.refused}`;
  if (live) process.stdout.write(`\r${line}${final ? "\n" : ""}`);
  else if (final || elapsed - lastLine >= 2) {
    lastLine = elapsed;
    console.log(line);
  }
}
const ticker = setInterval(progress, live ? 200 : 500);
const killer = local
  ? setTimeout(async () => {
      const victim = local!.at(-1)!;
      killed = victim.url;
      await victim.kill();
      if (!live) console.log(`killed node ${victim.url} (kill -9)`);
    }, opts.duration * 0.4)
  : undefined;

async function shutdown(): Promise<void> {
  clearInterval(ticker);
  clearTimeout(killer);
  for (const child of children) child.kill("SIGKILL");
  await local?.stopAll();
}
process.once("SIGINT", () => void shutdown().then(() => process.exit(130)));

const codes = await Promise.race([
  Promise.all(exited),
  new Promise<null>((resolve) => setTimeout(() => resolve(null), opts.duration + 30_000).unref()),
]);
progress(true);
await shutdown();

const verdict = check(holds, counter);
const waits = holds.map((h) => h.waitMs).sort((a, b) => a - b);
const perWorker = new Map<string, number>();
for (const h of holds) perWorker.set(h.worker, (perWorker.get(h.worker) ?? 0) + 1);
const counts = [...perWorker.values()];
const f = (n: number) => `${n.toFixed(1)} ms`;
const row = (label: string, value: string) => console.log(`  ${label.padEnd(24)}${value}`);
console.log("\nReport");
row("sections done", `${holds.length} (${(holds.length / (opts.duration / 1000)).toFixed(0)}/s)`);
row(
  "counter",
  `${counter.value} after ${counter.writes} fenced writes (lost updates: ${verdict.lostUpdates})`,
);
row("overlapping holders", String(verdict.overlaps));
row(
  "fence order",
  verdict.fenceInversions === 0 ? "ok (strictly increasing)" : `${verdict.fenceInversions} inversions`,
);
row("stale fences refused", String(counter.refused));
row(
  "wait p50 / p99 / max",
  `${f(percentile(waits, 50))} / ${f(percentile(waits, 99))} / ${f(waits.at(-1) ?? Number.NaN)}`,
);
row("sections per worker", counts.length ? `${Math.min(...counts)} … ${Math.max(...counts)}` : "none");
row("errors", errors.size ? [...errors].map(([code, n]) => `${code} × ${n}`).join(", ") : "none");
if (killed) row("node killed", `${killed} at ${ms(Math.round(opts.duration * 0.4))}`);
if (codes === null || codes.some((c) => c !== 0)) row("worker processes", "did not all finish cleanly");
console.log(verdict.safe ? "\nSafe: no overlap, fences in order, no lost update." : "\nUNSAFE: see above.");
process.exit(verdict.safe && holds.length > 0 ? 0 : 1);

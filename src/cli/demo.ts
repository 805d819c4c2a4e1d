// `quorumlock demo` (and `npm run demo`): contending workers in several processes take one lock on a quorum of
// Redis nodes and do fenced read-modify-write on a shared counter; a node is killed part way; the report checks
// safety.
import { type ChildProcess, fork } from "node:child_process";
import ms from "ms";
import { check, FencedCounter, type Hold, percentile } from "./demo-report.js";
import { CliError, EXIT } from "./exit-codes.js";
import { type RedisNodes, startRedisNodes } from "./local-redis.js";
import { duration, parse } from "./options.js";

export const DEMO_USAGE = `Usage: quorumlock demo [options]

Starts 5 local Redis nodes (unless --nodes is given), runs contending workers in several processes that do fenced
read-modify-write on a shared counter, kills one node part way, and reports whether the lock kept its promises.

Options:
  --nodes <url,…>       use these Redis masters instead (default: $QUORUMLOCK_NODES, else 5 local nodes)
  --processes <n>       worker processes (default 3)
  --workers <n>         async workers per process (default 4)
  --duration <time>     how long to run (default 10s)
  -h, --help            this help

Example:
  quorumlock demo --processes 4 --duration 20s`;

function count(name: string, value: string | undefined, fallback: number, max: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new CliError(`--${name} must be a whole number from 1 to ${max}; got "${value}"`, EXIT.usage);
  }
  return n;
}

export async function demo(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { processes: { type: "string" }, workers: { type: "string" }, duration: { type: "string" } },
    DEMO_USAGE,
  );
  if (values.help) {
    console.log(DEMO_USAGE);
    return EXIT.ok;
  }
  const processes = count("processes", values.processes, 3, 16);
  const workers = count("workers", values.workers, 4, 64);
  const length = duration("duration", values.duration, 10_000, 1_000);
  const listed = values.nodes ?? process.env.QUORUMLOCK_NODES;
  const given = listed
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);

  let local: RedisNodes | undefined;
  if (!given?.length) {
    try {
      local = await startRedisNodes(5);
    } catch (error) {
      const message = (error as Error).message;
      throw new CliError(
        /not found|ENOENT/.test(message)
          ? "redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server) or pass --nodes"
          : `could not start local Redis nodes: ${message.split("\n")[0]}`,
        EXIT.unavailable,
      );
    }
  }
  try {
    return await contend(given?.length ? given : local!.urls(), local, processes, workers, length);
  } finally {
    await local?.stopAll();
  }
}

async function contend(
  nodes: string[],
  local: RedisNodes | undefined,
  processes: number,
  workers: number,
  length: number,
) {
  const resource = `demo:counter:${process.pid}`;
  console.log(
    `quorumlock demo: ${nodes.length} node(s), quorum ${Math.floor(nodes.length / 2) + 1}; ${processes} processes × ` +
      `${workers} workers contend for "${resource}" for ${ms(length)}${local ? "; one node will be killed part way" : ""}`,
  );
  const counter = new FencedCounter();
  const holds: Hold[] = [];
  const errors = new Map<string, number>();
  const began = performance.now();

  const onMessage = (child: ChildProcess, m: Record<string, unknown>) => {
    if (m.type === "read" || m.type === "write") {
      const ok = counter.admit(m.fence as number);
      if (ok && m.type === "write") {
        counter.value = m.value as number;
        counter.writes++;
      }
      child.send({ id: m.id, ok, value: counter.value });
    } else if (m.type === "hold") {
      holds.push({
        ...(m as unknown as Hold),
        start: BigInt(m.start as string),
        end: BigInt(m.end as string),
      });
    } else if (m.type === "error") {
      errors.set(m.code as string, (errors.get(m.code as string) ?? 0) + 1);
    }
  };
  // The workers are this same program (dist/cli/main.js, or src/cli/main.ts under tsx: execArgv carries tsx).
  const children = Array.from({ length: processes }, () => {
    const child = fork(process.argv[1]!, ["__demo-worker"], {
      env: {
        ...process.env,
        QL_DEMO_NODES: JSON.stringify(nodes),
        QL_DEMO_RESOURCE: resource,
        QL_DEMO_WORKERS: String(workers),
        QL_DEMO_DURATION_MS: String(length),
      },
    });
    child.on("message", (m) => onMessage(child, m as Record<string, unknown>));
    return child;
  });
  const exited = children.map((child) => new Promise<number | null>((resolve) => child.on("exit", resolve)));

  const live = process.stdout.isTTY;
  let lastLine = 0;
  const progress = (final = false) => {
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
  };
  const ticker = setInterval(progress, live ? 200 : 500);
  let killed: string | undefined;
  const killer = local
    ? setTimeout(async () => {
        const victim = local.at(-1)!;
        killed = victim.url;
        await victim.kill();
        if (!live) console.log(`killed node ${victim.url} (kill -9)`);
      }, length * 0.4)
    : undefined;
  const onInterrupt = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.once("SIGINT", onInterrupt);

  const codes = await Promise.race([
    Promise.all(exited),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), length + 30_000).unref()),
  ]);
  progress(true);
  clearInterval(ticker);
  clearTimeout(killer);
  process.off("SIGINT", onInterrupt);
  for (const child of children) child.kill("SIGKILL");

  const verdict = check(holds, counter);
  const waits = holds.map((h) => h.waitMs).sort((a, b) => a - b);
  const perWorker = new Map<string, number>();
  for (const h of holds) perWorker.set(h.worker, (perWorker.get(h.worker) ?? 0) + 1);
  const counts = [...perWorker.values()];
  const f = (n: number) => `${n.toFixed(1)} ms`;
  const row = (label: string, value: string) => console.log(`  ${label.padEnd(24)}${value}`);
  console.log("\nReport");
  row("sections done", `${holds.length} (${(holds.length / (length / 1000)).toFixed(0)}/s)`);
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
  if (killed) row("node killed", `${killed} at ${ms(Math.round(length * 0.4))}`);
  if (codes === null || codes.some((c) => c !== 0)) row("worker processes", "did not all finish cleanly");
  console.log(verdict.safe ? "\nSafe: no overlap, fences in order, no lost update." : "\nUNSAFE: see above.");
  return verdict.safe && holds.length > 0 ? EXIT.ok : 1;
}

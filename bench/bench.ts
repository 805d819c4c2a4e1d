// `npm run bench [-- --quick]`: every library in one run, on redis-server nodes this script starts,
// side by side. Prints markdown tables and writes JSON to bench/results/.
import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { type RedisNodes, startRedisNodes } from "../test/harness/redis-node.js";
import {
  closeLibraries,
  contend,
  HOLD_MS,
  type Hold,
  makeLibraries,
  OUTSIDE_MS,
  requestsSent,
  systemNow,
  warmUp,
  warmUpContended,
} from "./contend.js";
import { exitsByItself } from "./leftovers.js";
import {
  CONTENDERS,
  floor,
  type Library,
  PERMITS,
  quorumlock,
  quorumlockSemaphore,
  redisSemaphore,
  redisSemaphoreSemaphore,
  redlock,
  sesameRedlock,
} from "./libraries.js";
import { printContended, printUncontended } from "./report.js";
import type { Job } from "./worker.js";

const { values } = parseArgs({ options: { quick: { type: "boolean" } } });
/**
 * Seconds per contended row, and per round of an uncontended row (each runs ROUNDS rounds, after one round per
 * library that is not counted: the JIT compilers are still at work in a library's first second).
 */
const SECONDS = values.quick ? 1 : 4;
const ROUND_SECONDS = values.quick ? 0.3 : 1;
const ROUNDS = 5;
const WORKERS = 10;
/** The split rows: the workers over this many processes. */
const PROCESSES = 2;

/** One connection per node for INFO commandstats / RESETSTAT, kept for the whole run. */
function statsClients(urls: readonly string[]): Redis[] {
  return urls.map((url) => new Redis(url));
}

/** Calls served by the nodes since the last reset (INFO commandstats), scripts' inner calls included. */
async function commands(admin: readonly Redis[], reset: boolean): Promise<number> {
  let total = 0;
  for (const client of admin) {
    if (reset) await client.config("RESETSTAT");
    else
      total += [...(await client.info("commandstats")).matchAll(/calls=(\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
  }
  return total;
}

/** CPU time (user + system, µs) the nodes' redis-server processes have used (INFO cpu), summed over the nodes. */
async function serverCpuMicros(admin: readonly Redis[]): Promise<number> {
  let total = 0;
  for (const client of admin) {
    const info = await client.info("cpu");
    for (const field of ["used_cpu_user", "used_cpu_sys"])
      total += Number(new RegExp(`^${field}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN) * 1e6;
  }
  return total;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const median = (xs: number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** One round of acquire + release in a loop on rotating free keys, ROUND_SECONDS long. */
async function uncontendedRound(lib: Library, admin: readonly Redis[]) {
  await commands(admin, true);
  const sent = requestsSent();
  const server = await serverCpuMicros(admin);
  const cpu = process.cpuUsage();
  const until = performance.now() + ROUND_SECONDS * 1000;
  let ops = 0;
  let errors = 0;
  while (performance.now() < until) {
    try {
      const release = await lib.acquire(`bench:free:${ops % 64}`);
      await release();
      ops++;
    } catch {
      errors++;
    }
  }
  const used = process.cpuUsage(cpu);
  const serverUsed = (await serverCpuMicros(admin)) - server;
  const requests = requestsSent() - sent;
  const calls = await commands(admin, false);
  const per = Math.max(ops, 1);
  return {
    opsPerSec: ops / ROUND_SECONDS,
    cpuMicrosPerOp: (used.user + used.system) / per,
    serverCpuMicrosPerOp: serverUsed / per,
    requestsPerOp: requests / per,
    commandsPerOp: calls / per,
    errors,
  };
}

/**
 * Every library open at once; a warm-up round each, then ROUNDS rounds, each running the libraries one after
 * another; medians.
 */
async function uncontended(makers: (() => Library)[], urls: readonly string[], admin: readonly Redis[]) {
  const libs = makers.map((make) => make());
  try {
    for (const lib of libs) {
      await warmUp([lib], "bench:warmup");
      await uncontendedRound(lib, admin);
    }
    const rounds: Awaited<ReturnType<typeof uncontendedRound>>[][] = libs.map(() => []);
    for (let r = 0; r < ROUNDS; r++)
      for (const [i, lib] of libs.entries()) rounds[i]!.push(await uncontendedRound(lib, admin));
    return libs.map((lib, i) => {
      const of = (
        k: "opsPerSec" | "cpuMicrosPerOp" | "serverCpuMicrosPerOp" | "requestsPerOp" | "commandsPerOp",
      ) => median(rounds[i]!.map((x) => x[k]));
      return {
        library: lib.name,
        nodes: urls.length,
        opsPerSec: of("opsPerSec"),
        cpuMicrosPerOp: of("cpuMicrosPerOp"),
        serverCpuMicrosPerOp: of("serverCpuMicrosPerOp"),
        requestsPerOp: of("requestsPerOp"),
        commandsPerOp: of("commandsPerOp"),
        errors: rounds[i]!.reduce((n, x) => n + x.errors, 0),
        rounds: rounds[i]!.map((x) => x.opsPerSec),
      };
    });
  } finally {
    await closeLibraries(libs);
  }
}

interface RunTotals {
  holds: Hold[];
  errors: number;
  requests: number;
  cpuMicros: number;
  calls: number;
}

/** Turns the holds of one contention run into its row. */
function summarise(library: string, urls: readonly string[], run: RunTotals) {
  const holds = [...run.holds].sort((a, b) => a.start - b.start);
  const waits = holds.map((h) => h.waited).sort((a, b) => a - b);
  const handoffs: number[] = [];
  let idle = 0;
  for (let i = 1; i < holds.length; i++) {
    const gap = holds[i]!.start - holds[i - 1]!.end;
    idle = Math.max(idle, gap);
    if (holds[i]!.worker !== holds[i - 1]!.worker) handoffs.push(gap);
  }
  handoffs.sort((a, b) => a - b);
  const per = Array.from({ length: WORKERS }, (_, w) => holds.filter((h) => h.worker === w).length);
  const sections = Math.max(holds.length, 1);
  // Most holders at once (a sweep over the holds' starts and ends): 1 for a lock, at most PERMITS for a semaphore.
  const edges = holds.flatMap((h) => [
    [h.start, 1],
    [h.end, -1],
  ]);
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let holding = 0;
  let mostAtOnce = 0;
  for (const [, step] of edges) {
    holding += step!;
    mostAtOnce = Math.max(mostAtOnce, holding);
  }
  return {
    library,
    nodes: urls.length,
    sectionsPerSec: holds.length / SECONDS,
    waitP50: pct(waits, 50),
    waitP99: pct(waits, 99),
    waitMax: waits.at(-1) ?? Number.NaN,
    handoffP50: pct(handoffs, 50),
    handoffP99: pct(handoffs, 99),
    fewest: Math.min(...per),
    most: Math.max(...per),
    fewestPerMean: Math.min(...per) / (holds.length / WORKERS),
    requestsPerSection: run.requests / sections,
    commandsPerSection: run.calls / sections,
    cpuMicrosPerSection: run.cpuMicros / sections,
    errors: run.errors,
    longestIdleMs: idle,
    mostAtOnce,
  };
}

/** WORKERS loops in this process, on one shared library or one each. */
async function contended(
  id: string,
  urls: readonly string[],
  admin: readonly Redis[],
  key: string,
  own: boolean,
) {
  const libs = makeLibraries(() => CONTENDERS[id]!(urls), WORKERS, own);
  try {
    await warmUpContended(libs, "bench:warmup", `${id}/${urls.length}`);
    await commands(admin, true);
    const cpu = process.cpuUsage();
    const until = systemNow() + SECONDS * 1000;
    const { holds, errors, requests } = await contend(libs, key, until);
    const used = process.cpuUsage(cpu);
    const calls = await commands(admin, false);
    return summarise(libs[0]!.name, urls, {
      holds,
      errors,
      requests,
      cpuMicros: used.user + used.system,
      calls,
    });
  } finally {
    await closeLibraries(libs);
  }
}

type Report = { name: string; holds: Hold[]; errors: number; requests: number; cpuMicros: number };

/** PROCESSES worker processes (worker.ts), started on first use and kept for every split row. */
function workerProcesses() {
  let children: ChildProcess[] | undefined;
  // The next message of a child, or an error if it exits (or reports one) first.
  const reply = <T>(child: ChildProcess) =>
    new Promise<T>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`bench worker exited with ${code}`));
      child.once("exit", exited);
      child.once("message", (m: T | { error: string }) => {
        child.off("exit", exited);
        if (typeof m === "object" && m !== null && "error" in m)
          reject(new Error(`bench worker: ${m.error}`));
        else resolve(m as T);
      });
    });
  return {
    /** Each process makes its share of the WORKERS loops' libraries; `go(until)` runs them in one window. */
    async prepare(id: string, urls: readonly string[], key: string, own: boolean) {
      const script = new URL("./worker.ts", import.meta.url).pathname;
      children ??= Array.from({ length: PROCESSES }, () => fork(script, { execArgv: ["--import", "tsx"] }));
      const each = WORKERS / PROCESSES;
      const ready = children.map((child) => reply<"ready">(child));
      for (const [p, child] of children.entries())
        child.send({ job: { id, urls, key, workers: each, firstWorker: p * each, own } satisfies Job });
      await Promise.all(ready);
      return async (until: number) => {
        const reports = children!.map((child) => reply<Report>(child));
        for (const child of children!) child.send({ until });
        return Promise.all(reports);
      };
    },
    /** Disconnects; each process must then exit by itself with 0 (see leftovers.ts). */
    async close() {
      if (!children) return;
      const codes = await Promise.all(
        children.map((child) => {
          const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
          child.disconnect();
          return exit;
        }),
      );
      if (codes.some((code) => code !== 0)) throw new Error(`bench workers exited with ${codes.join(", ")}`);
    },
  };
}

/** The same WORKERS loops, split over the worker processes, which contend in one window. */
async function contendedAcross(
  processes: ReturnType<typeof workerProcesses>,
  id: string,
  urls: readonly string[],
  admin: readonly Redis[],
  key: string,
  own: boolean,
) {
  const go = await processes.prepare(id, urls, key, own);
  await commands(admin, true);
  const results = await go(systemNow() + SECONDS * 1000);
  const calls = await commands(admin, false);
  return summarise(results[0]!.name, urls, {
    holds: results.flatMap((r) => r.holds),
    errors: results.reduce((n, r) => n + r.errors, 0),
    requests: results.reduce((n, r) => n + r.requests, 0),
    cpuMicros: results.reduce((n, r) => n + r.cpuMicros, 0),
    calls,
  });
}

async function main(nodes1: RedisNodes, nodes5: RedisNodes) {
  const one = nodes1.urls();
  const five = nodes5.urls();
  const admin = { 1: statsClients(one), 5: statsClients(five) };
  const results: Record<string, unknown[]> = {};
  const processes = workerProcesses();
  try {
    console.log(
      `# quorumlock benchmark (Node ${process.version}; contended rows ${SECONDS} s each, uncontended rows the median of ${ROUNDS} rounds of ${ROUND_SECONDS} s after a warm-up round)\n`,
    );
    console.log(
      "Best peer: in throughput columns the peer (redlock, @sesamecare-oss/redlock, redis-semaphore) with the most ops or sections per second; in CPU columns the peer with the least Node CPU per op or section. Node CPU is process.cpuUsage() of the process(es) running the workers, user + system; Redis CPU is what the nodes' redis-server processes used (INFO cpu, user + system, summed over the nodes), their network I/O included.\n",
    );
    for (const [label, urls] of [
      ["(a) uncontended acquire + release, 1 node", one],
      ["(b) uncontended acquire + release, 5 nodes (quorum 3)", five],
    ] as const) {
      const rows = await uncontended(
        [
          () => floor(urls),
          () => quorumlock(urls, "quorumlock"),
          ...(urls.length > 1 ? [() => quorumlock(urls, "quorumlock, fencing off", { fencing: false })] : []),
          () => redlock(urls),
          () => sesameRedlock(urls),
          () => redisSemaphore(urls),
        ],
        urls,
        admin[urls.length as 1 | 5],
      );
      printUncontended(label, rows);
      results[label] = rows;
    }

    const peers = ["redlock", "sesame-redlock", "redis-semaphore"];
    // Fair mode needs a single node: on 5 it is refused (see the README).
    const on1 = ["quorumlock", "quorumlock-fair", "quorumlock-poll", ...peers];
    const on5 = ["quorumlock", "quorumlock-poll", ...peers];
    const load = `${WORKERS} workers contend for one key (hold ${HOLD_MS} ms, ${OUTSIDE_MS} ms outside)`;
    const own = "independent clients: one manager / client set per worker";
    const shared = "one shared manager / client set";
    for (const [row, what, urls, ids, across, independent] of [
      ["c", `${load}, ${own}, 1 node`, one, on1, false, true],
      ["d", `${load}, ${own}, 5 nodes`, five, on5, false, true],
      ["e", `${load}, ${own}, split over ${PROCESSES} processes, 1 node`, one, on1, true, true],
      ["f", `${load}, ${shared}, 1 node`, one, on1, false, false],
      ["g", `${load}, ${shared}, 5 nodes`, five, on5, false, false],
      [
        "h",
        `${load}, ${shared} per process, split over ${PROCESSES} processes, 1 node`,
        one,
        on1,
        true,
        false,
      ],
    ] as const) {
      const label = `(${row}) ${what}`;
      const admins = admin[urls.length as 1 | 5];
      const rows = [];
      for (const id of ids) {
        const key = `bench:busy:${row}:${id}`;
        rows.push(
          await (across
            ? contendedAcross(processes, id, urls, admins, key, independent)
            : contended(id, urls, admins, key, independent)),
        );
      }
      printContended(label, rows);
      results[label] = rows;
    }

    // Counting semaphores, side by side with redis-semaphore's Semaphore (1 node) and RedlockSemaphore (5).
    for (const [label, urls] of [
      [`(i) semaphore (limit ${PERMITS}) uncontended acquire + release, 1 node`, one],
      [`(j) semaphore (limit ${PERMITS}) uncontended acquire + release, 5 nodes`, five],
    ] as const) {
      const rows = await uncontended(
        [() => quorumlockSemaphore(urls, "quorumlock semaphore"), () => redisSemaphoreSemaphore(urls)],
        urls,
        admin[urls.length as 1 | 5],
      );
      printUncontended(label, rows);
      results[label] = rows;
    }
    const semaphores = ["quorumlock-semaphore", "redis-semaphore-semaphore"];
    for (const [row, urls] of [
      ["k", one],
      ["l", five],
    ] as const) {
      const label = `(${row}) semaphore (limit ${PERMITS}): ${load}, ${own}, ${urls.length === 1 ? "1 node" : "5 nodes"}`;
      const rows = [];
      for (const id of semaphores) {
        rows.push(await contended(id, urls, admin[urls.length as 1 | 5], `bench:sem:${row}:${id}`, true));
      }
      printContended(label, rows);
      results[label] = rows;
    }
  } finally {
    for (const client of [...admin[1], ...admin[5]]) client.disconnect();
    await processes.close();
  }

  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const file = new URL(`./results/${values.quick ? "quick" : "latest"}.json`, import.meta.url);
  const settings = { seconds: SECONDS, roundSeconds: ROUND_SECONDS, rounds: ROUNDS, workers: WORKERS };
  writeFileSync(file, `${JSON.stringify({ node: process.version, ...settings, results }, null, 2)}\n`);
  console.log(`JSON: ${file.pathname} (the run took ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

const started = performance.now();
const nodes1 = await startRedisNodes(1);
const nodes5 = await startRedisNodes(5);
try {
  await main(nodes1, nodes5);
} finally {
  await nodes1.stopAll();
  await nodes5.stopAll();
  exitsByItself("bench");
}

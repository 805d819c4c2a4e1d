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
  bareScripts,
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
 * Seconds per contended row, and per round of an uncontended row. An uncontended row runs one warm-up round of
 * WARM_UP_SECONDS per library that is not counted (the JIT compilers are still at work in a library's first
 * second), then ROUNDS short rounds, the libraries taking turns in an order that changes every round: this
 * machine's speed drifts by up to 1.5× within a minute, and many short interleaved rounds give every library the
 * same mix of it (5 rounds of 1 s each had ratios move by ±10% between runs).
 */
const SECONDS = values.quick ? 1 : 4;
/**
 * A contended row measures each library in WINDOWS windows of SECONDS / WINDOWS, the libraries of the row (open and
 * warmed up together) taking turns in an order that changes every window, for the same reason as ROUNDS: run one
 * after another for 4 s each, a row's CPU ratios moved between 1.0× and 1.9× from one run to the next here.
 */
const WINDOWS = values.quick ? 2 : 4;
const ROUND_SECONDS = values.quick ? 0.3 : 0.25;
const ROUNDS = values.quick ? 5 : 20;
const WARM_UP_SECONDS = values.quick ? 0.3 : 1;
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

/** One round of acquire + release in a loop on rotating free keys, `seconds` long. */
async function uncontendedRound(lib: Library, admin: readonly Redis[], seconds = ROUND_SECONDS) {
  await commands(admin, true);
  const sent = requestsSent();
  const server = await serverCpuMicros(admin);
  const cpu = process.cpuUsage();
  const until = performance.now() + seconds * 1000;
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
    opsPerSec: ops / seconds,
    cpuMicrosPerOp: (used.user + used.system) / per,
    serverCpuMicrosPerOp: serverUsed / per,
    requestsPerOp: requests / per,
    commandsPerOp: calls / per,
    errors,
  };
}

/**
 * Every library open at once; a warm-up round each, then ROUNDS rounds, each running the libraries one after
 * another (in turns: see ROUNDS); medians.
 */
async function uncontended(makers: (() => Library)[], urls: readonly string[], admin: readonly Redis[]) {
  const libs = makers.map((make) => make());
  try {
    for (const lib of libs) {
      await warmUp([lib], "bench:warmup");
      await uncontendedRound(lib, admin, WARM_UP_SECONDS);
    }
    const rounds: Awaited<ReturnType<typeof uncontendedRound>>[][] = libs.map(() => []);
    // Each round in another order, so that no library always runs right after the same one.
    for (let r = 0; r < ROUNDS; r++)
      for (let n = 0; n < libs.length; n++) {
        const i = (n + r) % libs.length;
        rounds[i]!.push(await uncontendedRound(libs[i]!, admin));
      }
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

/** Hand-off gaps, the longest idle gap and the most holders at once of one window's holds. */
function windowShape(window: readonly Hold[]) {
  const holds = [...window].sort((a, b) => a.start - b.start);
  const handoffs: number[] = [];
  let idle = 0;
  for (let i = 1; i < holds.length; i++) {
    const gap = holds[i]!.start - holds[i - 1]!.end;
    idle = Math.max(idle, gap);
    if (holds[i]!.worker !== holds[i - 1]!.worker) handoffs.push(gap);
  }
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
  return { handoffs, idle, mostAtOnce };
}

/** Turns a library's contention windows into its row. */
function summarise(library: string, urls: readonly string[], windows: readonly RunTotals[]) {
  const holds = windows.flatMap((w) => w.holds);
  const sum = (of: (w: RunTotals) => number) => windows.reduce((n, w) => n + of(w), 0);
  const shapes = windows.map((w) => windowShape(w.holds));
  const waits = holds.map((h) => h.waited).sort((a, b) => a - b);
  const handoffs = shapes.flatMap((s) => s.handoffs).sort((a, b) => a - b);
  const per = Array.from({ length: WORKERS }, (_, w) => holds.filter((h) => h.worker === w).length);
  const sections = Math.max(holds.length, 1);
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
    requestsPerSection: sum((w) => w.requests) / sections,
    commandsPerSection: sum((w) => w.calls) / sections,
    cpuMicrosPerSection: sum((w) => w.cpuMicros) / sections,
    errors: sum((w) => w.errors),
    longestIdleMs: Math.max(...shapes.map((s) => s.idle)),
    mostAtOnce: Math.max(...shapes.map((s) => s.mostAtOnce)),
  };
}

/**
 * One contended row: `ids`' libraries (WORKERS loops each, on `key(id)`) made and warmed up by `prepare`, then
 * measured by `measure` in WINDOWS windows of SECONDS / WINDOWS, taking turns (see WINDOWS); closed by `close`.
 */
async function interleaved(
  ids: readonly string[],
  urls: readonly string[],
  admin: readonly Redis[],
  runner: {
    prepare(id: string): Promise<void>;
    measure(id: string, until: number): Promise<Omit<RunTotals, "calls"> & { name: string }>;
    close(): Promise<void>;
  },
) {
  try {
    for (const id of ids) await runner.prepare(id);
    const windows: RunTotals[][] = ids.map(() => []);
    const names: string[] = [...ids];
    for (let w = 0; w < WINDOWS; w++)
      for (let n = 0; n < ids.length; n++) {
        const i = (n + w) % ids.length;
        await commands(admin, true);
        const { name, ...run } = await runner.measure(ids[i]!, systemNow() + (SECONDS / WINDOWS) * 1000);
        names[i] = name;
        windows[i]!.push({ ...run, calls: await commands(admin, false) });
      }
    return ids.map((_, i) => summarise(names[i]!, urls, windows[i]!));
  } finally {
    await runner.close();
  }
}

/** A row's WORKERS loops in this process, on one shared library or one each. */
function inProcess(urls: readonly string[], key: (id: string) => string, own: boolean) {
  const made = new Map<string, Library[]>();
  return {
    async prepare(id: string) {
      const libs = makeLibraries(() => CONTENDERS[id]!(urls), WORKERS, own);
      made.set(id, libs);
      await warmUpContended(libs, "bench:warmup", `${id}/${urls.length}`);
    },
    async measure(id: string, until: number) {
      const libs = made.get(id)!;
      const cpu = process.cpuUsage();
      const { holds, errors, requests } = await contend(libs, key(id), until);
      const used = process.cpuUsage(cpu);
      return { name: libs[0]!.name, holds, errors, requests, cpuMicros: used.user + used.system };
    },
    async close() {
      for (const libs of made.values()) await closeLibraries(libs);
    },
  };
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
    /** Each process makes its share of the WORKERS loops of `id`'s library, warms them up and keeps them. */
    async prepare(id: string, urls: readonly string[], key: string, own: boolean) {
      const script = new URL("./worker.ts", import.meta.url).pathname;
      children ??= Array.from({ length: PROCESSES }, () => fork(script, { execArgv: ["--import", "tsx"] }));
      const each = WORKERS / PROCESSES;
      const ready = children.map((child) => reply<"ready">(child));
      for (const [p, child] of children.entries())
        child.send({ job: { id, urls, key, workers: each, firstWorker: p * each, own } satisfies Job });
      await Promise.all(ready);
    },
    /** Runs `id`'s loops in every process in one window, until `until`. */
    async measure(id: string, until: number) {
      const reports = children!.map((child) => reply<Report>(child));
      for (const child of children!) child.send({ id, until });
      const results = await Promise.all(reports);
      return {
        name: results[0]!.name,
        holds: results.flatMap((r) => r.holds),
        errors: results.reduce((n, r) => n + r.errors, 0),
        requests: results.reduce((n, r) => n + r.requests, 0),
        cpuMicros: results.reduce((n, r) => n + r.cpuMicros, 0),
      };
    },
    /** Closes every library the processes made. */
    async closeJobs() {
      if (!children) return;
      const closed = children.map((child) => reply<"closed">(child));
      for (const child of children) child.send({ close: true });
      await Promise.all(closed);
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

/** A row's WORKERS loops split over the worker processes, which contend in one window. */
function across(
  processes: ReturnType<typeof workerProcesses>,
  urls: readonly string[],
  key: (id: string) => string,
  own: boolean,
) {
  return {
    prepare: (id: string) => processes.prepare(id, urls, key(id), own),
    measure: (id: string, until: number) => processes.measure(id, until),
    close: () => processes.closeJobs(),
  };
}

async function main(nodes1: RedisNodes, nodes5: RedisNodes) {
  const one = nodes1.urls();
  const five = nodes5.urls();
  const admin = { 1: statsClients(one), 5: statsClients(five) };
  const results: Record<string, unknown[]> = {};
  const processes = workerProcesses();
  try {
    console.log(
      `# quorumlock benchmark (Node ${process.version}; contended rows ${SECONDS} s each in ${WINDOWS} interleaved windows, uncontended rows the median of ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s after a warm-up round of ${WARM_UP_SECONDS} s)\n`,
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
          ...(urls.length === 1 ? [() => bareScripts(urls[0]!, "lock")] : []),
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
    for (const [row, what, urls, ids, split, independent] of [
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
      const key = (id: string) => `bench:busy:${row}:${id}`;
      const rows = await interleaved(
        ids,
        urls,
        admin[urls.length as 1 | 5],
        split ? across(processes, urls, key, independent) : inProcess(urls, key, independent),
      );
      printContended(label, rows);
      results[label] = rows;
    }

    // Counting semaphores, side by side with redis-semaphore's Semaphore (1 node) and RedlockSemaphore (5).
    for (const [label, urls] of [
      [`(i) semaphore (limit ${PERMITS}) uncontended acquire + release, 1 node`, one],
      [`(j) semaphore (limit ${PERMITS}) uncontended acquire + release, 5 nodes`, five],
    ] as const) {
      const rows = await uncontended(
        [
          () => quorumlockSemaphore(urls, "quorumlock semaphore"),
          ...(urls.length === 1 ? [() => bareScripts(urls[0]!, "semaphore")] : []),
          () => redisSemaphoreSemaphore(urls),
        ],
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
      const key = (id: string) => `bench:sem:${row}:${id}`;
      const rows = await interleaved(
        semaphores,
        urls,
        admin[urls.length as 1 | 5],
        inProcess(urls, key, true),
      );
      printContended(label, rows);
      results[label] = rows;
    }
  } finally {
    for (const client of [...admin[1], ...admin[5]]) client.disconnect();
    await processes.close();
  }

  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const file = new URL(`./results/${values.quick ? "quick" : "latest"}.json`, import.meta.url);
  const settings = {
    seconds: SECONDS,
    roundSeconds: ROUND_SECONDS,
    rounds: ROUNDS,
    warmUpSeconds: WARM_UP_SECONDS,
    workers: WORKERS,
  };
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

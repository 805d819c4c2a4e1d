// `npm run bench [-- --quick]`: every library in one run, on redis-server nodes this script starts,
// side by side. Prints markdown tables and writes JSON to bench/results/.
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { type RedisNodes, startRedisNodes } from "../test/harness/redis-node.js";
import { contend, HOLD_MS, type Hold, OUTSIDE_MS, systemNow } from "./contend.js";
import {
  CONTENDERS,
  floor,
  type Library,
  quorumlock,
  redisSemaphore,
  redlock,
  sesameRedlock,
} from "./libraries.js";

const { values } = parseArgs({ options: { quick: { type: "boolean" } } });
const SECONDS = values.quick ? 1.5 : 4;
const WORKERS = 10;
/** Row (e): the workers split over this many processes. */
const PROCESSES = 2;

/** Calls served by the nodes since the last reset (INFO commandstats), scripts' inner calls included. */
async function commands(urls: readonly string[], reset: boolean): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const client = new Redis(url);
    if (reset) await client.config("RESETSTAT");
    else
      total += [...(await client.info("commandstats")).matchAll(/calls=(\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    client.disconnect();
  }
  return total;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function uncontended(lib: Library, urls: readonly string[]) {
  const until = performance.now() + SECONDS * 1000;
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
  return { library: lib.name, nodes: urls.length, opsPerSec: ops / SECONDS, errors };
}

/** Turns the holds of one contention run into its row. */
function summarise(
  library: string,
  urls: readonly string[],
  run: { holds: Hold[]; errors: number; requests: number; cpuMicros: number; calls: number },
) {
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
    requestsPerSection: run.requests / Math.max(holds.length, 1),
    commandsPerSection: run.calls / Math.max(holds.length, 1),
    cpuMsPerSection: run.cpuMicros / 1000 / Math.max(holds.length, 1),
    errors: run.errors,
    longestIdleMs: idle,
  };
}

/** WORKERS loops in this process. */
async function contended(id: string, urls: readonly string[]) {
  const lib = CONTENDERS[id]!(urls);
  try {
    await lib.acquire("bench:warmup").then((release) => release());
    await commands(urls, true);
    const cpu = process.cpuUsage();
    const until = systemNow() + SECONDS * 1000;
    const { holds, errors, requests } = await contend(lib, `bench:busy:${id}`, WORKERS, until);
    const used = process.cpuUsage(cpu);
    const calls = await commands(urls, false);
    return summarise(lib.name, urls, { holds, errors, requests, cpuMicros: used.user + used.system, calls });
  } finally {
    await lib.close();
  }
}

/** The same WORKERS loops, split over PROCESSES worker processes that run in one window. */
async function contendedAcross(id: string, urls: readonly string[]) {
  const each = WORKERS / PROCESSES;
  const script = new URL("./worker.ts", import.meta.url).pathname;
  const children = Array.from({ length: PROCESSES }, (_, p) =>
    fork(script, [id, urls.join(","), `bench:busy:2p:${id}`, String(each), String(p * each)], {
      execArgv: ["--import", "tsx"],
    }),
  );
  try {
    const reports = children.map(
      (child) =>
        new Promise<{ name: string; holds: Hold[]; errors: number; requests: number; cpuMicros: number }>(
          (resolve, reject) => {
            child.on("message", (m) => {
              if (m !== "ready") resolve(m as never);
            });
            child.on("exit", (code) => reject(new Error(`bench worker exited with ${code}`)));
          },
        ),
    );
    await Promise.all(children.map((child) => new Promise((resolve) => child.once("message", resolve))));
    await commands(urls, true);
    const until = systemNow() + SECONDS * 1000;
    for (const child of children) child.send({ until });
    const results = await Promise.all(reports);
    const calls = await commands(urls, false);
    return summarise(results[0]!.name, urls, {
      holds: results.flatMap((r) => r.holds),
      errors: results.reduce((n, r) => n + r.errors, 0),
      requests: results.reduce((n, r) => n + r.requests, 0),
      cpuMicros: results.reduce((n, r) => n + r.cpuMicros, 0),
      calls,
    });
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
}

async function run<T>(
  make: () => Library,
  urls: readonly string[],
  scenario: (l: Library, u: readonly string[]) => Promise<T>,
) {
  const lib = make();
  try {
    await lib.acquire("bench:warmup").then((release) => release());
    return await scenario(lib, urls);
  } finally {
    await lib.close();
  }
}

const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

async function main(nodes1: RedisNodes, nodes5: RedisNodes) {
  const one = nodes1.urls();
  const five = nodes5.urls();
  const results: Record<string, unknown[]> = {};

  console.log(`# quorumlock benchmark (${SECONDS} s per run, Node ${process.version})\n`);
  for (const [label, urls] of [
    ["(a) uncontended acquire + release, 1 node", one],
    ["(b) uncontended acquire + release, 5 nodes (quorum 3)", five],
  ] as const) {
    const libs = [
      () => floor(urls),
      () => quorumlock(urls, "quorumlock"),
      ...(urls.length > 1 ? [() => quorumlock(urls, "quorumlock, fencing off", { fencing: false })] : []),
      () => redlock(urls),
      () => sesameRedlock(urls),
      () => redisSemaphore(urls),
    ];
    const rows = [];
    for (const make of libs) rows.push(await run(make, urls, uncontended));
    const base = rows[0]!.opsPerSec;
    const bestPeer = Math.max(
      ...rows
        .filter((r) => !r.library.startsWith("quorumlock") && !r.library.startsWith("floor"))
        .map((r) => r.opsPerSec),
    );
    console.log(
      `## ${label}\n\n| library | ops/s | × floor | × best peer | errors |\n| --- | ---: | ---: | ---: | ---: |`,
    );
    for (const r of rows)
      console.log(
        `| ${r.library} | ${f(r.opsPerSec, 0)} | ${f(r.opsPerSec / base, 2)} | ${f(r.opsPerSec / bestPeer, 2)} | ${r.errors} |`,
      );
    console.log("");
    results[label] = rows;
  }

  const peers = ["redlock", "sesame-redlock", "redis-semaphore"];
  for (const [label, urls, ids, across] of [
    [
      `(c) ${WORKERS} workers contend for one key (hold ${HOLD_MS} ms, ${OUTSIDE_MS} ms outside), 1 node`,
      one,
      ["quorumlock", "quorumlock-fair", "quorumlock-poll", ...peers],
      false,
    ],
    // Fair mode needs a single node: on 5 it is refused (see the README).
    [`(d) the same on 5 nodes`, five, ["quorumlock", "quorumlock-poll", ...peers], false],
    [
      `(e) the same, the workers split over ${PROCESSES} processes, 1 node`,
      one,
      ["quorumlock", "quorumlock-fair", "quorumlock-poll", ...peers],
      true,
    ],
  ] as const) {
    const rows = [];
    for (const id of ids) rows.push(await (across ? contendedAcross(id, urls) : contended(id, urls)));
    console.log(
      `## ${label}\n\n| library | sections/s | wait p50 / p99 / max ms | handoff p50 / p99 ms | fewest … most per worker | requests / commands per section | CPU ms/section | errors | longest idle ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    );
    for (const r of rows) {
      console.log(
        `| ${r.library} | ${f(r.sectionsPerSec, 0)} | ${f(r.waitP50)} / ${f(r.waitP99)} / ${f(r.waitMax, 0)} | ${f(r.handoffP50, 2)} / ${f(r.handoffP99, 2)} | ${r.fewest} … ${r.most} | ${f(r.requestsPerSection)} / ${f(r.commandsPerSection)} | ${f(r.cpuMsPerSection, 2)} | ${r.errors} | ${f(r.longestIdleMs, 0)} |`,
      );
    }
    console.log("");
    results[label] = rows;
  }

  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const file = new URL(`./results/${values.quick ? "quick" : "latest"}.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify({ node: process.version, seconds: SECONDS, results }, null, 2)}\n`);
  console.log(`JSON: ${file.pathname}`);
}

const nodes1 = await startRedisNodes(1);
const nodes5 = await startRedisNodes(5);
try {
  await main(nodes1, nodes5);
} finally {
  await nodes1.stopAll();
  await nodes5.stopAll();
}

// `npm run bench [-- --quick]`: every library in one run, on redis-server nodes this script starts,
// side by side. Prints markdown tables and writes JSON to bench/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { type RedisNodes, startRedisNodes } from "../test/harness/redis-node.js";
import { floor, type Library, quorumlock, redisSemaphore, redlock, sesameRedlock } from "./libraries.js";

const { values } = parseArgs({ options: { quick: { type: "boolean" } } });
const SECONDS = values.quick ? 1.5 : 4;
const WORKERS = 10;
const HOLD_MS = 1;
const OUTSIDE_MS = 1;

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

async function contended(lib: Library, urls: readonly string[]) {
  const key = `bench:busy:${lib.name}`;
  await commands(urls, true);
  const cpu = process.cpuUsage();
  const until = performance.now() + SECONDS * 1000;
  const holds: { worker: number; start: number; end: number; waited: number }[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, worker) => {
      while (performance.now() < until) {
        const asked = performance.now();
        try {
          const release = await lib.acquire(key);
          const start = performance.now();
          await sleep(HOLD_MS);
          const end = performance.now();
          holds.push({ worker, start, end, waited: start - asked });
          await release();
        } catch {
          errors++;
        }
        await sleep(OUTSIDE_MS);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  const calls = await commands(urls, false);
  holds.sort((a, b) => a.start - b.start);
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
    library: lib.name,
    nodes: urls.length,
    sectionsPerSec: holds.length / SECONDS,
    waitP50: pct(waits, 50),
    waitP99: pct(waits, 99),
    waitMax: waits.at(-1) ?? Number.NaN,
    handoffP50: pct(handoffs, 50),
    handoffP99: pct(handoffs, 99),
    fewest: Math.min(...per),
    most: Math.max(...per),
    commandsPerSection: calls / Math.max(holds.length, 1),
    cpuMsPerSection: (used.user + used.system) / 1000 / Math.max(holds.length, 1),
    errors,
    longestIdleMs: idle,
  };
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

  for (const [label, urls] of [
    [
      `(c) ${WORKERS} workers contend for one key (hold ${HOLD_MS} ms, ${OUTSIDE_MS} ms outside), 1 node`,
      one,
    ],
    [`(d) the same on 5 nodes`, five],
  ] as const) {
    const libs = [
      () => quorumlock(urls, "quorumlock (pub/sub)"),
      () => quorumlock(urls, "quorumlock (poll)", { wakeup: "poll" }),
      () => redlock(urls),
      () => sesameRedlock(urls),
      () => redisSemaphore(urls),
    ];
    const rows = [];
    for (const make of libs) rows.push(await run(make, urls, contended));
    console.log(
      `## ${label}\n\n| library | sections/s | wait p50 / p99 / max ms | handoff p50 / p99 ms | fewest … most per worker | commands/section | CPU ms/section | errors | longest idle ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    );
    for (const r of rows) {
      console.log(
        `| ${r.library} | ${f(r.sectionsPerSec, 0)} | ${f(r.waitP50)} / ${f(r.waitP99)} / ${f(r.waitMax, 0)} | ${f(r.handoffP50, 2)} / ${f(r.handoffP99, 2)} | ${r.fewest} … ${r.most} | ${f(r.commandsPerSection)} | ${f(r.cpuMsPerSection, 2)} | ${r.errors} | ${f(r.longestIdleMs, 0)} |`,
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

// `npm run bench:redis-cost`: what one uncontended lock (acquire + release) costs Redis, in instructions,
// counted by valgrind's callgrind on a redis-server of its own per library: repeatable to a fraction of a per
// cent whatever else the machine is doing, where the CPU columns of `npm run bench` vary by ±10–30% here. Counts
// what runs inside the server's command handling (processCommand: the scripts and the commands they call), not
// its network I/O, which costs about the same per request for every library. Needs valgrind (not run by CI).
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { launchOnFreePort } from "../src/cli/local-redis.js";
import {
  type Library,
  quorumlock,
  quorumlockSemaphore,
  redisSemaphore,
  redisSemaphoreSemaphore,
  redlock,
  sesameRedlock,
} from "./libraries.js";

try {
  execFileSync("valgrind", ["--version"], { stdio: "ignore" });
} catch {
  console.error(
    "npm run bench:redis-cost needs valgrind (Debian: apt-get install valgrind), which was not found.",
  );
  process.exit(1);
}

const WARM_UP = 200;
const OPS = 2_000;

let runs = 0;

/** Instructions per acquire + release that `make`'s library costs a redis-server run under callgrind. */
async function instructionsPerOp(make: (urls: readonly string[]) => Library): Promise<number> {
  const out = join(tmpdir(), `quorumlock-callgrind-${process.pid}-${++runs}.out`);
  const valgrind = [
    "valgrind",
    "--tool=callgrind",
    "--toggle-collect=processCommand",
    `--callgrind-out-file=${out}`,
  ];
  const server = await launchOnFreePort([], valgrind);
  const admin = new Redis(server.port, { maxRetriesPerRequest: 0 });
  admin.on("error", () => {});
  try {
    const lib = make([`redis://127.0.0.1:${server.port}`]);
    try {
      const run = async (n: number) => {
        for (let i = 0; i < n; i++) await (await lib.acquire(`bench:cost:${i % 64}`))();
      };
      await run(WARM_UP);
      // Only what follows counts: script loading and the first calls' allocations are behind us.
      execFileSync("callgrind_control", ["--zero", String(server.child.pid)], { stdio: "ignore" });
      await run(OPS);
    } finally {
      await lib.close();
    }
    // A clean shutdown, so that callgrind writes its counts.
    await admin.shutdown("NOSAVE").catch(() => {});
    await server.closed;
    const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(out, "utf8"));
    if (!totals) throw new Error(`no totals in ${out}`);
    return Number(totals[1]) / OPS;
  } finally {
    admin.disconnect();
    server.child.kill("SIGKILL");
    rmSync(out, { force: true });
  }
}

const tables: [string, [string, (urls: readonly string[]) => Library][]][] = [
  [
    "Uncontended acquire + release, 1 node",
    [
      ["quorumlock", (urls) => quorumlock(urls, "quorumlock")],
      ["quorumlock, fencing off", (urls) => quorumlock(urls, "quorumlock", { fencing: false })],
      ["redlock", redlock],
      ["@sesamecare-oss/redlock", sesameRedlock],
      ["redis-semaphore", redisSemaphore],
    ],
  ],
  [
    "Semaphore (limit 3), uncontended acquire + release, 1 node",
    [
      ["quorumlock semaphore", (urls) => quorumlockSemaphore(urls, "quorumlock semaphore")],
      ["redis-semaphore (Semaphore)", redisSemaphoreSemaphore],
    ],
  ],
];

for (const [title, libraries] of tables) {
  const rows: [string, number][] = [];
  for (const [name, make] of libraries) rows.push([name, await instructionsPerOp(make)]);
  const best = Math.min(...rows.filter(([name]) => !name.startsWith("quorumlock")).map(([, n]) => n));
  console.log(`## ${title}\n`);
  console.log("| library | Redis instructions per op | × best peer |");
  console.log("| --- | ---: | ---: |");
  for (const [name, n] of rows)
    console.log(`| ${name} | ${Math.round(n).toLocaleString("en")} | ${(n / best).toFixed(2)} |`);
  console.log("");
}

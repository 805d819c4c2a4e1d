// The benchmark's markdown tables. "× best peer" compares with the best of redlock, @sesamecare-oss/redlock and
// redis-semaphore in the same table: the most ops (sections) per second, the least Node (Redis) CPU per op (section).
const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

const isPeer = (library: string) => !library.startsWith("quorumlock") && !library.startsWith("floor");

function best<T extends { library: string }>(
  rows: readonly T[],
  of: (r: T) => number,
  pick: typeof Math.max,
) {
  return pick(...rows.filter((r) => isPeer(r.library)).map(of));
}

export interface UncontendedRow {
  library: string;
  opsPerSec: number;
  cpuMicrosPerOp: number;
  serverCpuMicrosPerOp: number;
  requestsPerOp: number;
  commandsPerOp: number;
  errors: number;
}

export function printUncontended(label: string, rows: readonly UncontendedRow[]): void {
  // "× floor" only where the table has the floor row (the semaphore tables have none).
  const base = rows[0]!.library.startsWith("floor") ? rows[0]!.opsPerSec : Number.NaN;
  const fastest = best(rows, (r) => r.opsPerSec, Math.max);
  const leanest = best(rows, (r) => r.cpuMicrosPerOp, Math.min);
  const leanestServer = best(rows, (r) => r.serverCpuMicrosPerOp, Math.min);
  console.log(`## ${label}\n`);
  console.log(
    "| library | ops/s | × floor | × best peer | Node CPU µs/op | CPU × best peer | Redis CPU µs/op | Redis CPU × best peer | requests / commands per op | errors |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows)
    console.log(
      `| ${r.library} | ${f(r.opsPerSec, 0)} | ${f(r.opsPerSec / base, 2)} | ${f(r.opsPerSec / fastest, 2)} | ${f(r.cpuMicrosPerOp, 0)} | ${f(r.cpuMicrosPerOp / leanest, 2)} | ${f(r.serverCpuMicrosPerOp, 0)} | ${f(r.serverCpuMicrosPerOp / leanestServer, 2)} | ${f(r.requestsPerOp)} / ${f(r.commandsPerOp)} | ${r.errors} |`,
    );
  console.log("");
}

export interface ContendedRow {
  library: string;
  sectionsPerSec: number;
  waitP50: number;
  waitP99: number;
  waitMax: number;
  handoffP50: number;
  handoffP99: number;
  fewest: number;
  most: number;
  fewestPerMean: number;
  requestsPerSection: number;
  commandsPerSection: number;
  cpuMicrosPerSection: number;
  errors: number;
  longestIdleMs: number;
  /** Most holders at once: 1 for a lock, at most the limit for a semaphore. */
  mostAtOnce: number;
}

export function printContended(label: string, rows: readonly ContendedRow[]): void {
  const fastest = best(rows, (r) => r.sectionsPerSec, Math.max);
  const leanest = best(rows, (r) => r.cpuMicrosPerSection, Math.min);
  console.log(`## ${label}\n`);
  console.log(
    "| library | sections/s | × best peer | wait p50 / p99 / max ms | hand-off p50 / p99 ms | fewest … most per worker | fewest ÷ mean | requests / commands per section | Node CPU µs/section | CPU × best peer | errors | longest idle ms | most holders at once |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows)
    console.log(
      `| ${r.library} | ${f(r.sectionsPerSec, 0)} | ${f(r.sectionsPerSec / fastest, 2)} | ${f(r.waitP50)} / ${f(r.waitP99)} / ${f(r.waitMax, 0)} | ${f(r.handoffP50, 2)} / ${f(r.handoffP99, 2)} | ${r.fewest} … ${r.most} | ${f(r.fewestPerMean, 2)} | ${f(r.requestsPerSection)} / ${f(r.commandsPerSection)} | ${f(r.cpuMicrosPerSection, 0)} | ${f(r.cpuMicrosPerSection / leanest, 2)} | ${r.errors} | ${f(r.longestIdleMs, 0)} | ${r.mostAtOnce} |`,
    );
  console.log("");
}

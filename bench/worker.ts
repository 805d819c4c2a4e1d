// One worker process of row (e): makes the contender named in argv, warms it up, says "ready", and on
// {until} runs the contention loop, then sends back its holds, errors and CPU time.
import { contend } from "./contend.js";
import { CONTENDERS } from "./libraries.js";

const [id, urls, key, workers, firstWorker] = process.argv.slice(2);
const lib = CONTENDERS[id!]!(urls!.split(","));
await lib.acquire(`bench:warmup:${process.pid}`).then((release) => release());
process.send?.("ready");
const { until } = await new Promise<{ until: number }>((resolve) =>
  process.once("message", resolve as never),
);
const cpu = process.cpuUsage();
const result = await contend(lib, key!, Number(workers), until, Number(firstWorker));
const used = process.cpuUsage(cpu);
await lib.close();
process.send?.({ name: lib.name, ...result, cpuMicros: used.user + used.system }, () => process.exit(0));

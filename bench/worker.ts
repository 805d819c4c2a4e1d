// A worker process of the split rows, kept for the whole run (starting one through tsx costs seconds). For each
// job it makes the contender named in the job (one library for all its workers, or one each), warms it up and
// says "ready"; on {until} it runs the contention loop, closes the libraries and sends back its holds, errors and
// CPU time. When the parent disconnects it must exit by itself: a library that left something open shows here.
import { closeLibraries, contend, makeLibraries, warmUpContended } from "./contend.js";
import { exitsByItself } from "./leftovers.js";
import { CONTENDERS, type Library } from "./libraries.js";

export interface Job {
  readonly id: string;
  readonly urls: readonly string[];
  readonly key: string;
  readonly workers: number;
  readonly firstWorker: number;
  readonly own: boolean;
}

const send = (message: unknown) => process.send?.(message);
let libs: Library[] = [];

async function prepare(job: Job) {
  libs = makeLibraries(() => CONTENDERS[job.id]!(job.urls), job.workers, job.own);
  await warmUpContended(libs, `bench:warmup:${process.pid}`, `${job.id}/${job.urls.length}`);
  send("ready");
}

async function run(job: Job, until: number) {
  const cpu = process.cpuUsage();
  const result = await contend(libs, job.key, until, job.firstWorker);
  const used = process.cpuUsage(cpu);
  await closeLibraries(libs);
  send({ name: libs[0]!.name, ...result, cpuMicros: used.user + used.system });
  libs = [];
}

let current: Job | undefined;
process.on("message", (message: { job: Job } | { until: number }) => {
  if ("job" in message) current = message.job;
  const step = "job" in message ? prepare(message.job) : run(current!, message.until);
  step.catch((error: unknown) => send({ error: String(error) }));
});
process.once("disconnect", () => exitsByItself(`bench worker ${process.pid}`));

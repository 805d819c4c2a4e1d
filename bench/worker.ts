// A worker process of the split rows, kept for the whole run (starting one through tsx costs seconds). For each
// job it makes the contender named in the job (one library for all its workers, or one each), warms it up, keeps
// it and says "ready"; on {id, until} it runs that job's contention loop and sends back its holds, errors and CPU
// time (a row measures its libraries in turns); on {close} it closes every job's libraries. When the parent
// disconnects it must exit by itself: a library that left something open shows here.
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
/** The jobs of the current row, by library id, with their libraries: kept until the row ends ({close}). */
const jobs = new Map<string, { job: Job; libs: Library[] }>();

async function prepare(job: Job) {
  const libs = makeLibraries(() => CONTENDERS[job.id]!(job.urls), job.workers, job.own);
  jobs.set(job.id, { job, libs });
  await warmUpContended(libs, `bench:warmup:${process.pid}`, `${job.id}/${job.urls.length}`);
  send("ready");
}

async function run(id: string, until: number) {
  const { job, libs } = jobs.get(id)!;
  const cpu = process.cpuUsage();
  const result = await contend(libs, job.key, until, job.firstWorker);
  const used = process.cpuUsage(cpu);
  send({ name: libs[0]!.name, ...result, cpuMicros: used.user + used.system });
}

async function close() {
  for (const { libs } of jobs.values()) await closeLibraries(libs);
  jobs.clear();
  send("closed");
}

type Message = { job: Job } | { id: string; until: number } | { close: true };
process.on("message", (message: Message) => {
  const step =
    "job" in message ? prepare(message.job) : "close" in message ? close() : run(message.id, message.until);
  step.catch((error: unknown) => send({ error: String(error) }));
});
process.once("disconnect", () => exitsByItself(`bench worker ${process.pid}`));

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { type Lease, LockManager, LockTimeoutError, LockUnavailableError } from "../index.js";
import { CliError, EXIT } from "./exit-codes.js";
import { duration, nodes, parse, resourceArg } from "./options.js";
import { inspectLock } from "./status.js";

export const RUN_USAGE = `Usage: quorumlock run <resource> [options] -- <command> [args…]

Runs <command> while holding the lock on <resource>, keeps the lease extended while it runs, and releases it when
the command exits. The command gets QUORUMLOCK_RESOURCE and QUORUMLOCK_FENCE in its environment.

Options:
  --nodes <url,…>       Redis masters (default: $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379)
  --wait <duration>     how long to wait for a busy lock (default 0: fail at once, like flock -n)
  --ttl <duration>      lease TTL, extended every ttl/3 while the command runs (default 30s)
  --max-hold <duration> end the lease (and stop the command) after this long in any case
  --grace <duration>    when the lease is lost: time between SIGTERM and SIGKILL (default 10s)
  --quiet               print nothing of its own
  -h, --help            this help

Exit codes: the command's own (128+n if a signal ended it); 75 busy; 69 lock service unavailable;
70 lease lost while the command ran; 64 usage error; 127 command not found.

Examples:
  quorumlock run nightly-report -- ./report.sh
  quorumlock run db-migrate --wait 5m --nodes redis://a:6379,redis://b:6379,redis://c:6379 -- npm run migrate`;

export async function run(argv: string[]): Promise<number> {
  const split = argv.indexOf("--");
  const own = split < 0 ? argv : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  const { values, positionals } = parse(
    own,
    {
      wait: { type: "string" },
      ttl: { type: "string" },
      "max-hold": { type: "string" },
      grace: { type: "string" },
      quiet: { type: "boolean" },
    },
    RUN_USAGE,
  );
  if (values.help) {
    console.log(RUN_USAGE);
    return EXIT.ok;
  }
  const resource = resourceArg(positionals, RUN_USAGE);
  if (positionals.length > 1)
    throw new CliError(`unexpected "${positionals[1]}": put the command after --\n${RUN_USAGE}`, EXIT.usage);
  if (command.length === 0)
    throw new CliError(`missing the command to run after --\n${RUN_USAGE}`, EXIT.usage);
  const wait = duration("wait", values.wait, 0);
  const ttl = duration("ttl", values.ttl, 30_000, 10);
  const maxHold =
    values["max-hold"] === undefined ? undefined : duration("max-hold", values["max-hold"], 0, ttl);
  const grace = duration("grace", values.grace, 10_000);
  const say = values.quiet ? () => {} : (line: string) => process.stderr.write(`quorumlock: ${line}\n`);
  const urls = nodes(values.nodes);

  const locks = new LockManager({ nodes: urls, ttl });
  try {
    const lease = await take(locks, urls, resource, wait, maxHold, values.quiet === true);
    say(`holding "${resource}" (fence ${lease.fence}); running ${command.join(" ")}`);
    return await supervise(lease, command, grace, say);
  } finally {
    await locks.close();
  }
}

async function take(
  locks: LockManager,
  urls: string[],
  resource: string,
  wait: number,
  maxHold: number | undefined,
  quiet: boolean,
) {
  const options = { autoExtend: true, ...(maxHold === undefined ? {} : { maxHold }) };
  const stopStatus = wait > 0 && !quiet ? showWaiting(urls, resource, wait) : () => {};
  try {
    const lease =
      wait > 0
        ? await locks.acquire(resource, { ...options, wait })
        : await locks.tryAcquire(resource, options);
    if (!lease) throw new CliError(`"${resource}" is held by someone else`, EXIT.busy);
    return lease;
  } catch (error) {
    if (error instanceof LockTimeoutError)
      throw new CliError(`"${resource}" is still held by someone else after ${wait} ms`, EXIT.busy);
    if (error instanceof LockUnavailableError)
      throw new CliError(`${error.message}; check --nodes`, EXIT.unavailable);
    throw error;
  } finally {
    stopStatus();
  }
}

/** While waiting: a live line on a terminal (elapsed, and how long the holder has left), else one plain line. */
function showWaiting(urls: string[], resource: string, wait: number): () => void {
  const started = performance.now();
  if (!process.stderr.isTTY) {
    process.stderr.write(`quorumlock: waiting up to ${wait} ms for "${resource}"\n`);
    return () => {};
  }
  let holder = "";
  const draw = () => {
    const elapsed = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`\r\x1b[Kquorumlock: waiting for "${resource}" ${elapsed}s${holder}`);
  };
  const probe = setInterval(() => {
    inspectLock(urls, resource)
      .then((s) => {
        const ttl = Math.max(...s.nodes.map((n) => n.ttlMs ?? -1));
        holder = s.held
          ? ` — held, ${ttl >= 0 ? `${(ttl / 1000).toFixed(1)}s left` : "no expiry"}`
          : " — free";
      })
      .catch(() => {});
  }, 1_000);
  const tick = setInterval(draw, 100);
  draw();
  return () => {
    clearInterval(probe);
    clearInterval(tick);
    process.stderr.write("\r\x1b[K");
  };
}

/** Runs the command; stops it if the lease is lost; forwards SIGINT/SIGTERM; releases when it exits. */
function supervise(
  lease: Lease,
  command: string[],
  grace: number,
  say: (line: string) => void,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), {
      stdio: "inherit",
      env: {
        ...process.env,
        QUORUMLOCK_RESOURCE: lease.resource,
        QUORUMLOCK_FENCE: String(lease.fence ?? ""),
      },
    });
    let lost = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onLost = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      lost = true;
      say(
        `${(lease.signal.reason as Error).message}; stopping the command (SIGTERM, SIGKILL after ${grace} ms)`,
      );
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), grace);
    };
    lease.signal.addEventListener("abort", onLost, { once: true });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    const finish = async (code: number) => {
      clearTimeout(killTimer);
      lease.signal.removeEventListener("abort", onLost);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      await lease.release().catch(() => {}); // the lock frees itself at its TTL if nodes are unreachable
      resolve(lost ? EXIT.lost : code);
    };
    child.on("error", (error) => {
      say(
        `cannot run ${command[0]}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : error.message}`,
      );
      void finish(127);
    });
    child.on("exit", (code, signal) => {
      void finish(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 0));
    });
  });
}

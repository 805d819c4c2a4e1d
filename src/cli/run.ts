// `quorumlock run <resource> -- <command>`: flock -n across machines. Takes the lock (exclusive, shared with
// --shared, or one of N permits with --limit), runs the command with the lease kept extended, and releases the
// lock however the command (or quorumlock) ends.
import {
  type AcquireOptions,
  type Lease,
  LockManager,
  LockTimeoutError,
  LockUnavailableError,
  SemaphoreLimitError,
} from "../index.js";
import { MAX_MS, MIN_TTL } from "../options.js";
import { MAX_LIMIT } from "../semaphore/handle.js";
import { CliError, EXIT, signalExit, usageError } from "./exit-codes.js";
import { Interrupts } from "./interrupts.js";
import { duration, integer, nodes, parse, resourceArg } from "./options.js";
import { supervise } from "./supervise.js";
import { probeHolder, showWaiting } from "./waiting.js";

export const RUN_USAGE = `Usage: quorumlock run <resource> [options] -- <command> [args…]

Runs <command> while holding the lock on <resource>: keeps the lease extended while it runs, and releases it
when the command exits. The command inherits stdin/stdout/stderr and gets QUORUMLOCK_RESOURCE and
QUORUMLOCK_FENCE (the fencing token: pass it on with every write) in its environment.

Like flock -x / flock -s, one name is one lock with two sides. By default the lock is exclusive: no other
holder at all (it is the same lock as the library's locks.acquire(name) and readWrite(name).write()). With
--shared it is a read lock: any number of --shared runs at once, but none alongside an exclusive holder, and a
waiting exclusive run keeps new shared ones out. --limit N is a counting semaphore instead (a separate lock,
locks.semaphore(name, { limit: N })): at most N runs at once; every run of that name must give the same N.

The command runs in a process group (and session) of its own, and quorumlock signals the whole group, so that
nothing the command started outlives the lock: if the lease is lost meanwhile (nodes down, the lock broken),
the group gets SIGTERM, then SIGKILL after --grace; SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to quorumlock are
passed on to the group; and when the command exits, whatever it left running in its group is stopped the same
way before the lock is released (to leave something running, start it with setsid). A signal while waiting
ends the wait.

Options:
  --nodes <url,…>       Redis masters (default: $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379)
  --wait <duration>     how long to wait for a busy lock (default 0: fail at once, like flock -n)
  --ttl <duration>      lease TTL, extended every ttl/3 while the command runs (default 30s, at least 10ms)
  --max-hold <duration> stop the command (as for a lost lease) after this long in any case (at least --ttl)
  --shared              take the lock shared (a read lock): many --shared runs at once, no exclusive holder
  --limit <n>           a semaphore: at most <n> runs of <resource> at once (a whole number from 1)
  --fair                queue for the lock in arrival order and take it by direct hand-off (one node only;
                        exclusive lock only)
  --grace <duration>    time between SIGTERM and SIGKILL when the command is stopped (default 10s)
  --foreground          keep the command in quorumlock's process group, for commands that need the terminal
                        (/dev/tty, Ctrl-Z): then only the command itself is signalled, and processes it leaves
                        running are left running (as with timeout --foreground)
  --show-token          also print the lease's token (secret; what "quorumlock release --token" needs if this
                        run dies without releasing), even with --quiet
  --quiet               print nothing of its own but errors
  -h, --help            this help
Durations: 500ms, 30s, 5m, 1h, or a plain number of milliseconds.

Exit codes: the command's own (128+n if signal n ended it; 127 not found, 126 not executable);
75 busy; 69 lock service unavailable; 70 lease lost while the command ran; 64 usage error.

Examples:
  quorumlock run nightly-report -- ./report.sh
  quorumlock run --limit 4 --wait 10m transcode -- ffmpeg -i in.mov out.mp4
  quorumlock run --shared --wait 1m schema -- ./read-report.sh   # many at once; not during a migration
  quorumlock run db-migrate --wait 5m --nodes redis://a:6379,redis://b:6379,redis://c:6379 -- npm run migrate
  QUORUMLOCK_NODES=redis://a:6379 quorumlock run deploy --ttl 1m --max-hold 30m -- ./deploy.sh prod`;

interface RunOptions {
  readonly resource: string;
  readonly command: readonly string[];
  readonly urls: string[];
  readonly wait: number;
  readonly ttl: number;
  readonly maxHold: number | undefined;
  readonly grace: number;
  readonly quiet: boolean;
  readonly fair: boolean;
  /** A read lock (`--shared`). */
  readonly shared: boolean;
  /** A semaphore of this many permits (`--limit`). */
  readonly limit: number | undefined;
  readonly foreground: boolean;
  readonly showToken: boolean;
}

/** The flags before `--`, the command after it. `undefined` for --help. */
function parseRun(argv: string[]): RunOptions | undefined {
  const split = argv.indexOf("--");
  const { values, positionals } = parse("run", split < 0 ? argv : argv.slice(0, split), {
    wait: { type: "string" },
    ttl: { type: "string" },
    "max-hold": { type: "string" },
    grace: { type: "string" },
    quiet: { type: "boolean" },
    fair: { type: "boolean" },
    shared: { type: "boolean" },
    limit: { type: "string" },
    foreground: { type: "boolean" },
    "show-token": { type: "boolean" },
  });
  if (values.help) return undefined;
  if (positionals.length > 1) {
    throw usageError("run", `unexpected "${positionals[1]}": put the command after --`);
  }
  const resource = resourceArg("run", positionals);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (command.length === 0) throw usageError("run", "missing the command to run after --");
  const ttl = duration("run", "ttl", values.ttl, 30_000, [MIN_TTL, MAX_MS]);
  const urls = nodes("run", values.nodes);
  const fair = values.fair === true;
  const shared = values.shared === true;
  const limit =
    values.limit === undefined ? undefined : integer("run", "limit", values.limit, 1, [1, MAX_LIMIT]);
  if (shared && limit !== undefined) {
    throw usageError("run", "--shared and --limit do not go together: a read lock or a semaphore, not both");
  }
  if (fair && (shared || limit !== undefined)) {
    throw usageError(
      "run",
      `--fair takes the exclusive lock only, not with ${shared ? "--shared" : "--limit"}`,
    );
  }
  if (fair && urls.length > 1) {
    throw usageError(
      "run",
      `--fair works with one node only (got ${urls.length}): independent masters cannot agree on one queue`,
    );
  }
  return {
    resource,
    command,
    urls,
    fair,
    shared,
    limit,
    wait: duration("run", "wait", values.wait, 0),
    ttl,
    maxHold:
      values["max-hold"] === undefined
        ? undefined
        : duration("run", "max-hold", values["max-hold"], 0, [ttl, MAX_MS]),
    grace: duration("run", "grace", values.grace, 10_000),
    quiet: values.quiet === true,
    foreground: values.foreground === true,
    showToken: values["show-token"] === true,
  };
}

export async function run(argv: string[]): Promise<number> {
  const options = parseRun(argv);
  if (!options) {
    console.log(RUN_USAGE);
    return EXIT.ok;
  }
  const warn = (line: string) => process.stderr.write(`quorumlock: ${line}\n`);
  const say = options.quiet ? () => {} : warn;
  const locks = new LockManager({ nodes: options.urls, ttl: options.ttl, fair: options.fair });
  // Caught from the start: a signal while waiting must end the wait cleanly, not leave half-taken locks.
  const interrupts = new Interrupts();
  try {
    const lease = await take(locks, options, interrupts.signal, say);
    if (!lease) return signalExit(interrupts.first!);
    try {
      if (interrupts.first) return signalExit(interrupts.first); // came while the lock was being taken
      // The token is the key to release the lock as its holder: no log gets it unless asked for.
      const token = options.showToken ? `, token ${lease.token}` : "";
      (options.showToken ? warn : say)(
        `holding ${what(options)} (fence ${lease.fence}${token}); running ${options.command.join(" ")}`,
      );
      return await supervise(lease, options.command, {
        grace: options.grace,
        foreground: options.foreground,
        interrupts,
        warn,
      });
    } finally {
      // If too few nodes answer, the lock frees itself when its TTL runs out.
      await lease.release().catch(() => {});
    }
  } finally {
    await locks.close();
    interrupts.stop();
  }
}

/** What the run holds, in words: `"name"`, `"name" shared`, or `a permit of "name" (limit N)`. */
function what(o: RunOptions): string {
  if (o.limit !== undefined) return `a permit of "${o.resource}" (limit ${o.limit})`;
  return o.shared ? `"${o.resource}" shared` : `"${o.resource}"`;
}

/** The two ways to take the chosen lock: one attempt, or waiting up to `wait` ms. */
interface Taker {
  tryTake(options: Omit<AcquireOptions, "fair">): Promise<Lease | null>;
  take(options: Omit<AcquireOptions, "fair">): Promise<Lease>;
}

function takerFor(locks: LockManager, o: RunOptions): Taker {
  if (o.limit !== undefined) {
    const semaphore = locks.semaphore(o.resource, { limit: o.limit });
    return { tryTake: (a) => semaphore.tryAcquire(a), take: (a) => semaphore.acquire(a) };
  }
  if (o.shared) {
    const rw = locks.readWrite(o.resource);
    return { tryTake: (a) => rw.tryRead(a), take: (a) => rw.read(a) };
  }
  return { tryTake: (a) => locks.tryAcquire(o.resource, a), take: (a) => locks.acquire(o.resource, a) };
}

/** The lease, or `undefined` when a signal ended the wait. One quick attempt first: most locks are free. */
async function take(
  locks: LockManager,
  o: RunOptions,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<Lease | undefined> {
  const began = performance.now();
  const acquire: Omit<AcquireOptions, "fair"> = {
    autoExtend: true,
    signal,
    ...(o.maxHold === undefined ? {} : { maxHold: o.maxHold }),
  };
  const taker = takerFor(locks, o);
  try {
    const lease = await taker.tryTake(acquire);
    if (lease) return lease;
    if (o.wait === 0) {
      const holder = await probeHolder(o.urls, o.resource, o.limit !== undefined);
      throw new CliError(`${what(o)} is busy (${holder}); use --wait to wait for it`, EXIT.busy);
    }
    const stop = o.quiet
      ? async () => {}
      : await showWaiting(o.urls, o.resource, o.wait, say, o.limit !== undefined);
    try {
      const wait = Math.max(0, Math.round(o.wait - (performance.now() - began)));
      return await taker.take({ ...acquire, wait });
    } finally {
      await stop();
    }
  } catch (error) {
    if (signal.aborted) return undefined;
    if (error instanceof LockTimeoutError) {
      throw new CliError(`${what(o)} is still busy after waiting ${o.wait} ms`, EXIT.busy);
    }
    if (error instanceof LockUnavailableError) {
      throw new CliError(`${error.message}; check --nodes and that the servers are up`, EXIT.unavailable);
    }
    if (error instanceof SemaphoreLimitError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

// `quorumlock status`: is the lock held, by which token, for how long, and how each node sees it.
import { type LockState, type NodeLockState, withAdmin } from "../admin.js";
import { CliError, EXIT } from "./exit-codes.js";
import { nodes, parse, resourceArg } from "./options.js";

export const STATUS_USAGE = `Usage: quorumlock status <resource> [--nodes <url,…>] [--json] [--show-token]

Shows whether <resource> is locked: held when one token is on a majority of the nodes, and then for how long it
stays there; held shared by how many readers ("run --shared"); and, for the semaphore of that name ("run
--limit"), how many of its permits are held. Per node: whether the lock key is there (the holder's, or another
token's), its TTL left, the resource's fencing counter, and the readers and permit holders it lists; and how
many waiters are queued: for the lock ("run --wait", fair or not), to read ("run --shared --wait") and for the
semaphore's permits ("run --limit N --wait"). Tokens, what "quorumlock release --token" needs, are secret: they
are shown only with --show-token.

Options:
  --nodes <url,…>       Redis masters (default: $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379)
  --show-token          show the holder's token (and, in JSON, every node's token)
  --json                machine-readable output: {resource, state, held, holder, fence, waiters, readersWaiting,
                        permitWaiters, readers, semaphore, quorum, answered, nodes}; without --show-token,
                        nodes tell the token only as "holder": true/false, and their readers and permit
                        holders without tokens
  -h, --help            this help

Exit codes: 0 (held or free); 69 too few nodes answered to tell; 64 usage error.

Examples:
  quorumlock status nightly-report
  quorumlock status nightly-report --show-token     # before "quorumlock release --token"
  quorumlock status db-migrate --nodes redis://a:6379,redis://b:6379,redis://c:6379 --json`;

export async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parse("status", argv, {
    json: { type: "boolean" },
    "show-token": { type: "boolean" },
  });
  if (values.help) {
    console.log(STATUS_USAGE);
    return EXIT.ok;
  }
  const resource = resourceArg("status", positionals);
  const state = await withAdmin({ nodes: nodes("status", values.nodes) }, (admin) => admin.inspect(resource));
  const showToken = values["show-token"] === true;
  if (values.json) console.log(JSON.stringify(asJson(state, showToken), null, 2));
  else console.log(render(state, showToken));
  if (state.answered < state.quorum) {
    throw new CliError(
      `only ${state.answered} of ${state.nodes.length} nodes answered (quorum ${state.quorum})`,
      EXIT.unavailable,
    );
  }
  return EXIT.ok;
}

const seconds = (ms: number) => (ms < 0 ? "no expiry" : `${(ms / 1000).toFixed(1)}s`);

/** A headline, the holder's token (if `showToken`), and a table of the nodes. */
export function render(state: LockState, showToken = false): string {
  const { resource, holder, quorum, nodes } = state;
  const total = nodes.length;
  const readers = `${state.readers} reader${state.readers === 1 ? "" : "s"}`;
  const lines = [
    holder
      ? `"${resource}" is HELD (on ${holder.nodes} of ${total} nodes, quorum ${quorum}) for ${seconds(holder.ttlMs)} more`
      : state.readers > 0
        ? `"${resource}" is HELD SHARED by ${readers} (each on a quorum of ${quorum} of ${total} nodes)`
        : `"${resource}" is ${state.state === "free" ? "free" : "UNKNOWN: too few nodes answered"} (quorum ${quorum} of ${total})`,
  ];
  if (holder) lines.push(`holder token ${showToken ? holder.token : "hidden (--show-token shows it)"}`);
  if (state.semaphore) {
    const { limit, holders, permits, quorum: needed } = state.semaphore;
    lines.push(
      `semaphore "${resource}": ${permits} of ${limit} permits held by ${holders} holder${holders === 1 ? "" : "s"} (a permit needs ${needed} of ${total} nodes)`,
    );
  }
  if (state.fence !== undefined) lines.push(`fence counter ${state.fence}`);
  lines.push(waitersLine(state));
  // Readers and permits get columns when some node lists any.
  const shared = nodes.some((n) => (n.readers?.length ?? 0) > 0 || (n.permits?.length ?? 0) > 0);
  const extra = shared ? `${"fence".padEnd(20)}${"readers".padEnd(9)}permits` : "fence";
  lines.push("", `${"node".padEnd(24)}${"lock".padEnd(16)}${"ttl".padEnd(12)}${extra}`);
  for (const n of nodes) {
    const fence = n.fence === undefined ? "" : String(n.fence);
    const more = shared
      ? `${fence.padEnd(20)}${String(n.readers?.length ?? "").padEnd(9)}${n.permits ? permitsOf(n) : ""}`
      : fence;
    lines.push(
      `${n.node.padEnd(24)}${lockColumn(n, holder?.token).padEnd(16)}${ttlColumn(n).padEnd(12)}${more}`,
    );
  }
  return lines.map((line) => line.trimEnd()).join("\n");
}

/** "waiters queued 3 (2 exclusive, 1 shared)": the waiters of every queue of the name, those with anyone in. */
function waitersLine(state: LockState): string {
  const queues = [
    [state.waiters, "exclusive"],
    [state.readersWaiting, "shared"],
    [state.permitWaiters, "for permits"],
  ] as const;
  const total = queues.reduce((sum, [n]) => sum + n, 0);
  const parts = queues.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  return total === 0 ? "waiters queued 0" : `waiters queued ${total} (${parts.join(", ")})`;
}

/** "2/3": permits held on this node of the semaphore's limit. */
function permitsOf(n: NodeLockState): string {
  const held = n.permits!.reduce((sum, p) => sum + p.permits, 0);
  return n.limit === undefined ? String(held) : `${held}/${n.limit}`;
}

function lockColumn(n: NodeLockState, holder: string | undefined): string {
  if (n.error !== undefined) return nodeProblem(n.error);
  if (!n.present) return "-";
  return n.token === holder ? "holder" : `other ${n.token!.slice(0, 8)}…`;
}

function ttlColumn(n: NodeLockState): string {
  return n.present && n.ttlMs !== undefined ? seconds(n.ttlMs) : "";
}

/**
 * The state with `held` spelled out next to it, for scripts that only want a yes or no; unless `showToken`,
 * each token gives way to whether it is the holder's.
 */
function asJson(state: LockState, showToken: boolean) {
  const { resource, state: s, ...rest } = state;
  if (showToken) return { resource, state: s, held: s === "held", ...rest };
  const holder = rest.holder && { nodes: rest.holder.nodes, ttlMs: rest.holder.ttlMs };
  const nodes = rest.nodes.map(({ token, readers, permits, ...node }) => ({
    ...node,
    ...(node.present ? { holder: token === rest.holder?.token } : {}),
    ...(readers ? { readers: readers.map(({ ttlMs }) => ({ ttlMs })) } : {}),
    ...(permits ? { permits: permits.map(({ token: _, ...p }) => p) } : {}),
  }));
  return { resource, state: s, held: s === "held", ...rest, holder, nodes };
}

/** A node's failure in a few words: the driver's own message for a refused connection helps nobody. */
export function nodeProblem(message: string): string {
  if (/max retries per request|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|not connected/.test(message)) {
    return "unreachable";
  }
  return message;
}

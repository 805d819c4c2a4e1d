import type { RedisConnection } from "../clients/connection.js";
import { openNode } from "../clients/resolve.js";
import { DEFAULTS } from "../index.js";
import { mutexKeys } from "../mutex/keys.js";
import { quorumOf } from "../validity.js";
import { CliError, EXIT } from "./exit-codes.js";
import { nodes, parse, resourceArg } from "./options.js";

export const STATUS_USAGE = `Usage: quorumlock status <resource> [--nodes <url,…>] [--json]

Shows whether <resource> is locked: per node, whether the lock key is there, how long it has left, and the
fencing counter. The lock is held when it is present on a majority of the nodes.

Examples:
  quorumlock status nightly-report
  quorumlock status db-migrate --nodes redis://a:6379,redis://b:6379,redis://c:6379 --json`;

export interface NodeStatus {
  readonly node: string;
  readonly held?: boolean;
  /** Remaining TTL in ms; -1 when the key has no expiry. */
  readonly ttlMs?: number;
  readonly fence?: number;
  readonly error?: string;
}

export interface LockStatus {
  readonly resource: string;
  readonly quorum: number;
  readonly held: boolean;
  readonly nodes: readonly NodeStatus[];
}

/** Runs `work` on a fresh connection per node, each bounded by `timeout` ms, and closes them. */
export async function onEachNode<T>(
  urls: string[],
  timeout: number,
  work: (conn: RedisConnection) => Promise<T>,
) {
  const conns = urls.map((url) => openNode(url));
  try {
    return await Promise.all(
      conns.map(async (conn) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
        });
        try {
          return { node: conn.label, value: await Promise.race([work(conn), late]) };
        } catch (error) {
          return { node: conn.label, error: (error as Error).message };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

export async function inspectLock(urls: string[], resource: string): Promise<LockStatus> {
  const keys = mutexKeys(DEFAULTS.prefix, resource);
  const answers = await onEachNode(urls, 1_000, async (conn) => {
    const [value, ttl, fence] = await Promise.all([
      conn.send(["GET", keys.lock]),
      conn.send(["PTTL", keys.lock]),
      conn.send(["GET", keys.fence]),
    ]);
    return {
      held: value !== null,
      ttlMs: value === null ? undefined : Number(ttl),
      fence: fence === null ? undefined : Number(fence),
    };
  });
  const list: NodeStatus[] = answers.map((a) =>
    "error" in a ? { node: a.node, error: a.error } : { node: a.node, ...a.value },
  );
  const quorum = quorumOf(urls.length);
  return { resource, quorum, held: list.filter((n) => n.held).length >= quorum, nodes: list };
}

export async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: "boolean" } }, STATUS_USAGE);
  if (values.help) {
    console.log(STATUS_USAGE);
    return EXIT.ok;
  }
  const resource = resourceArg(positionals, STATUS_USAGE);
  const urls = nodes(values.nodes);
  const report = await inspectLock(urls, resource);
  const answered = report.nodes.filter((n) => n.error === undefined).length;
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    const heldOn = report.nodes.filter((n) => n.held).length;
    console.log(
      `"${resource}" is ${report.held ? "HELD" : "free"} (present on ${heldOn} of ${urls.length} nodes; quorum ${report.quorum})`,
    );
    console.log(`${"node".padEnd(24)}${"lock".padEnd(8)}${"ttl".padEnd(10)}fence`);
    for (const n of report.nodes) {
      const ttl = n.ttlMs === undefined ? "" : n.ttlMs < 0 ? "no expiry" : `${(n.ttlMs / 1000).toFixed(1)}s`;
      const lock = n.error ? `error: ${n.error}` : n.held ? "held" : "-";
      console.log(`${n.node.padEnd(24)}${lock.padEnd(8)}${ttl.padEnd(10)}${n.fence ?? ""}`);
    }
  }
  if (answered < report.quorum)
    throw new CliError(`only ${answered} of ${urls.length} nodes answered`, EXIT.unavailable);
  return EXIT.ok;
}

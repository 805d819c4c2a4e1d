// `release --token` and `break --yes`: for operators cleaning up after a holder that crashed or hangs.
import { type AdminResult, withAdmin } from "../admin.js";
import { CliError, EXIT, usageError } from "./exit-codes.js";
import { nodes, parse, resourceArg } from "./options.js";
import { nodeProblem } from "./status.js";

export const RELEASE_USAGE = `Usage: quorumlock release <resource> --token <token> [--nodes <url,…>] [--json]

Frees what <token> holds on <resource> if, and only if, it still holds it (compare-and-delete on each node), and
wakes who waits (the first fair-mode waiter is handed the lock): the lock ("run"), a read lease ("run --shared")
or a semaphore's permits ("run --limit").
Safer than "break": if the lease has meanwhile ended and the lock passed to someone else, it is left alone. The
token is shown by "quorumlock status --show-token" (read leases and permit holders: with --json), and by
"quorumlock run --show-token" when it takes the lock.

Options:
  --token <token>       the holder's token (required)
  --nodes <url,…>       Redis masters (default: $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379)
  --json                print the per-node outcome as JSON
  -h, --help            this help

Exit codes: 0 done (also when there was nothing to release); 69 too few nodes answered; 64 usage error.

Examples:
  quorumlock status nightly-report --show-token   # shows the holder's token
  quorumlock release nightly-report --token 3q2-kJm0c5TqZl1ou4F8sCk3v_s`;

export const BREAK_USAGE = `Usage: quorumlock break <resource> --yes [--nodes <url,…>] [--json]

DANGEROUS: deletes every hold on <resource> whoever holds it (the lock, read leases, the semaphore's permits),
and wakes who waits. A holder that is still running does not know at once (its next extension fails, then
"quorumlock run" stops its command), so two processes may work at the same time until then. Prefer "release
--token", or waiting for the TTL. The fencing counter is kept, so a resource that checks fences still refuses
the old holders' writes.

Options:
  --yes                 confirm (required)
  --nodes <url,…>       Redis masters (default: $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379)
  --json                print the per-node outcome as JSON
  -h, --help            this help

Exit codes: 0 done (also when nothing was held); 69 too few nodes answered; 64 usage error.

Example:
  quorumlock break nightly-report --yes`;

export async function release(argv: string[]): Promise<number> {
  const { values, positionals } = parse("release", tokenValue(argv), {
    token: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) return help(RELEASE_USAGE);
  const resource = resourceArg("release", positionals);
  if (!values.token) throw usageError("release", "missing --token <token>");
  const token = values.token;
  const result = await withAdmin({ nodes: nodes("release", values.nodes) }, (admin) =>
    admin.release(resource, token),
  );
  return report(
    result,
    "released",
    "nothing held with this token (already free, expired, or someone else's)",
    {
      json: values.json === true,
    },
  );
}

export async function breakLock(argv: string[]): Promise<number> {
  const { values, positionals } = parse("break", argv, {
    yes: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (values.help) return help(BREAK_USAGE);
  const resource = resourceArg("break", positionals);
  if (!values.yes)
    throw usageError("break", "break deletes the lock whoever holds it: add --yes if you mean it");
  const result = await withAdmin({ nodes: nodes("break", values.nodes) }, (admin) => admin.break(resource));
  return report(result, "broken", "nothing was held", { json: values.json === true });
}

/**
 * `--token <token>` as `--token=<token>`: tokens are base64url, so one in 64 begins with "-", which parseArgs
 * would otherwise refuse as an ambiguous value.
 */
function tokenValue(argv: string[]): string[] {
  const i = argv.indexOf("--token");
  if (i < 0 || i + 1 >= argv.length || argv[i + 1] === "--") return argv;
  return [...argv.slice(0, i), `--token=${argv[i + 1]}`, ...argv.slice(i + 2)];
}

function help(text: string): number {
  console.log(text);
  return EXIT.ok;
}

function report(result: AdminResult, verb: string, nothing: string, { json }: { json: boolean }): number {
  const { done, answered, quorum, outcomes } = result;
  if (json) {
    const nodes = outcomes.map((o) => ({
      node: o.node,
      status: o.status === "ok" ? verb : o.status === "refused" ? "absent" : o.status,
      ...(o.error ? { error: nodeProblem(o.error.message) } : {}),
    }));
    console.log(JSON.stringify({ done, answered, total: outcomes.length, quorum, nodes }, null, 2));
  } else {
    for (const o of outcomes)
      if (o.error) process.stderr.write(`quorumlock: ${o.node}: ${nodeProblem(o.error.message)}\n`);
    console.log(`${verb} on ${done} of ${outcomes.length} nodes${done === 0 ? ` (${nothing})` : ""}`);
  }
  if (answered < quorum) {
    throw new CliError(
      `only ${answered} of ${outcomes.length} nodes answered (quorum ${quorum}): run it again when they are back`,
      EXIT.unavailable,
    );
  }
  return EXIT.ok;
}

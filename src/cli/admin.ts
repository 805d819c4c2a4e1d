// `release --token` and `break --yes`: for operators cleaning up after a crashed holder.
import { DEFAULTS } from "../index.js";
import { mutexKeys } from "../mutex/keys.js";
import { newReleaseId } from "../mutex/release.js";
import { release as releaseScript } from "../mutex/scripts.generated.js";
import { runScript } from "../script.js";
import { quorumOf } from "../validity.js";
import { CliError, EXIT } from "./exit-codes.js";
import { nodes, parse, resourceArg } from "./options.js";
import { onEachNode } from "./status.js";

export const RELEASE_USAGE = `Usage: quorumlock release <resource> --token <token> [--nodes <url,…>]

Releases the lock if, and only if, it is held with <token> (on each node: compare-and-delete). Use it to free a
lock whose holder crashed, when you know its token.

Example:
  quorumlock release nightly-report --token 3q2-kJm0c5TqZl1ou4F8sCk3v_s`;

export const BREAK_USAGE = `Usage: quorumlock break <resource> --yes [--nodes <url,…>]

DANGEROUS: deletes the lock whoever holds it. A holder that is still running will not know at once (its next
extension fails and its signal aborts), so two processes may work at the same time until then. Prefer
"release --token", or wait for the TTL. Waiters are woken.

Example:
  quorumlock break nightly-report --yes`;

function summarise(
  urls: string[],
  answers: { node: string; value?: unknown; error?: string }[],
  verb: string,
): number {
  const answered = answers.filter((a) => a.error === undefined);
  const done = answered.filter((a) => a.value === 1).length;
  for (const a of answers) if (a.error) process.stderr.write(`quorumlock: ${a.node}: ${a.error}\n`);
  console.log(
    `${verb} on ${done} of ${urls.length} nodes${done === 0 ? " (no such lock: already free or expired)" : ""}`,
  );
  if (answered.length < quorumOf(urls.length)) {
    throw new CliError(`only ${answered.length} of ${urls.length} nodes answered`, EXIT.unavailable);
  }
  return EXIT.ok;
}

export async function release(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { token: { type: "string" } }, RELEASE_USAGE);
  if (values.help) {
    console.log(RELEASE_USAGE);
    return EXIT.ok;
  }
  const resource = resourceArg(positionals, RELEASE_USAGE);
  if (!values.token) throw new CliError(`missing --token\n${RELEASE_USAGE}`, EXIT.usage);
  const keys = mutexKeys(DEFAULTS.prefix, resource);
  const urls = nodes(values.nodes);
  const id = newReleaseId();
  const answers = await onEachNode(urls, 2_000, (conn) =>
    runScript(conn, releaseScript, [keys.lock], [values.token!, keys.channel, id]),
  );
  return summarise(urls, answers, "released");
}

export async function breakLock(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { yes: { type: "boolean" } }, BREAK_USAGE);
  if (values.help) {
    console.log(BREAK_USAGE);
    return EXIT.ok;
  }
  const resource = resourceArg(positionals, BREAK_USAGE);
  if (!values.yes)
    throw new CliError(
      `break deletes the lock whoever holds it: add --yes if you mean it\n${BREAK_USAGE}`,
      EXIT.usage,
    );
  const keys = mutexKeys(DEFAULTS.prefix, resource);
  const urls = nodes(values.nodes);
  const id = newReleaseId();
  const answers = await onEachNode(urls, 2_000, async (conn) => {
    const deleted = await conn.send(["DEL", keys.lock]);
    await conn.send(["PUBLISH", keys.channel, id]);
    return deleted;
  });
  return summarise(urls, answers, "broken");
}

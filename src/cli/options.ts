// Flags shared by the commands: parsed with node:util parseArgs, durations ("500ms", "30s", "5m") with `ms`.
// Every mistake becomes one line that names the flag and what it accepts.
import { type ParseArgsConfig, parseArgs } from "node:util";
import ms from "ms";
import { checkNodeSpec, nodeIdentity } from "../clients/resolve.js";
import { MAX_MS, MAX_RESOURCE_LENGTH } from "../options.js";
import { usageError } from "./exit-codes.js";

type Flags = NonNullable<ParseArgsConfig["options"]>;

export const COMMON = {
  nodes: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Flags;

/** Parses `args` for `command`; positionals are the caller's to check. */
export function parse<O extends Flags>(command: string, args: string[], flags: O) {
  const options = { ...COMMON, ...flags };
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(
      command,
      explain(error as Error & { code?: string }, [...Object.keys(flags), "nodes", "help"]),
    );
  }
}

/** parseArgs' messages suggest things that do not apply here; say what went wrong in our terms. */
function explain(error: Error & { code?: string }, known: string[]): string {
  const flag = error.message.match(/'(-[^' ]+)/)?.[1] ?? "an option";
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return `unknown option ${flag}; known: ${known.map((k) => `--${k}`).join(", ")}`;
  }
  if (/does not take an argument/.test(error.message)) return `${flag} takes no value`;
  if (/ambiguous/.test(error.message))
    return `${flag} needs a value (write ${flag}=VALUE for one that starts with "-")`;
  if (/argument missing/.test(error.message)) return `${flag} needs a value`;
  return error.message.split("\n")[0]!;
}

/** "500ms", "30s", "24.8 days": ms() rounds the largest timer delay up to 25 days, which is not allowed. */
const human = (n: number) => (n === MAX_MS ? `${Math.floor(MAX_MS / 8_640_000) / 10} days` : ms(n));

/** A duration flag: "500ms", "30s", "5m", "1h", or a plain number of milliseconds; whole milliseconds only. */
export function duration(
  command: string,
  flag: string,
  value: string | undefined,
  fallback: number,
  [min, max]: readonly [number, number] = [0, MAX_MS],
): number {
  if (value === undefined) return fallback;
  const parsed = ms(value as ms.StringValue) as number | undefined;
  if (typeof parsed !== "number" || !Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw usageError(
      command,
      `--${flag} must be a duration such as 500ms, 30s or 5m (from ${human(min)} to ${human(max)}); got "${value}"`,
    );
  }
  return parsed;
}

/** A whole-number flag within [min, max]. */
export function integer(
  command: string,
  flag: string,
  value: string | undefined,
  fallback: number,
  [min, max]: readonly [number, number],
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw usageError(command, `--${flag} must be a whole number from ${min} to ${max}; got "${value}"`);
  }
  return n;
}

/** Where the nodes come from: --nodes, else $QUORUMLOCK_NODES, else (when `general`) $REDIS_URL and the default. */
function nodeSource(flag: string | undefined, general: boolean): [string, string] | undefined {
  if (flag !== undefined) return ["--nodes", flag];
  // An empty variable counts as unset.
  if (process.env.QUORUMLOCK_NODES) return ["$QUORUMLOCK_NODES", process.env.QUORUMLOCK_NODES];
  if (!general) return undefined;
  if (process.env.REDIS_URL) return ["$REDIS_URL", process.env.REDIS_URL];
  return ["the default", "redis://127.0.0.1:6379"];
}

/** Nodes from --nodes url,url, else $QUORUMLOCK_NODES, else $REDIS_URL, else redis://127.0.0.1:6379. */
export function nodes(command: string, flag: string | undefined): string[] {
  return checkUrls(command, ...nodeSource(flag, true)!);
}

/** Nodes named by --nodes or $QUORUMLOCK_NODES only; `undefined` when neither is set. */
export function namedNodes(command: string, flag: string | undefined): string[] | undefined {
  const source = nodeSource(flag, false);
  return source && checkUrls(command, ...source);
}

/** Each entry a redis:// or rediss:// URL with a host, listed once; the error names where the list came from. */
function checkUrls(command: string, source: string, listed: string): string[] {
  const urls = listed
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw usageError(command, `${source} must list at least one redis:// URL`);
  const seen = new Set<unknown>();
  urls.forEach((url, i) => {
    try {
      checkNodeSpec(url, i);
    } catch {
      throw usageError(command, `${source}: "${url}" is not a redis:// or rediss:// URL with a host`);
    }
    const id = nodeIdentity(url);
    if (seen.has(id)) throw usageError(command, `${source}: ${url} is listed twice`);
    seen.add(id);
  });
  return urls;
}

/** The one `<resource>` positional, checked as the library checks it. */
export function resourceArg(command: string, positionals: string[]): string {
  const [resource, extra] = positionals;
  if (!resource) throw usageError(command, "missing <resource>");
  if (extra !== undefined) throw usageError(command, `unexpected argument "${extra}"`);
  if (resource.length > MAX_RESOURCE_LENGTH) {
    throw usageError(command, `<resource> must be at most ${MAX_RESOURCE_LENGTH} characters`);
  }
  return resource;
}

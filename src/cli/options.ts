// Flags shared by the commands, parsed with node:util parseArgs; durations ("500ms", "30s", "5m") with `ms`.
import { type ParseArgsConfig, parseArgs } from "node:util";
import ms from "ms";
import { CliError, EXIT } from "./exit-codes.js";

export const COMMON = {
  nodes: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
  usage: string,
) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${usage}`, EXIT.usage);
  }
}

/** A duration flag: "500ms", "30s", "5m", or a plain number of milliseconds. */
export function duration(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const parsed = /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  if (typeof parsed !== "number" || !Number.isFinite(parsed) || parsed < min || !Number.isInteger(parsed)) {
    throw new CliError(
      `--${flag} must be a duration such as 500ms, 30s or 5m${min > 0 ? ` (at least ${min} ms)` : ""}; got "${value}"`,
      EXIT.usage,
    );
  }
  return parsed;
}

/** Nodes from --nodes url,url, else QUORUMLOCK_NODES, else REDIS_URL, else the local default. */
export function nodes(flag: string | undefined): string[] {
  const listed = flag ?? process.env.QUORUMLOCK_NODES ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const urls = listed
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new CliError("--nodes needs at least one redis:// URL", EXIT.usage);
  return urls;
}

export function resourceArg(positionals: string[], usage: string): string {
  const [resource] = positionals;
  if (!resource) throw new CliError(`missing <resource>\n${usage}`, EXIT.usage);
  return resource;
}

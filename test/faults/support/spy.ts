// Lock clients whose every script call is watched, so a test can name the tokens an acquire used (a failed
// acquire never shows its token) and know on which nodes all of a token's commands have been answered, and then
// check that no key with that token is left there.
import { type Command, Redis } from "ioredis";

/** The options the manager gives the connections it opens itself (src/clients/ioredis.ts). */
const MANAGER_LIKE = {
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 5), 1000),
  connectTimeout: 2_000,
};

interface Track {
  pending: number;
  /** A command failed without a reply (connection lost): it may or may not have been applied. */
  uncertain: boolean;
}

export interface SpiedNodes {
  /** ioredis clients to hand to a LockManager as its nodes (injected: the manager leaves them open). */
  readonly clients: Redis[];
  /** Tokens in the order their first command was sent (an acquire always comes first). */
  readonly tokens: readonly string[];
  /** True when every command carrying `token` that was sent to node `i` has been answered by the node. */
  answered(token: string, i: number): boolean;
  /** Calls of the script with this SHA1 sent so far (EVALSHA, all nodes together). */
  calls(sha1: string): number;
  close(): void;
}

/** Scripts are called as EVALSHA/EVAL sha numkeys ...keys ...args; every lock script's ARGV[1] is the token. */
function tokenOf(command: string, args: readonly unknown[]): string | undefined {
  const name = command.toUpperCase();
  if (name !== "EVALSHA" && name !== "EVAL") return undefined;
  return String(args[2 + Number(args[1])]);
}

export function spiedNodes(urls: readonly string[]): SpiedNodes {
  const tracks = urls.map(() => new Map<string, Track>());
  const tokens: string[] = [];
  const calls = new Map<string, number>();
  const watch = (client: Redis, i: number): Redis => {
    // At sendCommand, where every command passes whichever ioredis method built it (the adapter sends its own).
    const send = client.sendCommand.bind(client) as (
      command: Command,
      ...rest: unknown[]
    ) => Promise<unknown>;
    const spied = (command: Command, ...rest: unknown[]): Promise<unknown> => {
      const name = command.name;
      const args = command.args;
      if (name.toUpperCase() === "EVALSHA") calls.set(String(args[0]), (calls.get(String(args[0])) ?? 0) + 1);
      const token = tokenOf(name, args);
      if (token === undefined) return send(command, ...rest);
      let track = tracks[i]!.get(token);
      if (!track) {
        track = { pending: 0, uncertain: false };
        tracks[i]!.set(token, track);
        if (!tokens.includes(token)) tokens.push(token);
      }
      const t = track;
      t.pending++;
      const reply = send(command, ...rest);
      reply.then(
        () => t.pending--,
        (error: Error) => {
          t.pending--;
          if (error.name !== "ReplyError") t.uncertain = true;
        },
      );
      return reply;
    };
    (client as unknown as { sendCommand: typeof spied }).sendCommand = spied;
    return client;
  };
  const clients = urls.map((url, i) => {
    const client = new Redis(url, MANAGER_LIKE);
    client.on("error", () => {});
    // quorumlock sends lock commands over a duplicate of an injected ioredis client: watch that one.
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override) => watch(duplicate(override), i);
    return client;
  });
  return {
    clients,
    tokens,
    answered(token, i) {
      const track = tracks[i]!.get(token);
      return track === undefined || (track.pending === 0 && !track.uncertain);
    },
    calls: (sha1) => calls.get(sha1) ?? 0,
    close() {
      for (const client of clients) client.disconnect();
    },
  };
}

/** Connection states of a client whose node went away, between its reconnect attempts. */
const DOWN = new Set(["reconnecting", "close", "end"]);

/** The value of `key` on each node, `undefined` for a node that does not answer within `ms`. */
export function valuesOf(
  nodes: readonly Redis[],
  key: string,
  ms = 300,
): Promise<(string | null | undefined)[]> {
  return Promise.all(
    nodes.map((node) =>
      // A node whose connection dropped (killed) answers nothing: do not queue the GET until the next reconnect
      // attempt (up to the client's backoff), which made every check after a section slow while nodes were down.
      DOWN.has(node.status)
        ? undefined
        : Promise.race([
            node.get(key).catch(() => undefined),
            new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref()),
          ]),
    ),
  );
}

/**
 * Nodes that still hold `key` with `token`, among those that answered every command carrying that token: after
 * a failed acquire or a release this must be empty.
 */
export async function strayKeys(
  spy: SpiedNodes,
  direct: readonly Redis[],
  key: string,
  token: string,
): Promise<number[]> {
  // Which nodes have answered is taken first: a command answered during the read could postdate the value read.
  const settled = direct.map((_, i) => spy.answered(token, i));
  const values = await valuesOf(direct, key);
  return values.flatMap((value, i) => (value === token && settled[i] ? [i] : []));
}

/**
 * The values of `key` once they equal `expected`, or as they are after `ms`: a vote settles on the first majority
 * to answer, and the other nodes apply the same command a moment later.
 */
export async function settledValues(
  nodes: readonly Redis[],
  key: string,
  expected: readonly (string | null)[],
  ms = 1_000,
): Promise<(string | null | undefined)[]> {
  const until = performance.now() + ms;
  for (;;) {
    const values = await valuesOf(nodes, key);
    if (values.every((v, i) => v === expected[i]) || performance.now() > until) return values;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

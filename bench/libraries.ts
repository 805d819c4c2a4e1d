// Each library under test behind one shape: acquire(key) waits for the lock (as that library waits) and
// resolves with its release function. Peers run with their default retry settings, as most users run them.
import { randomBytes } from "node:crypto";
import { Redlock as SesameRedlock } from "@sesamecare-oss/redlock";
import { Redis } from "ioredis";
import { Mutex, RedlockMutex, RedlockSemaphore, Semaphore } from "redis-semaphore";
import Redlock from "redlock";
import { mutexKeys } from "../src/mutex/keys.js";
import { acquire as mutexAcquire, release as mutexRelease } from "../src/mutex/scripts.generated.js";
import { semaphoreKeys } from "../src/semaphore/keys.js";
import {
  acquire as semaphoreAcquire,
  release as semaphoreRelease,
} from "../src/semaphore/scripts.generated.js";

// quorumlock as users get it: the built package (`npm run bench` builds it first), not the TypeScript sources
// through tsx, whose per-closure helpers cost a few per cent on the hot path. Typed from the sources, so that
// type-checking needs no build.
const { LockManager } = (await import(
  new URL("../dist/index.js", import.meta.url).href
)) as typeof import("../src/index.js");

export interface Library {
  readonly name: string;
  acquire(key: string): Promise<() => Promise<unknown>>;
  close(): Promise<void>;
}

const TTL = 10_000;

function clients(urls: readonly string[]): Redis[] {
  return urls.map((url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    return client;
  });
}

const closeAll = async (list: Redis[]) => {
  for (const c of list) c.disconnect();
};

/** The floor: bare SET NX PX and an EVALSHA compare-and-delete on each node, nothing else. */
export function floor(urls: readonly string[]): Library {
  const nodes = clients(urls);
  const del = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
  let sha: Promise<string[]> | undefined;
  return {
    name: "floor (SET NX + EVALSHA)",
    async acquire(key) {
      sha ??= Promise.all(nodes.map((n) => n.script("LOAD", del) as Promise<string>));
      const shas = await sha;
      const token = randomBytes(16).toString("hex");
      for (;;) {
        const ok = await Promise.all(nodes.map((n) => n.set(key, token, "PX", TTL, "NX")));
        if (ok.filter(Boolean).length > nodes.length / 2) {
          return () => Promise.all(nodes.map((n, i) => n.evalsha(shas[i]!, 1, key, token)));
        }
        await Promise.all(nodes.map((n, i) => n.evalsha(shas[i]!, 1, key, token)));
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    close: () => closeAll(nodes),
  };
}

/**
 * A second floor, on one node: quorumlock's own acquire and release scripts, with the arguments an uncontended
 * `acquire()` (default options: fencing on, waiting allowed) and `release()` send, from a bare ioredis client.
 * What quorumlock does above this row is the library's own work per call (token, vote, lease); what this row
 * does above the peers is the scripts'. Its commands per op must equal quorumlock's row (the same inner calls).
 */
export function bareScripts(url: string, kind: "lock" | "semaphore"): Library {
  const [node] = clients([url]);
  const client = node!;
  const acquireScript = kind === "lock" ? mutexAcquire : semaphoreAcquire;
  const releaseScript = kind === "lock" ? mutexRelease : semaphoreRelease;
  let loaded: Promise<unknown> | undefined;
  let ids = 0;
  const run = (sha: string, keys: string[], args: (string | number)[]) =>
    client.evalsha(sha, keys.length, ...keys, ...args);
  return {
    name: `floor (quorumlock's ${kind === "lock" ? "" : "semaphore "}scripts, bare client)`,
    async acquire(key) {
      loaded ??= Promise.all([acquireScript, releaseScript].map((s) => client.script("LOAD", s.source)));
      await loaded;
      const token = randomBytes(20).toString("base64url");
      const place = `1:3000::bare.${(ids++).toString(36)}`;
      const release = `bare.${(ids++).toString(36)}`;
      if (kind === "lock") {
        const k = mutexKeys("quorumlock:", key);
        await run(
          acquireScript.sha1,
          [k.lock, k.fence, k.waiting, k.heartbeats, k.readers],
          [token, TTL, "1", place],
        );
        return () =>
          run(
            releaseScript.sha1,
            [k.lock, k.fence, k.waiting, k.heartbeats, k.readWaiting, k.readHeartbeats],
            [token, "", `250:5000:1:${release}:${k.channel}`],
          );
      }
      const k = semaphoreKeys("quorumlock:", key);
      const keys = [k.holders, k.fence, k.permits, k.waiting, k.heartbeats];
      await run(acquireScript.sha1, keys, [token, TTL, "1", PERMITS, 1, place, "1"]);
      return () => run(releaseScript.sha1, keys, [token, "", `${PERMITS}:1:${release}:${k.channel}`]);
    },
    close: () => closeAll([client]),
  };
}

export function quorumlock(
  urls: readonly string[],
  name: string,
  options: { wakeup?: "pubsub" | "poll"; fencing?: boolean; fair?: boolean } = {},
): Library {
  const locks = new LockManager({ nodes: [...urls], ttl: TTL, wait: 30_000, ...options });
  return {
    name,
    async acquire(key) {
      const lease = await locks.acquire(key);
      return () => lease.release();
    },
    close: () => locks.close(),
  };
}

export function redlock(urls: readonly string[]): Library {
  const nodes = clients(urls);
  const lock = new Redlock(nodes);
  lock.on("error", () => {});
  return {
    name: "redlock 5.0.0-beta.2",
    async acquire(key) {
      const held = await lock.acquire([key], TTL);
      return () => held.release();
    },
    close: () => closeAll(nodes),
  };
}

export function sesameRedlock(urls: readonly string[]): Library {
  const nodes = clients(urls);
  const lock = new SesameRedlock(nodes);
  lock.on("error", () => {});
  return {
    name: "@sesamecare-oss/redlock",
    async acquire(key) {
      const held = await lock.acquire([key], TTL);
      return () => held.release();
    },
    close: () => closeAll(nodes),
  };
}

export function redisSemaphore(urls: readonly string[]): Library {
  const nodes = clients(urls);
  const options = { lockTimeout: TTL, acquireTimeout: 30_000, refreshInterval: 0 };
  return {
    name: "redis-semaphore",
    async acquire(key) {
      const mutex =
        nodes.length === 1 ? new Mutex(nodes[0]!, key, options) : new RedlockMutex(nodes, key, options);
      await mutex.acquire();
      return () => mutex.release();
    },
    close: () => closeAll(nodes),
  };
}

/** Permits of the semaphore rows: at most this many holders at once. */
export const PERMITS = 3;

export function quorumlockSemaphore(urls: readonly string[], name: string): Library {
  const locks = new LockManager({ nodes: [...urls], ttl: TTL, wait: 30_000 });
  return {
    name,
    async acquire(key) {
      const lease = await locks.semaphore(key, { limit: PERMITS }).acquire();
      return () => lease.release();
    },
    close: () => locks.close(),
  };
}

export function redisSemaphoreSemaphore(urls: readonly string[]): Library {
  const nodes = clients(urls);
  const options = { lockTimeout: TTL, acquireTimeout: 30_000, refreshInterval: 0 };
  return {
    name: `redis-semaphore (${urls.length === 1 ? "Semaphore" : "RedlockSemaphore"})`,
    async acquire(key) {
      const semaphore =
        nodes.length === 1
          ? new Semaphore(nodes[0]!, key, PERMITS, options)
          : new RedlockSemaphore(nodes, key, PERMITS, options);
      await semaphore.acquire();
      return () => semaphore.release();
    },
    close: () => closeAll(nodes),
  };
}

/** Every contender of the contention rows, by id, so that a worker process can make the same one. */
export const CONTENDERS: Readonly<Record<string, (urls: readonly string[]) => Library>> = {
  quorumlock: (urls) => quorumlock(urls, "quorumlock (pub/sub)"),
  "quorumlock-fair": (urls) => quorumlock(urls, "quorumlock (fair)", { fair: true }),
  "quorumlock-poll": (urls) => quorumlock(urls, "quorumlock (poll)", { wakeup: "poll" }),
  redlock,
  "sesame-redlock": sesameRedlock,
  "redis-semaphore": redisSemaphore,
  "quorumlock-semaphore": (urls) => quorumlockSemaphore(urls, "quorumlock semaphore (pub/sub)"),
  "redis-semaphore-semaphore": redisSemaphoreSemaphore,
};

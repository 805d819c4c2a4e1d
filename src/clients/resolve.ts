import type { Redis, RedisOptions } from "ioredis";
import { invalidType, invalidValue } from "../errors.js";
import type { RedisConnection } from "./connection.js";
import { IORedisConnection, isIORedis } from "./ioredis.js";
import { isNodeRedis, type NodeRedisClient, NodeRedisConnection } from "./node-redis.js";

/**
 * One Redis master: a `redis://` or `rediss://` URL, an ioredis options object (the manager opens and
 * closes the connection), or a ready ioredis / node-redis client (injected: never closed by quorumlock; for
 * ioredis the manager sends lock commands over a `duplicate()` it owns, see clients/ioredis.ts).
 */
export type NodeSpec = string | RedisOptions | Redis | NodeRedisClient;

/** Checks a node spec without connecting; throws a typed error that names `nodes[i]`. */
export function checkNodeSpec(spec: unknown, index: number): void {
  const name = `nodes[${index}]`;
  if (typeof spec === "string") {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw invalidValue(name, 'a URL such as "redis://127.0.0.1:6379"', spec);
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw invalidValue(name, 'a URL with the scheme "redis:" or "rediss:"', spec);
    }
    if (url.hostname === "") throw invalidValue(name, "a URL with a host name", spec);
    return;
  }
  if (isIORedis(spec) || isNodeRedis(spec)) return;
  if (typeof spec === "object" && spec !== null && !Array.isArray(spec)) return;
  throw invalidType(
    name,
    "a redis:// URL, an ioredis options object, or an ioredis or node-redis client",
    spec,
  );
}

/** A key that is equal for two specs naming the same node, so that one node cannot be counted twice. */
export function nodeIdentity(spec: NodeSpec): unknown {
  if (typeof spec === "string") {
    const url = new URL(spec);
    return `${url.hostname}:${url.port || "6379"}/${url.pathname.slice(1) || "0"}`;
  }
  return spec;
}

export function openNode(spec: NodeSpec): RedisConnection {
  if (typeof spec === "string") return IORedisConnection.open(spec);
  if (isIORedis(spec)) return IORedisConnection.injected(spec);
  if (isNodeRedis(spec)) return new NodeRedisConnection(spec);
  return IORedisConnection.open(spec);
}

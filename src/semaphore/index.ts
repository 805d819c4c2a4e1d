// The counting semaphore: up to `limit` permits held at once, per holder with its own expiry, on one node or on
// q = floor(N·limit/(limit+1)) + 1 of N nodes (see docs/semaphore.md). Waiters queue on each node; a waiter
// never loses the permits it waits for to one behind it, and a release lets the waiters that now fit go next
// (it hands them their permits: on a quorum node by node, to a waiter that fences).
import { claimHandOff, claimQuorumHandOff } from "../handoff.js";
import type { Primitive } from "../primitive.js";
import { attemptSemaphore, type PermitRequest } from "./acquire.js";
import { extendSemaphore } from "./extend.js";
import { type SemaphoreKeys, semaphoreKeys } from "./keys.js";
import { releaseSemaphore } from "./release.js";

/** The semaphore primitive for one request: its limit and the permits it takes. */
export function semaphore(request: PermitRequest): Primitive<SemaphoreKeys> {
  return {
    keys: semaphoreKeys,
    attempt: (ctx, keys, token, ttl, signal, place) =>
      attemptSemaphore(ctx, keys, request, token, ttl, signal, place),
    // A release may have handed permits to this waiter (see release.lua's header): on a quorum, node by node.
    claim: (ctx, message, ttl, last) =>
      ctx.nodes.length === 1
        ? claimHandOff(ctx, message, ttl, last)
        : claimQuorumHandOff(ctx, message, ttl, last),
    async leave(ctx, keys, token, place, after) {
      // Drops the place on every node (the waiters behind it may fit now), and frees what was handed to it meanwhile.
      await releaseSemaphore(ctx, keys, request.limit, token, { after, drop: place.id });
    },
    extend: extendSemaphore,
    release: (ctx, keys, token, after, place) =>
      releaseSemaphore(ctx, keys, request.limit, token, {
        after,
        drop: place?.registered === undefined ? undefined : place.id,
        settleOnQuorum: true,
      }),
  };
}

/**
 * Nodes that must grant a permit: more than N·limit/(limit+1), so that limit+1 leases, each on that many nodes,
 * cannot fit on N nodes holding at most `limit` permits each (pigeonhole). A majority for limit 1.
 */
export function semaphoreQuorum(nodes: number, limit: number): number {
  return Math.floor((nodes * limit) / (limit + 1)) + 1;
}

import type { RedisConnection, Subscriber } from "../clients/connection.js";
import { monotonicNow } from "../validity.js";
import type { Waiter, WaitStrategy } from "./strategy.js";

/** How long a waiter sleeps without news before it looks again, in case a wake-up was lost. */
const RECHECK_MS = 1_000;
/** Copies of one release's message (one per node) are recognised among the last this many. */
const SEEN_IDS = 32;

interface Parked {
  wake(): void;
}

/** A fair waiter's mailbox: the hand-off announced for its id, and how to wake it if it sleeps. */
interface FairSlot {
  message: string | undefined;
  parked: Parked | undefined;
}

/** Prefix of a fair hand-off message: `h:<waiter id>:<fence>:<server µs>` (see lua-shared/queue.lua). */
export const HANDOFF_PREFIX = "h:";

/** One resource's channel, shared by every waiter of this manager on it. */
class Channel {
  refs = 0;
  /** Settles once the subscription was confirmed by the nodes that answered in time; says how many did. */
  ready: Promise<number> = Promise.resolve(0);
  /** How many nodes confirmed, once `ready` has settled. */
  confirmed: number | undefined;
  /** Waiters asleep on this channel, first come first woken. */
  readonly parked: Parked[] = [];
  /** Wake-ups that arrived while every waiter was busy attempting: the next to wait uses one at once. */
  unclaimed = 0;
  readonly seen: string[] = [];
  /** Fair waiters of this process on this channel, by waiter id. */
  readonly fair = new Map<string, FairSlot>();
}

export interface PubSubOptions {
  readonly channelOf: (resource: string) => string;
  /** Bound on waiting for a subscription to be confirmed. */
  readonly nodeTimeout: number;
  /** Confirmations from this many nodes are enough to wait on (the lock's quorum). */
  readonly quorum: number;
  /** Re-check interval for a channel no node would subscribe to (e.g. SUBSCRIBE forbidden). */
  readonly fallbackInterval: number;
}

/**
 * Waiting without spinning: a release publishes on the resource's channel and wakes one waiter of each
 * process (first come, first woken), which then tries again. One subscriber connection per node, channels
 * reference-counted. A waiter also wakes when the holder's TTL runs out (an expiry publishes nothing), after
 * a slow re-check, and when a subscriber reconnects (it may have missed a message).
 */
export class PubSubStrategy implements WaitStrategy {
  readonly #nodes: readonly RedisConnection[];
  readonly #options: PubSubOptions;
  readonly #channels = new Map<string, Channel>();
  /** Callers of this process currently in an acquire, per channel. */
  readonly #contenders = new Map<string, number>();
  #subscribers: Subscriber[] | undefined;

  constructor(nodes: readonly RedisConnection[], options: PubSubOptions) {
    this.#nodes = nodes;
    this.#options = options;
  }

  /** Channels currently subscribed (for tests and diagnostics). */
  get channels(): number {
    return this.#channels.size;
  }

  begin(resource: string, fairId?: string): Waiter {
    const name = this.#options.channelOf(resource);
    const ahead = this.#contenders.get(name) ?? 0;
    this.#contenders.set(name, ahead + 1);
    let channel: Channel | undefined;
    let subscribed = 0;
    const slot: FairSlot | undefined =
      fairId === undefined ? undefined : { message: undefined, parked: undefined };
    const join = () => {
      const joined = this.#join(name);
      if (slot) joined.fair.set(fairId!, slot);
      return joined;
    };
    // A fair waiter joins a channel this process already listens on before its first attempt: a hand-off
    // after that attempt cannot be missed, so it needs no second attempt once subscribed.
    const listening = this.#channels.get(name)?.confirmed;
    if (slot && listening !== undefined && listening > 0) {
      channel = join();
      subscribed = listening;
    }
    return {
      before: async (deadline, signal) => {
        // Others of this process already contend for this lock: queue behind them here rather than in
        // Redis, so N local waiters cost one contender's traffic. A release by this process wakes us even
        // before our subscription is confirmed (see `released`).
        if (ahead === 0) return;
        channel = join();
        void channel.ready.then((n) => {
          subscribed = n;
        });
        if (channel.unclaimed > 0) {
          channel.unclaimed--;
          return;
        }
        await park(channel, Math.min(RECHECK_MS, deadline - monotonicNow()), signal);
      },
      next: async (retryAfter, deadline, signal) => {
        if (!channel) {
          // Joined after the first failed attempt, so an uncontended acquire costs no subscription. Once the
          // subscription is confirmed, try again at once: a release published before it took effect is
          // caught by that attempt, and any release after it wakes us.
          channel = join();
          subscribed = await bounded(
            channel.ready,
            Math.min(this.#options.nodeTimeout, deadline - monotonicNow()),
            signal,
          );
          return take(slot);
        }
        if (slot?.message !== undefined) return take(slot);
        if (channel.unclaimed > 0) {
          channel.unclaimed--;
          return undefined;
        }
        const recheck = subscribed > 0 ? RECHECK_MS : this.#options.fallbackInterval;
        const untilFree = retryAfter === undefined ? recheck : retryAfter + 1;
        await park(channel, Math.min(untilFree, recheck, deadline - monotonicNow()), signal, slot);
        return take(slot);
      },
      end: () => {
        const left = (this.#contenders.get(name) ?? 1) - 1;
        if (left > 0) this.#contenders.set(name, left);
        else this.#contenders.delete(name);
        if (channel) {
          if (slot) channel.fair.delete(fairId!);
          this.#leave(name, channel);
        }
        channel = undefined;
      },
    };
  }

  released(resource: string, id: string): void {
    this.#onMessage(this.#options.channelOf(resource), id);
  }

  async close(): Promise<void> {
    for (const channel of this.#channels.values()) for (const p of channel.parked.splice(0)) p.wake();
    this.#channels.clear();
    await Promise.allSettled((this.#subscribers ?? []).map((s) => s.close()));
    this.#subscribers = undefined;
  }

  #subscriberSet(): Subscriber[] {
    this.#subscribers ??= this.#nodes.map((node) =>
      node.subscriber({
        message: (channel, id) => this.#onMessage(channel, id),
        reconnected: () => this.#wakeEveryone(),
      }),
    );
    return this.#subscribers;
  }

  #join(name: string): Channel {
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = new Channel();
      this.#channels.set(name, channel);
      const subscribers = this.#subscriberSet();
      const timeout = this.#options.nodeTimeout;
      const joined = channel;
      // Settles once a quorum confirmed (a release deletes and publishes on at least a quorum, which overlaps
      // it, so no release can be missed), or once every node answered or timed out: a frozen minority does
      // not hold up every new waiter by the node timeout.
      channel.ready = new Promise<number>((resolve) => {
        let ok = 0;
        let settled = 0;
        const done = () => {
          if (joined.confirmed !== undefined) return;
          if (ok >= this.#options.quorum || settled === subscribers.length) {
            joined.confirmed = ok;
            resolve(ok);
          }
        };
        for (const s of subscribers) {
          withTimeout(s.subscribe(name), timeout).then(
            () => {
              ok++;
              settled++;
              done();
            },
            () => {
              settled++;
              done();
            },
          );
        }
      });
    }
    channel.refs++;
    return channel;
  }

  #leave(name: string, channel: Channel): void {
    if (--channel.refs > 0 || this.#channels.get(name) !== channel) return;
    this.#channels.delete(name);
    // Sent after the SUBSCRIBE on the same connections, so it cannot overtake it.
    for (const s of this.#subscribers ?? []) s.unsubscribe(name).catch(() => {});
  }

  #onMessage(name: string, id: string): void {
    const channel = this.#channels.get(name);
    if (!channel) return;
    if (id.startsWith(HANDOFF_PREFIX)) {
      // Addressed to one fair waiter: wake that one only (the lock is already its own).
      const slot = channel.fair.get(id.slice(HANDOFF_PREFIX.length, id.indexOf(":", HANDOFF_PREFIX.length)));
      if (slot) {
        slot.message = id;
        slot.parked?.wake();
      }
      return;
    }
    if (channel.seen.includes(id)) return;
    channel.seen.push(id);
    if (channel.seen.length > SEEN_IDS) channel.seen.shift();
    const first = channel.parked.shift();
    if (first) first.wake();
    else channel.unclaimed = Math.min(channel.unclaimed + 1, channel.refs);
  }

  #wakeEveryone(): void {
    for (const channel of this.#channels.values()) {
      for (const p of channel.parked.splice(0)) p.wake();
      channel.unclaimed = channel.refs;
    }
  }
}

/** The hand-off message a fair waiter received, once: a second look finds nothing. */
function take(slot: FairSlot | undefined): string | undefined {
  const message = slot?.message;
  if (slot) slot.message = undefined;
  return message;
}

/**
 * Sleeps until woken through the channel (or, for a fair waiter, by a hand-off to its `slot`), `ms` passes,
 * or `signal` aborts (rejecting with its reason).
 */
function park(channel: Channel, ms: number, signal: AbortSignal | undefined, slot?: FairSlot): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      const i = channel.parked.indexOf(parked);
      if (i >= 0) channel.parked.splice(i, 1);
      if (slot) slot.parked = undefined;
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => finish(signal?.reason);
    const parked: Parked = { wake: () => finish() };
    const timer = setTimeout(finish, Math.max(0, ms));
    if (signal?.aborted) return finish(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    channel.parked.push(parked);
    if (slot) slot.parked = parked;
  });
}

/** `work`'s value, or 0 once `ms` passed; rejects with the signal's reason when it aborts. */
async function bounded(work: Promise<number>, ms: number, signal: AbortSignal | undefined): Promise<number> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(0), Math.max(0, ms));
      }),
      new Promise<number>((_, reject) => {
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

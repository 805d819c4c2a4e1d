import type { RedisConnection, Subscriber } from "../clients/connection.js";
import { type Abortable, pause } from "../signals.js";
import { monotonicNow } from "../validity.js";
import { type Waiter, type WaitStrategy, type WakeUp, waiterIds } from "./strategy.js";

/** How long a waiter sleeps without news before it looks again, in case a wake-up was lost. */
const RECHECK_MS = 1_000;
/**
 * How long a channel stays subscribed after its last waiter left: a client that waits for the same lock again
 * soon (a worker in a loop) then pays no SUBSCRIBE and UNSUBSCRIBE round trips each time.
 */
export const LINGER_MS = 1_000;

/** Copies of one wake-up (one per node of a quorum) are recognised among a waiter's last this many messages. */
const SEEN = 8;
/** A waiter keeps at most this many messages between two looks (a quorum's hand-offs: one per node). */
const KEPT = 16;

/** One waiter's mailbox: the messages addressed to it since it last looked, and how to wake it if it sleeps. */
interface Slot {
  messages: WakeUp[];
  wake: (() => void) | undefined;
  /**
   * Messages received lately: each node of a quorum publishes the same wake-up, and one is enough. A hand-off
   * ("h:…") is its node's own (it counts towards a quorum), so it is told apart by node.
   */
  readonly seen: string[];
}

/** One channel, shared by every waiter of this manager on it. */
class Channel {
  refs = 0;
  /** Unsubscribes the channel once it has lingered LINGER_MS without waiters (made when its last waiter first left). */
  linger: NodeJS.Timeout | undefined;
  /** Settles once the subscription was confirmed by the nodes that answered in time; says how many did. */
  ready: Promise<number> = Promise.resolve(0);
  /** How many nodes confirmed, once `ready` has settled. */
  confirmed: number | undefined;
  /** This manager's waiters on this channel, by waiter id. */
  readonly waiters = new Map<string, Slot>();
}

export interface PubSubOptions {
  /** Bound on waiting for a subscription to be confirmed. */
  readonly nodeTimeout: number;
  /** Confirmations from this many nodes are enough to wait on (the lock's quorum). */
  readonly quorum: number;
  /** Re-check interval for a channel no node would subscribe to (e.g. SUBSCRIBE forbidden). */
  readonly fallbackInterval: number;
}

/**
 * Waiting without spinning. Waiters queue in Redis, and a release publishes a wake-up addressed to the one
 * waiter whose turn it is ("<kind>:<waiter id>…"), on the resource's channel suffixed with the tag of that
 * waiter's manager: only that manager receives it, and only the addressed waiter wakes. One subscriber
 * connection per node, channels reference-counted. A
 * waiter also wakes when `retryAfter` passes (a lock that expired publishes nothing), after a slow re-check (a
 * message can be lost), and when a subscriber reconnects (it may have missed one).
 */
export class PubSubStrategy implements WaitStrategy {
  readonly reachable = true;
  readonly #nodes: readonly RedisConnection[];
  readonly #options: PubSubOptions;
  readonly #channels = new Map<string, Channel>();
  readonly #ids = waiterIds();
  #subscribers: Subscriber[] | undefined;

  constructor(nodes: readonly RedisConnection[], options: PubSubOptions) {
    this.#nodes = nodes;
    this.#options = options;
  }

  /** Channels currently subscribed (for tests and diagnostics). */
  get channels(): number {
    return this.#channels.size;
  }

  newWaiterId(): string {
    return this.#ids.next();
  }

  begin(lockChannel: string, id: string): Waiter {
    // This manager's own channel for the lock: the wake-ups for its waiters, and no other client's.
    const name = `${lockChannel}:${this.#ids.tag}`;
    const slot: Slot = { messages: [], wake: undefined, seen: [] };
    let channel: Channel | undefined;
    let subscribed = 0;
    // A channel this manager already listens on (other waiters, or one lingering after them) is joined before
    // the first attempt: a wake-up for this waiter cannot then slip between its failed attempt and its wait, so
    // the wait needs no extra attempt to cover that gap. Otherwise the channel is joined after the first failed
    // attempt, so that an uncontended acquire costs no subscription.
    // (No lookup while no channel is live at all: the uncontended path.)
    const live = this.#channels.size > 0 ? this.#channels.get(name) : undefined;
    if (live?.confirmed) {
      channel = this.#join(name);
      channel.waiters.set(id, slot);
      subscribed = live.confirmed;
    }
    return {
      next: async (retryAfter, deadline, signal) => {
        if (!channel) {
          // Joined after the first failed attempt, so an uncontended acquire costs no subscription. Once the
          // subscription is confirmed, try again at once: a wake-up published before it took effect is found by
          // that attempt (a lock kept for this waiter, or a free one), and any later one reaches us.
          channel = this.#join(name);
          channel.waiters.set(id, slot);
          subscribed = await bounded(
            channel.ready,
            Math.min(this.#options.nodeTimeout, deadline - monotonicNow()),
            signal,
          );
          return take(slot);
        }
        if (slot.messages.length === 0) {
          const recheck = subscribed > 0 ? RECHECK_MS : this.#options.fallbackInterval;
          const untilFree = retryAfter === undefined ? recheck : retryAfter + 1;
          await park(slot, Math.min(untilFree, recheck, deadline - monotonicNow()), signal);
        }
        return take(slot);
      },
      listening: () => channel !== undefined && subscribed > 0,
      end: () => {
        if (!channel) return;
        channel.waiters.delete(id);
        this.#leave(name, channel);
        channel = undefined;
      },
    };
  }

  async close(): Promise<void> {
    for (const channel of this.#channels.values()) {
      clearTimeout(channel.linger);
      for (const slot of channel.waiters.values()) slot.wake?.();
    }
    this.#channels.clear();
    await Promise.allSettled((this.#subscribers ?? []).map((s) => s.close()));
    this.#subscribers = undefined;
  }

  #subscriberSet(): Subscriber[] {
    this.#subscribers ??= this.#nodes.map((node, i) =>
      node.subscriber({
        message: (channel, message) => this.#onMessage(channel, message, i),
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
      // Settles once a quorum confirmed (a release wakes the waiter on at least a quorum, which overlaps it, so
      // no wake-up is missed), or once every node answered or timed out: a frozen minority does not hold up
      // every new waiter by the node timeout.
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
    // A linger timer still set finds the channel in use when it fires, and does nothing.
    channel.refs++;
    return channel;
  }

  #leave(name: string, channel: Channel): void {
    if (--channel.refs > 0 || this.#channels.get(name) !== channel) return;
    // One timer per channel, set again each time its last waiter leaves (a worker in a loop leaves once per
    // lock taken): no timer made and cleared per wait.
    if (channel.linger) {
      channel.linger.refresh();
      return;
    }
    channel.linger = setTimeout(() => {
      if (channel.refs > 0 || this.#channels.get(name) !== channel) return;
      this.#channels.delete(name);
      // Sent after the SUBSCRIBE on the same connections, so it cannot overtake it.
      for (const s of this.#subscribers ?? []) s.unsubscribe(name).catch(() => {});
    }, LINGER_MS);
    channel.linger.unref();
  }

  #onMessage(name: string, message: string, node: number): void {
    // "<kind>:<waiter id>[:…]": the id is everything between the first two colons.
    const from = message.indexOf(":") + 1;
    if (from === 0) return;
    const to = message.indexOf(":", from);
    const slot = this.#channels.get(name)?.waiters.get(message.slice(from, to < 0 ? undefined : to));
    if (!slot) return;
    const seen = message.charCodeAt(0) === 104 ? `${node}|${message}` : message; // 'h': a hand-off
    if (slot.seen.includes(seen)) return;
    slot.seen.push(seen);
    if (slot.seen.length > SEEN) slot.seen.shift();
    slot.messages.push({ text: message, node });
    if (slot.messages.length > KEPT) slot.messages.shift();
    slot.wake?.();
  }

  #wakeEveryone(): void {
    for (const channel of this.#channels.values()) for (const slot of channel.waiters.values()) slot.wake?.();
  }
}

/** The messages addressed to this waiter, once: a second look finds nothing new. */
function take(slot: Slot): readonly WakeUp[] | undefined {
  if (slot.messages.length === 0) return undefined;
  const messages = slot.messages;
  slot.messages = [];
  return messages;
}

/** Sleeps until the slot is woken, `ms` passes, or `signal` aborts (rejecting with its reason). */
function park(slot: Slot, ms: number, signal: Abortable | undefined): Promise<void> {
  return pause(ms, signal, (wake) => {
    slot.wake = wake;
  }).finally(() => {
    slot.wake = undefined;
  });
}

/** `work`'s value, or 0 once `ms` passed; rejects with the signal's reason when it aborts. */
async function bounded(work: Promise<number>, ms: number, signal: Abortable | undefined): Promise<number> {
  if (signal?.aborted) throw signal.reason;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => void) | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(0), Math.max(0, ms));
      }),
      new Promise<number>((_, reject) => {
        unlisten = signal?.onAbort(() => reject(signal.reason));
      }),
    ]);
  } finally {
    clearTimeout(timer);
    unlisten?.();
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

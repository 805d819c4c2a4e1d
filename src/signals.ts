// How a call in progress learns that it must stop: the caller's AbortSignal, or the manager's close(). Inside,
// a call listens to a `Cancel` of its own rather than an AbortSignal: building an AbortSignal (an EventTarget)
// was the largest single cost of an uncontended acquire, and a call rarely has more than one listener at a time.
// One listener per distinct caller signal fans out to every call using it: thousands of concurrent calls may
// share one signal, and an EventTarget walks its whole listener list on every add and remove, while
// AbortSignal.any() on Node 20 keeps a record on the source signal for every call it ever combined.

/** What internal waits and votes listen to: the part of an AbortSignal they use. */
export interface Abortable {
  readonly aborted: boolean;
  /** Why it was aborted (undefined until then). */
  readonly reason: unknown;
  /** Calls `listener` once, when aborted later; returns the function that removes it. */
  onAbort(listener: () => void): () => void;
}

/** One call's cancellation: aborted once, by the caller's signal or by close(). */
export class Cancel implements Abortable {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] | undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }

  onAbort(listener: () => void): () => void {
    if (this.aborted) return () => {};
    this.#listeners ??= [];
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.#listeners!.splice(i, 1);
    };
  }
}

/**
 * Resolves after `ms` (at once when ≤ 0), or earlier once the function handed to `early` is called, or rejects
 * with `signal`'s reason when it aborts first.
 */
export function pause(
  ms: number,
  signal: Abortable | undefined,
  early?: (wake: () => void) => void,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const finish = (aborted: boolean) => {
      clearTimeout(timer);
      off?.();
      if (aborted) reject(signal?.reason);
      else resolve();
    };
    const timer = setTimeout(() => finish(false), Math.max(0, ms));
    const off = signal?.onAbort(() => finish(true));
    early?.(() => finish(false));
  });
}

const NOTHING = (): void => {};

interface Link {
  readonly cancels: Set<Cancel>;
  readonly onAbort: () => void;
}

export class SignalFanout {
  readonly #links = new WeakMap<AbortSignal, Link>();

  /** Aborts `cancel` when `signal` aborts; returns the function that undoes the link. */
  link(signal: AbortSignal | undefined, cancel: Cancel): () => void {
    if (!signal) return NOTHING;
    if (signal.aborted) {
      cancel.abort(signal.reason);
      return NOTHING;
    }
    let link = this.#links.get(signal);
    if (!link) {
      const cancels = new Set<Cancel>();
      const onAbort = () => {
        this.#links.delete(signal);
        for (const c of cancels) c.abort(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      link = { cancels, onAbort };
      this.#links.set(signal, link);
    }
    const { cancels, onAbort } = link;
    cancels.add(cancel);
    return () => {
      cancels.delete(cancel);
      if (cancels.size === 0 && this.#links.get(signal) === link) {
        signal.removeEventListener("abort", onAbort);
        this.#links.delete(signal);
      }
    };
  }
}

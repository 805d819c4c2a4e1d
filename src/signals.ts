// Ties the caller's AbortSignal to one AbortController per call. One listener per distinct signal fans out
// to every call using it: thousands of concurrent calls may share one signal, and an EventTarget walks its
// whole listener list on every add and remove, while AbortSignal.any() on Node 20 keeps a record on the
// source signal for every call it ever combined.

interface Link {
  readonly controllers: Set<AbortController>;
  readonly onAbort: () => void;
}

export class SignalFanout {
  readonly #links = new WeakMap<AbortSignal, Link>();

  /** Aborts `controller` when `signal` aborts; returns the function that undoes the link. */
  link(signal: AbortSignal | undefined, controller: AbortController): () => void {
    if (!signal) return () => {};
    if (signal.aborted) {
      controller.abort(signal.reason);
      return () => {};
    }
    let link = this.#links.get(signal);
    if (!link) {
      const controllers = new Set<AbortController>();
      const onAbort = () => {
        this.#links.delete(signal);
        for (const c of controllers) c.abort(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      link = { controllers, onAbort };
      this.#links.set(signal, link);
    }
    const { controllers, onAbort } = link;
    controllers.add(controller);
    return () => {
      controllers.delete(controller);
      if (controllers.size === 0 && this.#links.get(signal) === link) {
        signal.removeEventListener("abort", onAbort);
        this.#links.delete(signal);
      }
    };
  }
}

// What `quorumlock run` shows while it waits for a busy lock: on a terminal, a live line (elapsed, who holds it,
// how long they have left); otherwise one plain line when the wait begins.
import { LockAdmin, type LockState } from "../admin.js";

const REDRAW_MS = 200;
const PROBE_MS = 1_000;

/**
 * Who holds the lock, as far as the nodes say: the start of the holder's token, and its TTL left `sinceMs`
 * after the nodes were asked.
 */
export function holderOf(state: LockState | undefined, sinceMs = 0, permit = false): string {
  if (!state) return "holder unknown";
  if (permit) {
    const s = state.semaphore;
    return s ? `${s.permits} of ${s.limit} permits held` : "just freed";
  }
  if (state.holder) {
    const ttl = state.holder.ttlMs;
    const left = ttl < 0 ? "no expiry" : `${(Math.max(0, ttl - sinceMs) / 1000).toFixed(1)}s left`;
    return `held by ${state.holder.token.slice(0, 8)}…, ${left}`;
  }
  if (state.readers > 0) return `held shared by ${state.readers} reader${state.readers === 1 ? "" : "s"}`;
  return state.state === "free" ? "just freed" : "holder unknown";
}

/** Starts showing the wait; the returned function stops it and clears the line. */
export async function showWaiting(
  urls: string[],
  resource: string,
  wait: number,
  say: (line: string) => void,
  permit = false,
): Promise<() => Promise<void>> {
  const admin = new LockAdmin({ nodes: urls, timeout: 500 });
  let seen = await probe(admin, resource);
  const limit = `up to ${(wait / 1000).toFixed(1)}s`;
  if (!process.stderr.isTTY) {
    say(`"${resource}" is busy (${holderOf(seen.state, 0, permit)}); waiting ${limit}`);
    await admin.close();
    return async () => {};
  }
  const started = performance.now();
  const draw = () => {
    const elapsed = ((performance.now() - started) / 1000).toFixed(1);
    const holder = holderOf(seen.state, performance.now() - seen.at, permit);
    process.stderr.write(`\r\x1b[Kquorumlock: waiting for "${resource}" ${elapsed}s (${limit}) — ${holder}`);
  };
  const redraw = setInterval(draw, REDRAW_MS);
  let probing = false;
  const reprobe = setInterval(() => {
    if (probing) return; // a slow node: never pile probes up
    probing = true;
    void probe(admin, resource).then((fresh) => {
      seen = fresh;
      probing = false;
    });
  }, PROBE_MS);
  draw();
  return async () => {
    clearInterval(redraw);
    clearInterval(reprobe);
    process.stderr.write("\r\x1b[K");
    await admin.close();
  };
}

/** One look at the holder, on connections of its own (for the "busy" message). */
export async function probeHolder(urls: string[], resource: string, permit = false): Promise<string> {
  const admin = new LockAdmin({ nodes: urls, timeout: 500 });
  try {
    return holderOf((await probe(admin, resource)).state, 0, permit);
  } finally {
    await admin.close();
  }
}

/** The lock's state (undefined if it could not be read), and when the nodes were asked. */
async function probe(admin: LockAdmin, resource: string): Promise<{ state?: LockState; at: number }> {
  const at = performance.now();
  try {
    return { state: await admin.inspect(resource), at };
  } catch {
    return { at };
  }
}

// The process group `quorumlock run` starts its command in, so that a lost lease or a forwarded signal reaches
// everything the command started (`sh -c 'a; b'`, `npm run x`), not only its first process.
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Sends `signal` to every process in group `pgid`; a group that is gone (or not ours to signal) is ignored. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nobody left. EPERM: only processes that changed user (sudo) are left; nothing we may do.
  }
}

/** Whether any process of group `pgid` is still running (a zombie is not: it runs nothing and holds nothing). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
  return hasLiveMember(pgid);
}

/**
 * kill() counts zombies, and an orphan's zombie lingers where PID 1 does not reap (many containers); /proc tells
 * them apart. Without /proc, trust kill().
 */
function hasLiveMember(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return true;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") return true;
  }
  return false;
}

/** Resolves `true` once group `pgid` has no running process, `false` if some remain after `ms`. */
export async function groupGone(pgid: number, ms: number): Promise<boolean> {
  // No event tells a parent that processes it did not start have exited: poll, quickly at first.
  const deadline = performance.now() + ms;
  for (let pause = 5; groupAlive(pgid); pause = Math.min(pause * 2, 100)) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(Math.min(pause, left));
  }
  return true;
}

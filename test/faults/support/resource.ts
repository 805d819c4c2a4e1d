// The protected resource of the fault tests, living in the test process: a fencing register (refuses stale
// fences) and an unfenced counter updated by read-modify-write (loses updates if two holders overlap). Holders
// in worker processes reach it over IPC.
import { FencingRegister, LostUpdateCounter } from "../../harness/checker.js";
import type { WorkerProcess } from "../../harness/workers.js";

export type ResourceRequest =
  | { readonly type: "read"; readonly id: number; readonly fence: number }
  | { readonly type: "write"; readonly id: number; readonly fence: number; readonly count: number };
export type ResourceReply = {
  readonly type: "reply";
  readonly id: number;
  readonly ok: boolean;
  readonly count: number;
};

export function isResourceRequest(message: unknown): message is ResourceRequest {
  const type = (message as { type?: unknown } | null)?.type;
  return type === "read" || type === "write";
}

export class ProtectedResource {
  readonly register = new FencingRegister<number>();
  readonly counter = new LostUpdateCounter();

  /** A fenced read of the register, and the counter's value (unfenced). */
  read(fence: number): { ok: boolean; count: number } {
    return { ok: this.register.read(fence).ok, count: this.counter.read() };
  }

  /** The counter takes any write (that is how it sees lost updates); the register only a fresh fence. */
  write(fence: number, count: number): { ok: boolean; count: number } {
    this.counter.write(count);
    return { ok: this.register.write(fence, count).ok, count };
  }

  handle(request: ResourceRequest): ResourceReply {
    const result =
      request.type === "read" ? this.read(request.fence) : this.write(request.fence, request.count);
    return { type: "reply", id: request.id, ...result };
  }

  /** Answers a worker's requests until it exits. */
  async serve(worker: WorkerProcess): Promise<void> {
    let gone = false;
    void worker.exited.then(() => {
      gone = true;
    });
    while (!gone) {
      let request: ResourceRequest;
      try {
        request = await worker.waitFor(isResourceRequest, 60_000);
      } catch {
        continue; // idle for a minute, or exited (the loop then ends)
      }
      try {
        worker.send(this.handle(request));
      } catch {
        return; // the worker is gone
      }
    }
  }

  /** Throws unless the checker saw no stale access and no lost update. */
  assertClean(): void {
    if (this.register.rejections > 0 || this.counter.lostUpdates > 0) {
      throw new Error(
        `resource: ${this.register.rejections} stale access(es) refused, ${this.counter.lostUpdates} lost update(s)`,
      );
    }
  }
}

/** The worker's side: the resource's read and write over IPC. */
export function resourceClient(): {
  read(fence: number): Promise<ResourceReply>;
  write(fence: number, count: number): Promise<ResourceReply>;
} {
  const pending = new Map<number, (reply: ResourceReply) => void>();
  let next = 0;
  process.on("message", (message: ResourceReply) => {
    if (message?.type === "reply") pending.get(message.id)?.(message);
  });
  const ask = (request: Omit<ResourceRequest, "id"> & { count?: number }) =>
    new Promise<ResourceReply>((resolve) => {
      const id = next++;
      pending.set(id, (reply) => {
        pending.delete(id);
        resolve(reply);
      });
      process.send?.({ ...request, id });
    });
  return {
    read: (fence) => ask({ type: "read", fence }),
    write: (fence, count) => ask({ type: "write", fence, count }),
  };
}

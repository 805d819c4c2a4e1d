// redlock 5.0.0-beta.2 ships types that its package.json "exports" map does not expose; this declares the
// part the benchmark uses.
declare module "redlock" {
  import type { EventEmitter } from "node:events";
  import type { Redis } from "ioredis";

  export default class Redlock extends EventEmitter {
    constructor(clients: Iterable<Redis>);
    acquire(resources: string[], duration: number): Promise<{ release(): Promise<unknown> }>;
  }
}

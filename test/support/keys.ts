// The keys a test reads from the outside: the library's own layout under the default prefix.
import { type MutexKeys, mutexKeys } from "../../src/mutex/keys.js";

export const keysOf = (resource: string): MutexKeys => mutexKeys("quorumlock:", resource);
export const lockKey = (resource: string): string => keysOf(resource).lock;

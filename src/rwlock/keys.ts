// A read-write lock's keys are the mutex's of the same name (its write side), whose key set names the readers,
// their queue and heartbeats: the mutex's scripts must see readers to refuse writers while they hold.
export { type MutexKeys as ReadWriteKeys, mutexKeys as readWriteKeys } from "../mutex/keys.js";

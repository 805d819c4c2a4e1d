// A fresh resource name per test, so tests never see each other's keys (nor a process's another's).
let counter = 0;

export const fresh = (what: string): string => `${what}:${process.pid}:${++counter}`;

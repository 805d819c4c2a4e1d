// Every library must close cleanly: once the benchmark (or a worker process) has closed everything, nothing may
// keep the process alive. Instead of hanging, a process that is still alive shortly after says what is left
// open and exits with 1.
export function exitsByItself(who: string, graceMs = 3000): void {
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap");
    console.error(`${who}: still running ${graceMs} ms after closing everything; open: ${left.join(", ")}`);
    process.exit(1);
  }, graceMs).unref();
}

/**
 * Time for background work (the journal's commit timer, later periodic
 * writeback). The engine never calls setTimeout or Date.now directly for
 * these: it takes a `Clock`, so a deterministic simulation can run them on
 * virtual time (src/sim/scheduler.ts supplies that clock; the interface is
 * structural, so nothing here imports the simulator).
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Runs `fn` once after `ms`, as its own operation. */
  setTimer(ms: number, fn: () => Promise<void> | void, name?: string): TimerHandle;
}

/**
 * Wall-clock time. Timers are unref'd: a volume left open must not keep
 * the Node process alive just to commit later (close() commits).
 */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  setTimer(ms, fn) {
    const t = setTimeout(() => {
      void Promise.resolve().then(fn).catch(() => undefined);
    }, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

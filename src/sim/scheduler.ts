/**
 * Deterministic scheduler for async operations (DESIGN.md §4).
 *
 * The engine is single-threaded async code: an `await` is the only place
 * where another operation can run. The scheduler makes that choice explicit
 * and reproducible. Operations run as *tasks* (`spawn`), and exactly one task
 * runs at a time: it runs until it parks — at a `yieldPoint(name)`, a
 * `blockOn(what, promise)`, a virtual `sleep`, or its end — and then the
 * scheduler picks the next runnable task with its seeded PRNG. Between two
 * decisions the scheduler lets the microtask queue drain completely
 * (`setImmediate`), so everything that is merely "already resolved" has
 * happened before the next choice and the run depends on the seed alone.
 *
 * Task identity travels with the async context (AsyncLocalStorage), so a hook
 * called deep inside the engine knows which task called it. What the
 * scheduler actually schedules are *parked continuations* ("waits"): a task
 * may have several at once (`Promise.all` over device writes), and each step
 * resumes exactly one of them.
 *
 * Virtual time: `clock.now()` only moves when no task can run and a timer is
 * due; then time jumps to the earliest timer. Background work (commit timer,
 * periodic writeback) started with `clock.setTimer` runs as its own daemon
 * task, so tests run minutes of "time" in milliseconds.
 *
 * What the scheduler cannot see: a task awaiting something that is neither a
 * scheduler hook nor resolved by the microtask queue (real I/O, a lock that
 * does not use `blockOn`). Such a task is marked `untracked`; it may then run
 * concurrently with the chosen task, which is still legal JS but weakens
 * replay and deadlock reports. The trace records every such case.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Prng } from './prng.js';

export type TaskState = 'ready' | 'running' | 'blocked' | 'sleeping' | 'untracked' | 'done' | 'failed';

export interface SimTask {
  readonly id: number;
  readonly name: string;
  /** Daemon tasks (background work, device completions) do not keep `run()` going. */
  readonly daemon: boolean;
  readonly state: TaskState;
  /** Where the task last parked or resumed: a yield point name, `start`, `sleep(ms)`, `woken:<what>`. */
  readonly at: string;
  /** What a blocked task waits for (several waits are joined with ' & '). */
  readonly blockedOn: string | undefined;
}

export interface TraceEntry {
  step: number;
  /** Virtual time (ms) when the step was taken. */
  time: number;
  task: string;
  /** The point the task resumes from, or a scheduler event (`time→5000`, `untracked`). */
  point: string;
}

export interface TaskHandle<T> {
  readonly task: SimTask;
  /** Settles when the task ends. Awaiting it from outside a task does not run the scheduler: call `run()`. */
  readonly result: Promise<T>;
}

/** The engine's clock (src/base/clock.ts); this file supplies the virtual one. */
export type { Clock, TimerHandle } from '../base/clock.js';
import type { Clock, TimerHandle } from '../base/clock.js';

export interface SchedulerOptions {
  /** Stop with an error after this many steps (catches livelock). */
  maxSteps?: number;
  /** Extra text per task in deadlock reports (the lock validator lists held locks). */
  describeTask?: (task: SimTask) => string;
  /** Called after every step; used to cut power at a chosen step. */
  afterStep?: (step: number) => void;
}

/** A failure inside a simulation: carries the seed and the trace to replay it. */
export class SimulationError extends Error {
  constructor(
    message: string,
    readonly seed: number,
    readonly trace: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n  seed=${seed} (rerun this seed to replay)\n  trace (last steps):\n${trace}`, options);
    this.name = 'SimulationError';
  }
}

export class DeadlockError extends SimulationError {
  override name = 'DeadlockError';
}

type WaitKind = 'start' | 'yield' | 'block' | 'sleep';

/** One parked continuation of a task. */
interface Wait {
  seq: number;
  task: TaskRec;
  kind: WaitKind;
  /** Trace label of the point the continuation resumes from. */
  point: string;
  ready: boolean;
  resume(): void;
}

class TaskRec implements SimTask {
  readonly waits = new Set<Wait>();
  at = 'start';
  running = false;
  done = false;
  failed = false;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly daemon: boolean,
    readonly settle: { resolve(v: unknown): void; reject(e: unknown): void },
  ) {}

  get state(): TaskState {
    if (this.failed) return 'failed';
    if (this.done) return 'done';
    if (this.running) return 'running';
    const ws = [...this.waits];
    if (ws.some((w) => w.ready)) return 'ready';
    if (ws.some((w) => w.kind === 'block')) return 'blocked';
    if (ws.some((w) => w.kind === 'sleep')) return 'sleeping';
    return 'untracked';
  }

  get blockedOn(): string | undefined {
    const ws = [...this.waits].filter((w) => w.kind === 'block' && !w.ready).map((w) => w.point.replace(/^blocked:/, ''));
    return ws.length > 0 ? ws.join(' & ') : undefined;
  }
}

interface TimerRec {
  at: number;
  seq: number;
  cancelled: boolean;
  fire(): void;
}

/**
 * Resolves after every queued microtask (and process.nextTick) has run:
 * Node empties those queues before it reaches the check phase.
 */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Scheduler {
  readonly rng: Prng;
  readonly clock: Clock;
  /** Every step taken, in order. Identical for identical seeds. */
  readonly trace: TraceEntry[] = [];
  private readonly als = new AsyncLocalStorage<TaskRec>();
  private readonly tasks: TaskRec[] = [];
  private waits: Wait[] = [];
  private waitSeq = 0;
  private timers: TimerRec[] = [];
  private timerSeq = 0;
  private time = 0;
  private steps = 0;
  private failure: { task: TaskRec; error: unknown } | undefined;
  private haltReason: string | undefined;
  private runningLoop = false;
  private readonly opts: SchedulerOptions;

  constructor(rng: Prng, opts: SchedulerOptions = {}) {
    this.rng = rng;
    this.opts = opts;
    const clock: Clock = {
      now: () => this.time,
      sleep: (ms) => this.sleep(ms),
      setTimer: (ms, fn, name) => this.setTimer(ms, fn, name),
    };
    this.clock = clock;
  }

  get seed(): number {
    return this.rng.seed;
  }

  get stepCount(): number {
    return this.steps;
  }

  get halted(): boolean {
    return this.haltReason !== undefined;
  }

  /** The task whose code is running, or undefined outside any task. */
  current(): SimTask | undefined {
    return this.currentRec();
  }

  private currentRec(): TaskRec | undefined {
    const t = this.als.getStore();
    // The store could belong to another scheduler (an earlier simulation).
    return t !== undefined && this.tasks[t.id] === t ? t : undefined;
  }

  allTasks(): readonly SimTask[] {
    return this.tasks;
  }

  /** Adds a runnable task; its code starts when the scheduler first picks it. */
  spawn<T>(name: string, fn: () => Promise<T>, opts: { daemon?: boolean } = {}): TaskHandle<T> {
    let settle!: TaskRec['settle'];
    const result = new Promise<T>((resolve, reject) => {
      settle = { resolve: (v) => resolve(v as T), reject };
    });
    // The handle's promise is for callers who want the value; a task's
    // failure is reported by run(), so an unobserved rejection here is not
    // an error of its own.
    result.catch(() => undefined);
    const t = new TaskRec(this.tasks.length, name, opts.daemon ?? false, settle);
    this.tasks.push(t);
    const w = this.addWait(t, 'start', 'start', true);
    w.resume = () => {
      this.als.run(t, () => {
        Promise.resolve().then(fn).then(
          (v) => { t.done = true; t.at = 'end'; t.settle.resolve(v); },
          (e: unknown) => {
            t.failed = true;
            t.at = 'failed';
            this.failure ??= { task: t, error: e };
            t.settle.reject(e);
          },
        );
      });
    };
    return { task: t, result };
  }

  /**
   * The `yieldPoint` hook: parks the calling continuation as runnable and
   * returns the promise the scheduler resolves when it picks it. Outside a
   * task it returns undefined (nothing to wait for).
   */
  yieldPoint(name: string): Promise<void> | undefined {
    const t = this.currentRec();
    if (t === undefined) return undefined;
    return this.park(t, 'yield', name, true).promise;
  }

  /**
   * The `blockOn` hook: the caller waits for `until`. The continuation is
   * not runnable until `until` settles; then it becomes runnable and resumes
   * when picked, so the PRNG, not the microtask queue, decides who runs after
   * a lock release.
   */
  blockOn<T>(what: string, until: Promise<T>): Promise<T> | undefined {
    const t = this.currentRec();
    if (t === undefined) return undefined;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    const { wait, promise } = this.park(t, 'block', `blocked:${what}`, false);
    const wake = (): void => {
      wait.ready = true;
      wait.point = `woken:${what}`;
    };
    until.then(
      (value) => { outcome = { ok: true, value }; wake(); },
      (error: unknown) => { outcome = { ok: false, error }; wake(); },
    );
    return promise.then(() => {
      if (outcome === undefined) throw new Error(`scheduler resumed ${t.name} before ${what} settled`);
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    });
  }

  /** Virtual sleep. Outside a task the promise resolves when run() advances time past it. */
  sleep(ms: number): Promise<void> {
    const t = this.currentRec();
    const at = this.time + Math.max(0, ms);
    if (t === undefined) {
      return new Promise((resolve) => this.addTimer(at, resolve));
    }
    const { wait, promise } = this.park(t, 'sleep', `sleep(${ms})`, false);
    this.addTimer(at, () => {
      wait.ready = true;
      wait.point = `slept(${ms})`;
    });
    return promise;
  }

  /** Runs `fn` as a new daemon task once virtual time reaches now+ms. */
  setTimer(ms: number, fn: () => Promise<void> | void, name = 'timer'): TimerHandle {
    const rec = this.addTimer(this.time + Math.max(0, ms), () => {
      this.spawn(name, async () => { await fn(); }, { daemon: true });
    });
    return { cancel: () => { rec.cancelled = true; } };
  }

  /**
   * Stops the run (e.g. at a power cut): run() returns at its next decision
   * and every unfinished task is abandoned, as the processes of a machine
   * that lost power are.
   */
  halt(reason: string): void {
    this.haltReason ??= reason;
  }

  /**
   * Runs until every non-daemon task has finished. Throws a SimulationError
   * for the first task that fails, a DeadlockError when tasks wait and
   * nothing can wake them, and a SimulationError after `maxSteps`.
   */
  async run(): Promise<void> {
    if (this.runningLoop) throw new Error('Scheduler.run() is already running');
    this.runningLoop = true;
    try {
      await this.loop();
    } finally {
      this.runningLoop = false;
    }
  }

  private async loop(): Promise<void> {
    const maxSteps = this.opts.maxSteps ?? 1_000_000;
    let idleRounds = 0;
    for (;;) {
      await drainMicrotasks();
      if (this.failure !== undefined) {
        const { task, error } = this.failure;
        const msg = error instanceof Error ? error.message : String(error);
        throw new SimulationError(`task ${task.name} failed: ${msg}`, this.seed, this.formatTrace(), { cause: error });
      }
      if (this.haltReason !== undefined) return;
      if (this.tasks.every((t) => t.daemon || t.done)) return;
      if (this.steps >= maxSteps) {
        throw new SimulationError(`no end after ${maxSteps} steps (livelock?)\n${this.describeTasks()}`, this.seed, this.formatTrace());
      }
      // Creation order, then a PRNG pick: the same seed picks the same wait.
      const ready = this.waits.filter((w) => w.ready);
      if (ready.length > 0) {
        idleRounds = 0;
        this.step(this.rng.pick(ready));
        continue;
      }
      // Nothing runnable. A task waiting on something the scheduler cannot
      // see (real I/O) may still progress in real time: give it a moment.
      if (this.tasks.some((t) => t.state === 'untracked') && idleRounds < 20) {
        idleRounds++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      if (this.advanceTime()) continue;
      throw new DeadlockError(`deadlock: no task can run\n${this.describeTasks()}`, this.seed, this.formatTrace());
    }
  }

  private step(w: Wait): void {
    this.steps++;
    const t = w.task;
    this.trace.push({ step: this.steps, time: this.time, task: t.name, point: w.point });
    this.waits.splice(this.waits.indexOf(w), 1);
    t.waits.delete(w);
    t.at = w.point;
    t.running = true;
    w.resume();
    // Runs after the continuation's microtasks: by then it has parked again,
    // ended, or is waiting on something the scheduler cannot see.
    void drainMicrotasks().then(() => {
      t.running = false;
      if (!t.done && !t.failed && t.waits.size === 0) {
        this.trace.push({ step: this.steps, time: this.time, task: t.name, point: `untracked after ${w.point}` });
      }
      this.opts.afterStep?.(this.steps);
    });
  }

  private advanceTime(): boolean {
    this.timers = this.timers.filter((x) => !x.cancelled);
    if (this.timers.length === 0) return false;
    this.timers.sort((x, y) => x.at - y.at || x.seq - y.seq);
    const at = this.timers[0].at;
    this.time = at;
    this.trace.push({ step: this.steps, time: at, task: '-', point: `time→${at}` });
    while (this.timers.length > 0 && this.timers[0].at === at) {
      this.timers.shift()?.fire();
    }
    return true;
  }

  private addTimer(at: number, fire: () => void): TimerRec {
    const rec: TimerRec = { at, seq: this.timerSeq++, cancelled: false, fire };
    this.timers.push(rec);
    return rec;
  }

  private addWait(t: TaskRec, kind: WaitKind, point: string, ready: boolean): Wait {
    const w: Wait = { seq: this.waitSeq++, task: t, kind, point, ready, resume: () => undefined };
    this.waits.push(w);
    t.waits.add(w);
    return w;
  }

  private park(t: TaskRec, kind: WaitKind, point: string, ready: boolean): { wait: Wait; promise: Promise<void> } {
    const wait = this.addWait(t, kind, point, ready);
    const promise = new Promise<void>((resolve) => {
      wait.resume = resolve;
    });
    return { wait, promise };
  }

  /** One line per unfinished task: state, what it waits for, plus describeTask. */
  describeTasks(): string {
    const lines: string[] = [];
    for (const t of this.tasks) {
      if (t.done) continue;
      const state = t.state;
      const waits = state === 'blocked' ? `blocked on ${t.blockedOn}` : state === 'untracked' ? `waiting outside the simulator after ${t.at}` : `${state} at ${t.at}`;
      const extra = this.opts.describeTask?.(t) ?? '';
      lines.push(`  ${t.name}${t.daemon ? ' (daemon)' : ''}: ${waits}${extra ? `; ${extra}` : ''}`);
    }
    return lines.join('\n');
  }

  /** The last `limit` trace entries, one per line. */
  formatTrace(limit = 40): string {
    const from = Math.max(0, this.trace.length - limit);
    const lines = this.trace.slice(from).map((e) => `    #${e.step} t=${e.time} ${e.task} @ ${e.point}`);
    if (from > 0) lines.unshift(`    ... ${from} earlier entries`);
    return lines.join('\n');
  }
}

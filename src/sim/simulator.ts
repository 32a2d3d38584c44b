/**
 * The simulator as tests use it: one seed, one PRNG, a scheduler with its
 * virtual clock, the lock validator and simulated devices, installed behind
 * the production hooks (src/sim/hooks.ts) for the duration of one test body.
 *
 *   await withSimulator({ seed }, async (sim) => {
 *     const dev = sim.device({ size: 8 << 20 });
 *     sim.spawn('writer', () => vol.promises.writeFile('/a', data));
 *     sim.spawn('fsync', async () => { ... });
 *     sim.cutPowerAtStep(40, dev);      // optional: crash mid-run
 *     await sim.run();
 *     const image = sim.crashImage ?? dev.durableImage();
 *     // reopen `image` and check invariants
 *   });
 *
 * Any failure inside — a task throwing, a deadlock, a lock-order violation
 * (even one the engine caught and swallowed) — leaves as a SimulationError
 * whose message starts with the failure and carries `seed=N` and the tail of
 * the trace, so the run can be replayed by rerunning that seed.
 */
import { installSimHooks, type SimHooks, type WaitKind } from './hooks.js';
import { LockValidator } from './lock-validator.js';
import { Prng } from './prng.js';
import { Scheduler, SimulationError, type Clock, type TaskHandle } from './scheduler.js';
import { SimDevice, type PowerCutOptions, type SimDeviceOptions } from './sim-device.js';

export interface SimulatorOptions {
  seed: number;
  /** Scheduler step limit (default 1,000,000). */
  maxSteps?: number;
  /** Lock ranks, outermost first (default DESIGN.md §3). */
  lockOrder?: readonly (readonly string[])[];
}

export class Simulator {
  readonly seed: number;
  readonly rng: Prng;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly locks: LockValidator;
  /** The image left by a power cut made through cutPowerAtStep / powerCut. */
  crashImage: Buffer | undefined;
  private crashPlan: { step: number; dev: SimDevice; opts: PowerCutOptions } | undefined;
  private yieldCrashPlan: { name: string; remaining: number; dev: SimDevice; opts: PowerCutOptions } | undefined;

  constructor(opts: SimulatorOptions) {
    this.seed = opts.seed;
    this.rng = new Prng(opts.seed);
    this.scheduler = new Scheduler(this.rng, {
      maxSteps: opts.maxSteps,
      describeTask: (t) => {
        const held = this.locks.heldBy(t);
        return held.length === 0 ? '' : `holds ${held.map((h) => h.lockClass).join(', ')}`;
      },
      afterStep: (step) => {
        const plan = this.crashPlan;
        if (plan !== undefined && step >= plan.step) this.powerCut(plan.dev, plan.opts);
      },
    });
    this.clock = this.scheduler.clock;
    this.locks = new LockValidator({
      currentOwner: () => this.scheduler.current(),
      order: opts.lockOrder,
      // No `context`: every violation leaves through wrap(), which adds the seed and trace.
    });
  }

  /** The hook implementation installed while the simulator is active. */
  hooks(): SimHooks {
    return {
      yieldPoint: (name) => {
        this.maybeCutAtYield(name);
        return this.scheduler.yieldPoint(name);
      },
      lockAcquired: (cls, inst) => this.locks.acquired(cls, inst),
      lockReleased: (cls, inst) => this.locks.released(cls, inst),
      blockOn: <T>(what: string, until: Promise<T>) => this.scheduler.blockOn(what, until),
      waitingFor: (kind: WaitKind) => this.locks.waitingFor(kind),
    };
  }

  spawn<T>(name: string, fn: () => Promise<T>, opts?: { daemon?: boolean }): TaskHandle<T> {
    return this.scheduler.spawn(name, fn, opts);
  }

  /** Runs every spawned task to the end (or to a power cut). */
  run(): Promise<void> {
    return this.scheduler.run();
  }

  /** A simulated device driven by this simulator's PRNG and scheduler. */
  device(opts: Omit<SimDeviceOptions, 'rng' | 'scheduler'>): SimDevice {
    return new SimDevice({ ...opts, rng: this.rng, scheduler: this.scheduler });
  }

  /** Cuts power now: keeps the device's image in `crashImage` and halts the run. */
  powerCut(dev: SimDevice, opts: PowerCutOptions = {}): Buffer {
    this.crashPlan = undefined;
    this.yieldCrashPlan = undefined;
    const image = dev.powerCut(opts);
    this.crashImage = image;
    this.scheduler.halt(`power cut at step ${this.scheduler.stepCount}`);
    return image;
  }

  /** Cuts power right after scheduler step `step` (see the trace for step numbers). */
  cutPowerAtStep(step: number, dev: SimDevice, opts: PowerCutOptions = {}): void {
    this.crashPlan = { step, dev, opts };
  }

  /**
   * Cuts power the moment a task reaches yield point `name` for the
   * `occurrence`-th time (1 = the first), before anything else runs: the
   * precise "crash between these two writes" of a crash test.
   */
  cutPowerAtYield(name: string, dev: SimDevice, opts: PowerCutOptions & { occurrence?: number } = {}): void {
    this.yieldCrashPlan = { name, remaining: opts.occurrence ?? 1, dev, opts };
  }

  private maybeCutAtYield(name: string): void {
    const plan = this.yieldCrashPlan;
    if (plan === undefined || plan.name !== name || this.scheduler.current() === undefined) return;
    if (--plan.remaining > 0) return;
    this.yieldCrashPlan = undefined;
    this.powerCut(plan.dev, plan.opts);
  }

  /** Wraps any error as a SimulationError naming the seed. */
  wrap(e: unknown): SimulationError {
    if (e instanceof SimulationError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new SimulationError(msg, this.seed, this.scheduler.formatTrace(), { cause: e });
  }
}

let active = false;

/**
 * Installs a simulator for `body` and removes it afterwards, whatever
 * happens. Rethrows the first lock violation even if the engine swallowed
 * it, and (when the run ended normally) fails on locks still held.
 */
export async function withSimulator<T>(opts: SimulatorOptions, body: (sim: Simulator) => Promise<T>): Promise<T> {
  if (active) throw new Error('withSimulator: a simulator is already installed (simulations do not nest)');
  active = true;
  const sim = new Simulator(opts);
  installSimHooks(sim.hooks());
  try {
    const result = await body(sim);
    sim.locks.check();
    const finished = !sim.scheduler.halted && sim.scheduler.allTasks().every((t) => t.state === 'done' || t.daemon);
    if (finished) {
      const tasks = sim.scheduler.allTasks();
      sim.locks.assertNoneHeld((owner) => owner.id >= 0 && tasks[owner.id]?.state !== 'done');
    }
    return result;
  } catch (e) {
    throw sim.wrap(e);
  } finally {
    installSimHooks(undefined);
    active = false;
  }
}

/**
 * Runs `body` under each seed in turn; returns the first failure (a
 * SimulationError naming its seed) or undefined when every seed passes.
 */
export async function findFailingSeed(
  seeds: Iterable<number>,
  body: (sim: Simulator) => Promise<void>,
  opts: Omit<SimulatorOptions, 'seed'> = {},
): Promise<SimulationError | undefined> {
  for (const seed of seeds) {
    try {
      await withSimulator({ ...opts, seed }, body);
    } catch (e) {
      if (e instanceof SimulationError) return e;
      throw e;
    }
  }
  return undefined;
}

/** Seeds `from`, `from + 1`, ... (`count` of them). */
export function seedRange(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

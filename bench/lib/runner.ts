// The round-robin runner shared by every workload.
//
// Order of events for one workload:
//   1. availability check per contender (tool present, root for loop mounts…)
//   2. warm-up round: every contender runs once, untimed, and its output is
//      verified; a contender whose output is wrong is dropped from timing
//   3. N timed rounds; within each round every contender runs once, in an
//      order rotated by one each round, so that slow drifts of the machine
//      (thermal, a background job) hit all contenders alike and no contender
//      is always first after another's cleanup
// warm() (reading the inputs into the page cache), prepare() and reset()
// (making a fresh image, rm -rf of the output) are outside the timed region; run() alone is timed, from before its first
// process starts to after its last one exits.
import { runProc } from './proc.js';
import { maxOf, median, minOf } from './stats.js';

export interface Contender {
  /** Short stable id used in ratios and JSON ("ext4kit", "debugfs"...). */
  id: string;
  /** The command as a reader would type it, for the report. */
  command: string;
  /** Cap on timed runs (the slow ext2fs package); undefined = all rounds. */
  maxRuns?: number;
  /** A failed warm-up run means "not built yet" rather than "broken" (ext4kit while its CLI is written). */
  failureMeansUnavailable?: boolean;
  /** null when it can run, else why not. */
  check(): Promise<string | null>;
  /** Untimed, before every run. */
  prepare(): Promise<void>;
  /** Timed. Throws when the work failed. */
  run(): Promise<void>;
  /** Untimed, after the warm-up run only: is the output a faithful result? */
  verify(): Promise<{ ok: boolean; summary: string; notes: string[] }>;
  /** Untimed, after every run (also after a failed one): drop the output. */
  reset(): Promise<void>;
}

export type Status = 'ok' | 'not available' | 'skipped' | 'failed';

export interface ContenderResult {
  id: string;
  command: string;
  status: Status;
  reason?: string;
  verification?: string;
  notes: string[];
  /** Timed runs, seconds, in the order they ran. */
  times: number[];
  median?: number;
  min?: number;
  max?: number;
}

export type Log = (line: string) => void;

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function timed(c: Contender): Promise<number> {
  const t0 = process.hrtime.bigint();
  await c.run();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export interface RunOptions {
  runs: number;
  log: Log;
  /** Untimed, before every run: bring the inputs into the page cache. */
  warm: () => Promise<void>;
  /** A folder on the filesystem the outputs go to; synced (untimed) after every reset. */
  settleDir: string;
}

/**
 * `sync -f DIR` (syncfs) after an output was deleted, so that the next run
 * does not pay for the journal commits and discards the previous contender's
 * files left pending on the host filesystem.
 */
async function settle(dir: string): Promise<void> {
  await runProc('sync', ['-f', dir], { timeoutMs: 600_000 });
}

export async function runContenders(contenders: Contender[], opts: RunOptions): Promise<ContenderResult[]> {
  const { runs, log, warm } = opts;
  const results = new Map<string, ContenderResult>();
  const live: Contender[] = [];
  for (const c of contenders) {
    const r: ContenderResult = { id: c.id, command: c.command, status: 'ok', notes: [], times: [] };
    results.set(c.id, r);
    const why = await c.check();
    if (why !== null) {
      r.status = c.failureMeansUnavailable === true ? 'not available' : 'skipped';
      r.reason = why;
      log(`  ${c.id}: ${r.status}: ${why}`);
      continue;
    }
    live.push(c);
  }

  // Warm-up + verification round.
  const timedCs: Contender[] = [];
  for (const c of live) {
    const r = results.get(c.id)!;
    log(`  ${c.id}: warm-up run (untimed) and verification`);
    try {
      await warm();
      await c.prepare();
      const s = await timed(c);
      const v = await c.verify();
      r.verification = v.summary;
      r.notes.push(...v.notes);
      if (!v.ok) {
        r.status = 'failed';
        r.reason = `output is wrong: ${v.summary}`;
        log(`  ${c.id}: FAILED verification: ${v.summary}`);
      } else {
        log(`  ${c.id}: warm-up ${s.toFixed(3)} s; verified: ${v.summary}`);
        timedCs.push(c);
      }
    } catch (e) {
      r.status = c.failureMeansUnavailable === true ? 'not available' : 'failed';
      r.reason = errMsg(e);
      log(`  ${c.id}: ${r.status}: ${r.reason}`);
    } finally {
      await c.reset();
      await settle(opts.settleDir);
    }
  }

  for (let round = 0; round < runs; round++) {
    const shift = timedCs.length === 0 ? 0 : round % timedCs.length;
    const order = [...timedCs.slice(shift), ...timedCs.slice(0, shift)];
    const line: string[] = [];
    for (const c of order) {
      const r = results.get(c.id)!;
      if (r.status !== 'ok') continue;
      if (c.maxRuns !== undefined && r.times.length >= c.maxRuns) continue;
      try {
        await warm();
        await c.prepare();
        const s = await timed(c);
        r.times.push(s);
        line.push(`${c.id} ${s.toFixed(3)}`);
      } catch (e) {
        // A contender that passed its warm-up but fails later is reported as
        // failed: a partial set of times would be a biased median.
        r.status = 'failed';
        r.reason = `timed run ${round + 1}: ${errMsg(e)}`;
        r.times = [];
        line.push(`${c.id} FAILED`);
      } finally {
        await c.reset();
        await settle(opts.settleDir);
      }
    }
    log(`  round ${round + 1}/${runs}: ${line.join(', ')}`);
  }

  for (const r of results.values()) {
    if (r.status === 'ok' && r.times.length > 0) {
      r.median = median(r.times);
      r.min = minOf(r.times);
      r.max = maxOf(r.times);
    } else if (r.status === 'ok') {
      r.status = 'failed';
      r.reason = r.reason ?? 'no timed runs';
    }
  }
  return contenders.map((c) => results.get(c.id)!);
}

export interface RatioSpec {
  num: string;
  den: string;
  /** e.g. { op: '<=', value: 1.5 } */
  target?: { op: '<=' | '>='; value: number };
}

export interface RatioResult extends RatioSpec {
  label: string;
  value?: number;
  met?: boolean;
  /** Why there is no value (a side not available...). */
  missing?: string;
  /** Why the value should not be trusted (set by the workload). */
  caveat?: string;
}

export function computeRatios(specs: RatioSpec[], results: ContenderResult[]): RatioResult[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  return specs.map((s) => {
    const label = `${s.num} / ${s.den}`;
    const a = byId.get(s.num);
    const b = byId.get(s.den);
    if (a?.median === undefined || b?.median === undefined) {
      const gone: string[] = [];
      for (const [id, x] of [
        [s.num, a],
        [s.den, b],
      ] as const) {
        if (x === undefined) gone.push(`${id} not run`);
        else if (x.median === undefined) gone.push(`${id} ${x.status}`);
      }
      return { ...s, label, missing: gone.join(', ') };
    }
    const value = a.median / b.median;
    const met = s.target === undefined ? undefined : s.target.op === '<=' ? value <= s.target.value : value >= s.target.value;
    return { ...s, label, value, met };
  });
}

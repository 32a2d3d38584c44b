// Turning results into the three outputs: the terminal table, JSON for
// machines, and the markdown section the README includes. The claim is
// always the ratio of medians measured in the same run; absolute seconds are
// shown only beside it, for context.
import type { Machine } from './machine.js';
import { machineLine } from './machine.js';
import type { ContenderResult, RatioResult } from './runner.js';
import { fmtRatio, fmtSeconds } from './stats.js';
import { renderMarkdown, renderText, type Table } from './table.js';

export interface WorkloadResult {
  id: string;
  title: string;
  /** What went in, e.g. "/usr/include: 8,758 entries, 129 MiB". */
  input: string;
  /**
   * The filesystem the outputs were written to, with its type as the kernel
   * reports it. Optional only for the workloads' own code: run.ts fills it in
   * for any workload that does not, so every report has it.
   */
  outputs?: string;
  /** How the work was timed, specific to this workload. */
  notes: string[];
  contenders: ContenderResult[];
  ratios: RatioResult[];
}

export interface Report {
  date: string;
  command: string;
  machine: Machine;
  runs: number;
  ext2fsRuns: number | string;
  cache: string;
  workloads: WorkloadResult[];
}

export const CACHE_NOTE =
  'warm runs: the inputs (source tree or file, input image) are read into the page cache, untimed, right before every run; ' +
  'every contender gets one untimed warm-up run (whose output is verified), then timed runs in round-robin order; ' +
  'outputs are deleted, untimed, between runs.';

function statusText(c: ContenderResult): string {
  return c.status === 'ok' ? 'ok' : c.status;
}

function contenderTable(w: WorkloadResult): Table {
  return {
    header: ['contender', 'runs', 'median s', 'min s', 'max s', 'status', 'command'],
    align: ['l', 'r', 'r', 'r', 'r', 'l', 'l'],
    rows: w.contenders.map((c) => [
      c.id,
      String(c.times.length),
      fmtSeconds(c.median),
      fmtSeconds(c.min),
      fmtSeconds(c.max),
      statusText(c),
      c.command,
    ]),
  };
}

function verdict(r: RatioResult): string {
  if (r.value === undefined) return `n/a (${r.missing ?? ''})`;
  const v = r.met === undefined ? '-' : r.met ? 'met' : 'NOT met';
  return r.caveat === undefined ? v : `${v} (unreliable: ${r.caveat})`;
}

function ratioTable(w: WorkloadResult): Table {
  return {
    header: ['ratio (of medians)', 'value', 'target', 'verdict'],
    align: ['l', 'r', 'l', 'l'],
    rows: w.ratios.map((r) => [
      r.label,
      fmtRatio(r.value),
      r.target === undefined ? '-' : `${r.target.op} ${r.target.value}`,
      verdict(r),
    ]),
  };
}

/** Reasons, verification results and notes, one line each. */
function details(w: WorkloadResult): string[] {
  const out: string[] = [];
  for (const c of w.contenders) {
    if (c.reason !== undefined) out.push(`${c.id}: ${c.status}: ${c.reason}`);
    else if (c.verification !== undefined) out.push(`${c.id}: verified: ${c.verification}`);
    for (const n of c.notes) out.push(`${c.id}: note: ${n}`);
  }
  return out;
}

export function renderTextReport(r: Report): string {
  const parts: string[] = [];
  parts.push(`machine: ${machineLine(r.machine)}`);
  parts.push(`runs: ${r.runs} timed per contender (ext2fs package: ${r.ext2fsRuns}); medians; ${CACHE_NOTE}`);
  for (const w of r.workloads) {
    parts.push('');
    parts.push(`== ${w.id}: ${w.title}`);
    parts.push(`input: ${w.input}`);
    if (w.outputs !== undefined) parts.push(`outputs on: ${w.outputs}`);
    for (const n of w.notes) parts.push(`note: ${n}`);
    parts.push('');
    parts.push(renderText(contenderTable(w)));
    parts.push('');
    parts.push(renderText(ratioTable(w)));
    const d = details(w);
    if (d.length > 0) {
      parts.push('');
      parts.push(...d);
    }
  }
  return `${parts.join('\n')}\n`;
}

export function renderMarkdownReport(r: Report): string {
  const parts: string[] = [];
  parts.push('# ext4kit benchmark results');
  parts.push('');
  parts.push(`- date: ${r.date}`);
  parts.push(`- machine: ${machineLine(r.machine)}`);
  parts.push(`- runs: ${r.runs} timed runs per contender (the ext2fs package: ${r.ext2fsRuns}); figures are medians`);
  parts.push(`- caches: ${CACHE_NOTE}`);
  parts.push(`- command: \`${r.command}\``);
  for (const w of r.workloads) {
    parts.push('');
    parts.push(`## ${w.id}: ${w.title}`);
    parts.push('');
    parts.push(`Input: ${w.input}.`);
    if (w.outputs !== undefined) parts.push(`Outputs on: ${w.outputs}.`);
    for (const n of w.notes) parts.push(`${n}`);
    parts.push('');
    parts.push(renderMarkdown(contenderTable(w)));
    parts.push('');
    parts.push(renderMarkdown(ratioTable(w)));
    const d = details(w);
    if (d.length > 0) {
      parts.push('');
      for (const line of d) parts.push(`- ${line}`);
    }
  }
  return `${parts.join('\n')}\n`;
}

// ext4kit benchmark harness: ext4kit side by side with its anchors (e2fsprogs,
// the Linux kernel, the ext2fs npm package, raw copies) in one run, on one
// machine, on the same input, reporting medians and ratios.
//
//   node dist/bench/run.js [copy-out|build-tree|big-file|all] [--runs N] [--src DIR]
//        [--json] [--markdown FILE] [--work DIR] [--ext2fs-runs N] [--only a,b]
//        [--timeout S] [--big-mib N] [--out-fs ext4]
import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupAll, installSignalCleanup, trackDir } from './lib/cleanup.js';
import type { BenchContext } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { describePlainOutputs, outFsProblem, parseOutFs } from './lib/outfs.js';
import { CACHE_NOTE, renderMarkdownReport, renderTextReport, type Report, type WorkloadResult } from './lib/report.js';
import { bigFile } from './workloads/big-file.js';
import { buildTree } from './workloads/build-tree.js';
import { copyOut } from './workloads/copy-out.js';

const WORKLOADS = ['copy-out', 'build-tree', 'big-file'] as const;
type WorkloadId = (typeof WORKLOADS)[number];

const USAGE = `usage: node dist/bench/run.js [copy-out|build-tree|big-file|all] [options]

  --runs N          timed runs per contender (default 5), after one untimed warm-up run
  --ext2fs-runs N   timed runs for the slow ext2fs package (default 3; 1 for big-file)
  --src DIR         source tree for copy-out and build-tree (default /usr/include)
  --work DIR        where scratch files go (default: the OS temp folder)
  --out-fs ext4     copy-out writes its outputs to a fresh loop-mounted ext4 made in
                    the work folder, not to the work folder's own filesystem (needs root)
  --only a,b        run only these contenders (ext4kit, debugfs, mke2fs, ext2fs, kernel, cp, tar, dd)
  --timeout S       per-process timeout in seconds (default 1800)
  --big-mib N       size of the big-file input in MiB (default 1024)
  --json            print JSON on stdout instead of the table
  --markdown FILE   also write a markdown report to FILE
  -h, --help        this text

Progress goes to stderr; results to stdout. ${CACHE_NOTE}
`;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a positive integer, got ${v}`);
  return n;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      'ext2fs-runs': { type: 'string' },
      src: { type: 'string' },
      work: { type: 'string' },
      only: { type: 'string' },
      timeout: { type: 'string' },
      'big-mib': { type: 'string' },
      'out-fs': { type: 'string' },
      json: { type: 'boolean', default: false },
      markdown: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new Error(`one workload at a time (or "all"), got: ${positionals.join(' ')}`);
  const which = positionals[0] ?? 'all';
  let chosen: WorkloadId[];
  if (which === 'all') chosen = [...WORKLOADS];
  else if ((WORKLOADS as readonly string[]).includes(which)) chosen = [which as WorkloadId];
  else throw new Error(`unknown workload ${which}\n\n${USAGE}`);

  const outFs = parseOutFs(values['out-fs']);
  if (outFs !== undefined) {
    // Asked for explicitly, so it is an error, not a silent fallback to the
    // work folder's filesystem: that would answer a different question.
    if (!chosen.includes('copy-out')) throw new Error('--out-fs applies to the copy-out workload only');
    const why = await outFsProblem();
    if (why !== null) throw new Error(`--out-fs ${outFs}: ${why}`);
  }

  const src = resolve(values.src ?? '/usr/include');
  if (!(await stat(src)).isDirectory()) throw new Error(`--src ${src} is not a folder`);
  const base = resolve(values.work ?? tmpdir());
  await mkdir(base, { recursive: true });
  // A fresh folder of our own even inside a user-given --work, so that the
  // final clean-up can remove it whole without touching anything else there.
  const work = await mkdtemp(join(base, 'ext4kit-bench-'));
  trackDir(work);
  installSignalCleanup();

  const ctx: BenchContext = {
    src,
    work,
    runs: positiveInt('runs', values.runs, 5),
    ext2fsRuns: values['ext2fs-runs'] === undefined ? undefined : positiveInt('ext2fs-runs', values['ext2fs-runs'], 3),
    only: values.only === undefined ? undefined : new Set(values.only.split(',').map((s) => s.trim())),
    timeoutMs: positiveInt('timeout', values.timeout, 1800) * 1000,
    outFs,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const bigMib = positiveInt('big-mib', values['big-mib'], 1024);

  const workloads: WorkloadResult[] = [];
  try {
    for (const w of chosen) {
      let result: WorkloadResult;
      if (w === 'copy-out') result = await copyOut(ctx);
      else if (w === 'build-tree') result = await buildTree(ctx);
      else result = await bigFile(ctx, bigMib);
      // copy-out names its own output filesystem; the others write into the
      // work folder, whose filesystem is looked up here, while it exists.
      if (result.outputs === undefined) {
        const note = outFs === undefined ? '' : ' (--out-fs applies to copy-out only)';
        result.outputs = `${await describePlainOutputs(work)}${note}`;
      }
      workloads.push(result);
    }
  } finally {
    await cleanupAll();
  }

  const report: Report = {
    date: new Date().toISOString(),
    command: ['node', 'dist/bench/run.js', ...process.argv.slice(2)].join(' '),
    machine: await describeMachine(),
    runs: ctx.runs,
    ext2fsRuns: ctx.ext2fsRuns ?? '3 (1 for big-file)',
    cache: CACHE_NOTE,
    workloads,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(renderTextReport(report));
  if (values.markdown !== undefined) {
    await writeFile(values.markdown, renderMarkdownReport(report));
    process.stderr.write(`markdown report written to ${values.markdown}\n`);
  }
  // A contender that ran and failed is a problem worth a non-zero status; one
  // that is merely not available (ext4kit before its CLI exists, the kernel
  // without root) is not.
  return workloads.some((w) => w.contenders.some((c) => c.status === 'failed')) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    await cleanupAll();
    process.exitCode = 2;
  },
);

// A description of the machine, printed with every report: ratios travel
// better than absolute times, but neither means much without knowing where
// they were measured.
import { cpus, release, totalmem } from 'node:os';
import { runProc } from './proc.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  e2fsprogs: string;
}

export async function describeMachine(): Promise<Machine> {
  const c = cpus();
  let e2fsprogs = 'unknown';
  try {
    // mke2fs -V prints "mke2fs 1.47.0 (5-Feb-2023)" on stderr and exits 0.
    const r = await runProc('mke2fs', ['-V']);
    const m = /mke2fs\s+(\S+)/.exec(r.stderr);
    if (m !== null) e2fsprogs = m[1]!;
  } catch {
    // not installed: left as unknown
  }
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `Linux ${release()}`,
    e2fsprogs,
  };
}

export function machineLine(m: Machine): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, ${m.kernel}, node ${m.node}, e2fsprogs ${m.e2fsprogs}`;
}

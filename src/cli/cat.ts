/**
 * `ext4kit cat IMG:PATH...`: file contents to stdout, streamed so that a
 * file larger than memory works and a reader that stops early (`| head`)
 * stops the copy. A closed pipe is the reader's choice, not an error: the
 * command ends quietly.
 */
import { pipeline } from 'node:stream/promises';
import { FsError } from '../base/errors.js';
import type { CliEnv } from './env.js';
import { Reporter } from './report.js';
import { parseTarget, Volumes } from './target.js';

export interface CatOptions { offset: number }

export function isBrokenPipe(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'EPIPE' || (e as { code?: unknown } | null)?.code === 'ERR_STREAM_DESTROYED';
}

export async function catCommand(env: CliEnv, operands: string[], opts: CatOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'cat');
  const volumes = new Volumes(env, opts.offset);
  try {
    for (const operand of operands) {
      const t = parseTarget(operand);
      try {
        const vol = await volumes.get(t.image);
        const fh = await vol.promises.open(t.path, 'r');
        try {
          const st = await fh.stat();
          if (st.isDirectory()) throw new FsError('EISDIR', undefined, 'read', t.path);
          // 1 MiB chunks: few round trips through the engine per file, little memory.
          await pipeline(fh.createReadStream({ highWaterMark: 1 << 20 }), env.stdout, { end: false });
        } finally {
          await fh.close();
        }
      } catch (err) {
        if (isBrokenPipe(err)) return report.failed ? 1 : 0;
        report.error(t.label, err);
      }
    }
  } finally {
    await volumes.closeAll();
  }
  return report.failed ? 1 : 0;
}

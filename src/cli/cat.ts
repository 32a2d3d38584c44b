/**
 * `ext4kit cat IMG:PATH...`: file contents to stdout, streamed so that a
 * file larger than memory works and a reader that stops early (`| head`)
 * stops the copy. A closed pipe is the reader's choice, not an error: the
 * command ends quietly.
 */
import type { Writable } from 'node:stream';
import { FsError } from '../base/errors.js';
import type { CliEnv } from './env.js';
import { Reporter } from './report.js';
import { parseTarget, Volumes } from './target.js';

export interface CatOptions { offset: number }

export function isBrokenPipe(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'EPIPE' || (e as { code?: unknown } | null)?.code === 'ERR_STREAM_DESTROYED';
}

/**
 * Writes a chunk, waiting for the stream to drain when its buffer is full.
 * (stream.pipeline with `end: false` leaves listeners on stdout behind, one
 * set per file, which warns after ten files.)
 */
function writeChunk(out: Writable, chunk: Buffer): Promise<void> {
  if (out.write(chunk)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (e?: Error): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (e === undefined) resolve();
      else reject(e);
    };
    const onDrain = (): void => done();
    const onError = (e: Error): void => done(e);
    const onClose = (): void => done(Object.assign(new Error('stdout closed'), { code: 'EPIPE' }));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
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
          for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20 })) await writeChunk(env.stdout, chunk as Buffer);
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

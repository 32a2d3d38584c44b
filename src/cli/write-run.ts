/**
 * What every command that changes an image shares: its operands are
 * `IMG:PATH`, each image is opened writable once and closed at the end
 * (closing commits and leaves the image clean, so a failure to close is
 * reported like any other), new entries get the caller's owner and umask
 * as on a mounted filesystem, and every failure is one line on stderr
 * while the remaining operands are still tried.
 */
import type { Volume } from '../vfs/types.js';
import { TreeWriter } from '../vfs/tree-writer.js';
import { currentUmask } from './cp.js';
import type { CliEnv } from './env.js';
import { Reporter } from './report.js';
import { parseTarget, Volumes, type Target } from './target.js';

export interface WriteOptions { offset: number }

/** An open session of a write command. */
export class WriteSession {
  readonly report: Reporter;
  private readonly volumes: Volumes;
  readonly umask = currentUmask();
  readonly uid = process.getuid?.() ?? 0;
  readonly gid = process.getgid?.() ?? 0;

  constructor(env: CliEnv, command: string, offset: number, writable = true) {
    this.report = new Reporter(env.stderr, command);
    this.volumes = new Volumes(env, offset, writable);
  }

  /** The volume of `image` (opened on first use; a writable one makes new entries with this process's owner and umask). */
  async volume(image: string): Promise<Volume> {
    const vol = await this.volumes.get(image);
    if (vol.readOnly) return vol;
    try {
      TreeWriter.of(vol).setCreator({ uid: this.uid, gid: this.gid, umask: this.umask });
    } catch {
      // Not an engine volume (a test stand-in): it keeps its own defaults.
    }
    return vol;
  }

  /** Closes every image; returns the exit status. */
  async finish(): Promise<number> {
    await this.volumes.closeAll((image, e) => this.report.error(image, e));
    return this.report.failed ? 1 : 0;
  }
}

/**
 * Runs `fn` for each `IMG:PATH` operand in turn, inside one session:
 * a failure is reported against its operand and the next one is tried.
 */
export async function forEachTarget(
  env: CliEnv, command: string, operands: readonly string[], opts: WriteOptions,
  fn: (vol: Volume, t: Target, s: WriteSession) => Promise<void>, writable = true,
): Promise<number> {
  const s = new WriteSession(env, command, opts.offset, writable);
  try {
    for (const op of operands) {
      const t = parseTarget(op);
      try {
        await fn(await s.volume(t.image), t, s);
      } catch (e) {
        s.report.error(t.label, e);
      }
    }
  } finally {
    await s.finish();
  }
  return s.report.failed ? 1 : 0;
}

/** `/a//b/` -> `/a/b` (the root stays `/`). */
export function cleanImagePath(p: string): string {
  const s = p.replace(/\/+/g, '/');
  return s.length > 1 ? s.replace(/\/$/, '') : s;
}

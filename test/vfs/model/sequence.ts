/**
 * One random sequence from start to finish: a fresh target, the commands,
 * a full comparison, then for a volume: close, `e2fsck -fn`, and a read-only
 * open that must still show exactly the model (persistence). A failure
 * carries the resolved trace of the sequence (fast-check adds the seed, the
 * replay path and the command list).
 */
import fc from 'fast-check';
import * as fsp from 'node:fs/promises';
import { mkfs } from '../../helpers/images.js';
import { fsckClean } from '../../helpers/fsck.js';
import { FsModel } from './fs-model.js';
import { Env, type EnvOptions } from './runner.js';
import { HostTarget, VolumeTarget } from './targets.js';

export interface VolumeKind {
  name: string;
  /** mkfs.ext4 arguments besides -q -F. */
  mkfsArgs: string[];
  size: string;
  /** Built to run out of blocks and inodes. */
  tiny: boolean;
}

function withTrace(env: Env | undefined, e: unknown): Error {
  const trace = env === undefined ? '(no trace)' : env.trace.join('\n  ');
  const msg = e instanceof Error ? `${e.message}` : String(e);
  const err = new Error(`${msg}\n--- what ran (resolved) ---\n  ${trace}`);
  if (e instanceof Error && e.stack !== undefined) err.stack = `${err.message}\n--- original stack ---\n${e.stack}`;
  return err;
}

async function runCommands(env: Env, cmds: Iterable<fc.AsyncCommand<Env, Env>>): Promise<void> {
  await fc.asyncModelRun(async () => ({ model: env, real: env }), cmds);
  if (!env.stopped) await env.compareAll('end of sequence', true);
}

/** The sequence against a directory of the host (Linux itself). */
export async function runOnHost(root: string, cmds: Iterable<fc.AsyncCommand<Env, Env>>): Promise<void> {
  const model = new FsModel({ symlinkMax: 4096, umask: process.umask(), uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, readsUpdateAtime: true });
  model.addDir('lost+found', 0o700);
  const target = new HostTarget(root);
  const env = new Env(model, target, { allowENOSPC: false, dataBudget: 64 << 20, fullCheckEvery: 8, blockSize: 4096 });
  try {
    await runCommands(env, cmds);
  } catch (e) {
    throw withTrace(env, e);
  } finally {
    await target.close();
  }
}

let imageCounter = 0;

/** The sequence against a volume on a fresh mkfs.ext4 image of `kind` under `dir`. */
export async function runOnVolume(dir: string, kind: VolumeKind, cmds: Iterable<fc.AsyncCommand<Env, Env>>): Promise<void> {
  const img = `${dir}/${kind.name}-${++imageCounter}.img`;
  await mkfs(img, { args: kind.mkfsArgs, size: kind.size });
  let target: VolumeTarget | undefined;
  let env: Env | undefined;
  let keep = false;
  try {
    target = await VolumeTarget.open(img);
    const info = target.volume.info();
    const model = new FsModel({ symlinkMax: info.blockSize, umask: 0o022, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, readsUpdateAtime: false });
    model.addDir('lost+found', 0o700);
    if (kind.tiny) model.inodeLimit = { total: info.inodesCount, used: info.inodesCount - info.freeInodesCount - model.liveCount };
    const opts: EnvOptions = { allowENOSPC: kind.tiny, dataBudget: Math.floor(info.blocksCount * info.blockSize * 0.4), fullCheckEvery: 8, blockSize: info.blockSize };
    env = new Env(model, target, opts);
    await runCommands(env, cmds);
    model.closeAll();
    env.handles.length = 0;
    await target.close();
    const fsck = await fsckClean(img);
    if (!fsck.ok) {
      keep = true;
      throw new Error(`e2fsck -fn ${img} exited ${fsck.code} after the sequence:\n${fsck.output}`);
    }
    // What a clean close left must read back exactly, through a read-only open.
    const ro = await VolumeTarget.open(img, true);
    try {
      await new Env(model, ro, opts).compareAll('read-only open after close', true);
    } finally {
      await ro.close();
    }
  } catch (e) {
    keep = true;
    throw withTrace(env, e);
  } finally {
    await target?.close().catch(() => undefined);
    if (!keep || process.env.EXT4KIT_KEEP !== '1') await fsp.rm(img, { force: true });
  }
}

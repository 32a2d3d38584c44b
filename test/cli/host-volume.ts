/**
 * A stand-in Volume over a host directory, for testing the CLI's own logic
 * (formatting, DEST rules, error handling) in-process. The directory plays
 * the image: `IMG:/a/b` is `<root>/a/b`. Because the files are real host
 * files, GNU ls / stat / cp run on the same directory are the oracles for
 * what the CLI prints and copies. It is not a model of ext4: the tests of
 * the real engine go through real images.
 */
import * as fsp from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { FsError, type ErrorCode } from '../../src/base/errors.js';
import type { CliEnv } from '../../src/cli/env.js';
import { readDataRanges, readXattrs } from '../../src/host/host-ops.js';
import type { FileHandle, Volume, VolumeInfo, VolumePromises } from '../../src/vfs/types.js';
import { walk } from './tree-snapshot.js';

/** Re-throws a host error as the engine would: an FsError with the image path. */
function asFsError(e: unknown, syscall: string, path: string): never {
  const code = (e as { code?: string }).code;
  let fe: FsError | undefined;
  try {
    fe = new FsError(code as ErrorCode, undefined, syscall, path);
  } catch {
    // A code FsError does not know: keep the host's error.
  }
  throw fe ?? e;
}

export function hostVolume(root: string, info: Partial<VolumeInfo> = {}): Volume {
  const host = (p: string): string => resolve(root, `.${p}`);
  const wrap = <T>(syscall: string, p: string, f: () => Promise<T>): Promise<T> => f().catch((e: unknown) => asFsError(e, syscall, p));

  let nextFd = 3;
  const handle = async (p: string): Promise<FileHandle> => {
    const h = await wrap('open', p, () => fsp.open(host(p), 'r'));
    const fd = nextFd++;
    const fh = {
      fd,
      read: (buffer: Uint8Array, offset?: number, length?: number, position?: number | null) =>
        h.read(buffer, offset, length, position).then((r) => ({ bytesRead: r.bytesRead, buffer: r.buffer })),
      readFile: () => wrap('read', p, () => h.readFile()),
      stat: (o?: { bigint?: boolean }) => h.stat(o as { bigint: true }),
      createReadStream: (o?: { start?: number; end?: number; highWaterMark?: number }) => h.createReadStream({ ...o, autoClose: false }),
      dataRanges: async () => {
        const { ranges, errors } = await readDataRanges([host(p)]);
        if (errors.length > 0) throw new FsError('EIO', errors[0].message, 'read', p);
        return ranges.get(host(p)) ?? [];
      },
      close: () => h.close(),
    };
    return fh as unknown as FileHandle;
  };

  // Every file's xattrs are read in one python batch on first use: one process per file would make cp -a crawl.
  let allXattrs: Promise<Map<string, Map<string, Buffer>>> | undefined;
  const xattrsOf = async (p: string): Promise<Map<string, Buffer>> => {
    await wrap('lstat', p, () => fsp.lstat(host(p)));
    allXattrs ??= (async () => {
      const paths = [root, ...(await walk(root)).map((n) => join(root, n))];
      return (await readXattrs(paths)).xattrs;
    })();
    return (await allXattrs).get(host(p)) ?? new Map<string, Buffer>();
  };

  const promises = {
    stat: (p: string, o?: { bigint?: boolean }) => wrap('stat', p, () => fsp.stat(host(p), o as { bigint: true })),
    lstat: (p: string, o?: { bigint?: boolean }) => wrap('lstat', p, () => fsp.lstat(host(p), o as { bigint: true })),
    readdir: (p: string, o?: { withFileTypes?: boolean }) => wrap('scandir', p, () => fsp.readdir(host(p), o as { withFileTypes: true })),
    readFile: (p: string) => wrap('open', p, () => fsp.readFile(host(p))),
    open: (p: string) => handle(p),
    readlink: (p: string) => wrap('readlink', p, () => fsp.readlink(host(p))),
    realpath: (p: string) => wrap('realpath', p, () => fsp.realpath(host(p))),
    access: (p: string, m?: number) => wrap('access', p, () => fsp.access(host(p), m)),
    opendir: (p: string) => wrap('opendir', p, () => fsp.opendir(host(p))),
    statfs: (p: string) => wrap('statfs', p, () => fsp.statfs(host(p))),
    getxattr: async (p: string, name: string) => {
      const v = (await xattrsOf(p)).get(name);
      if (v === undefined) throw new FsError('ENODATA', undefined, 'getxattr', p);
      return v;
    },
    listxattr: async (p: string) => [...(await xattrsOf(p)).keys()],
  };

  const fullInfo: VolumeInfo = {
    blockSize: 4096, blocksCount: 1000, freeBlocksCount: 500, reservedBlocksCount: 50, inodesCount: 256, freeInodesCount: 200,
    inodeSize: 256, groupCount: 1, blocksPerGroup: 32768, inodesPerGroup: 256, features: ['has_journal', 'extent'],
    uuid: '01234567-89ab-cdef-0123-456789abcdef', label: '', state: 'clean', lastMountedOn: '',
    createdTime: new Date(0), lastMountTime: undefined, lastWriteTime: new Date(0), mountCount: 0, creatorOs: 'Linux',
    revision: 1, journalInode: 8, checksumType: 'crc32c', sizeBytes: 4096000,
    ...info,
  };

  return {
    promises: promises as unknown as VolumePromises,
    readOnly: true,
    info: () => fullInfo,
    sync: async () => {},
    close: async () => {},
  };
}

/** Captures what a command writes. */
export class Capture extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    done();
  }
  get text(): string { return Buffer.concat(this.chunks).toString('utf8'); }
  get bytes(): Buffer { return Buffer.concat(this.chunks); }
}

/**
 * An environment where every image name is a host directory under `base`
 * (so `tree:/a` reads `<base>/tree/a`), with captured output.
 */
export function hostEnv(base: string, nowNs = BigInt(Date.now()) * 1_000_000n): { env: CliEnv; out: Capture; err: Capture } {
  const out = new Capture();
  const err = new Capture();
  const env: CliEnv = {
    stdout: out,
    stderr: err,
    openVolume: async (image) => {
      const dir = join(base, image);
      const st = await fsp.stat(dir).catch((e: unknown) => asFsError(e, 'open', image));
      if (!st.isDirectory()) throw new FsError('EINVAL', 'not a test volume', 'open', image);
      return hostVolume(dir);
    },
    nowNs: () => nowNs,
  };
  return { env, out, err };
}

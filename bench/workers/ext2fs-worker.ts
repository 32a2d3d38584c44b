// The ext2fs npm package (libext2fs compiled to WebAssembly) doing each
// benchmark workload, run by the harness as its own node process so that its
// start-up (WASM compile) is timed like every other contender's start-up.
//
//   node ext2fs-worker.js export IMG OUT   copy the image's whole tree out to OUT
//   node ext2fs-worker.js tree SRC IMG     copy the host tree SRC into the (empty) image IMG
//   node ext2fs-worker.js big FILE IMG     copy one host file into IMG as /big
//
// File contents go through file handles into Buffers: the package's readFile
// returns a string even without an encoding, which would corrupt binaries.
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import ext2fs from 'ext2fs';
import { FileDisk, withOpenFile } from 'file-disk';

type Fs = ext2fs.Ext2Promises;

const CHUNK = 1 << 20;

async function readWhole(fs: Fs, path: string, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  const h = await fs.open(path, 'r');
  try {
    let pos = 0;
    while (pos < size) {
      const n = Math.min(CHUNK, size - pos);
      // The package copies into `buffer` at `offset`, so reading straight into
      // the final Buffer avoids one more copy per file.
      const { bytesRead } = await h.read(buf, pos, n, pos);
      if (bytesRead === 0) throw new Error(`${path}: short read at ${pos} of ${size}`);
      pos += bytesRead;
    }
  } finally {
    await h.close();
  }
  return buf;
}

async function exportTree(fs: Fs, from: string, to: string): Promise<void> {
  for (const name of await fs.readdir(from)) {
    if (name === '.' || name === '..') continue;
    const s = posix.join(from, name);
    const d = join(to, name);
    const st = await fs.lstat(s);
    if (st.isDirectory()) {
      await mkdir(d);
      await exportTree(fs, s, d);
      await chmod(d, st.mode & 0o7777);
    } else if (st.isSymbolicLink()) {
      await symlink(await fs.readlink(s), d);
    } else if (st.isFile()) {
      await writeFile(d, await readWhole(fs, s, st.size), { mode: st.mode & 0o7777 });
      // writeFile's mode is filtered by the umask; set it exactly, and the
      // mtime, as debugfs rdump and cp -a do, so the work compared is alike.
      await chmod(d, st.mode & 0o7777);
      await utimes(d, st.mtime, st.mtime);
    }
  }
}

async function writeAll(h: ext2fs.Ext2FileHandle, data: Buffer, at: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    // Its write() ignores the offset argument, so hand it a subarray instead.
    const part = data.subarray(done, Math.min(data.length, done + CHUNK));
    const { bytesWritten } = await h.write(part, 0, part.length, at + done);
    if (bytesWritten <= 0) throw new Error('ext2fs write made no progress');
    done += bytesWritten;
  }
}

async function importTree(fs: Fs, from: string, to: string): Promise<void> {
  for (const e of await readdir(from, { withFileTypes: true })) {
    const s = join(from, e.name);
    const d = posix.join(to, e.name);
    if (e.isDirectory()) {
      const { mode } = await lstat(s);
      await fs.mkdir(d, mode & 0o7777);
      await importTree(fs, s, d);
    } else if (e.isSymbolicLink()) {
      await fs.symlink(await readlink(s), d);
    } else if (e.isFile()) {
      const fh = await open(s, 'r');
      try {
        const st = await fh.stat();
        const data = await fh.readFile();
        const h = await fs.open(d, 'w', st.mode & 0o7777);
        try {
          await writeAll(h, data, 0);
        } finally {
          await h.close();
        }
      } finally {
        await fh.close();
      }
    }
  }
}

async function importBig(fs: Fs, file: string, to: string): Promise<void> {
  const src = await open(file, 'r');
  const h = await fs.open(to, 'w', 0o644);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await src.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      await writeAll(h, buf.subarray(0, bytesRead), pos);
      pos += bytesRead;
    }
  } finally {
    await h.close();
    await src.close();
  }
}

async function withImage(img: string, writable: boolean, fn: (fs: Fs) => Promise<void>): Promise<void> {
  await withOpenFile(img, writable ? 'r+' : 'r', async (handle) => {
    await ext2fs.withMountedDisk(new FileDisk(handle, !writable), 0, async (mounted) => {
      await fn(mounted.promises);
    });
    // Unmounting writes everything back through the handle; fsync makes the
    // image durable, which is what the other image-writing contenders pay for.
    if (writable) await handle.sync();
  });
}

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  if (a === undefined || b === undefined) throw new Error('usage: ext2fs-worker.js export IMG OUT | tree SRC IMG | big FILE IMG');
  switch (mode) {
    case 'export':
      await mkdir(b, { recursive: true });
      await withImage(a, false, (fs) => exportTree(fs, '/', b));
      break;
    case 'tree':
      await withImage(b, true, (fs) => importTree(fs, a, '/'));
      break;
    case 'big':
      await withImage(b, true, (fs) => importBig(fs, a, '/big'));
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

/**
 * Mutation fuzzing of metadata: take a real image made by mkfs.ext4, damage
 * a few of its metadata blocks (found with `e2image -r`, which copies only
 * metadata), and walk the whole tree through the volume. Every outcome must
 * be data or an FsError (EFSCORRUPTED above all); any other exception is a
 * bug, and so is a walk that does not finish. Images with and without
 * metadata_csum are used: with checksums most damage is caught there, without
 * them the structural checks must catch it.
 *
 * `npm test` runs a bounded number of iterations; `npm run soak`
 * (EXT4KIT_SOAK=1) runs many more. Seeds are printed on failure.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { openVolume, MemoryDevice, FsError, type Volume } from '../../src/index.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { runChecked } from '../helpers/run.js';
import { Rng } from '../helpers/prng.js';

const SOAK = process.env.EXT4KIT_SOAK === '1';
const ITERATIONS = SOAK ? 5000 : 150;
const tmp = useTmpDir('fuzz');

async function makeSourceTree(root: string): Promise<void> {
  await fsp.mkdir(path.join(root, 'big-dir'), { recursive: true });
  for (let i = 0; i < 300; i++) await fsp.writeFile(path.join(root, 'big-dir', `entry-${i}-${'x'.repeat(i % 40)}`), `f${i}`);
  await fsp.mkdir(path.join(root, 'a/b/c/d'), { recursive: true });
  await fsp.writeFile(path.join(root, 'a/b/c/d/deep.txt'), 'deep\n');
  const frag = await fsp.open(path.join(root, 'fragmented.bin'), 'w');
  for (let i = 0; i < 40; i++) await frag.write(Buffer.alloc(4096, i + 1), 0, 4096, i * 8192);
  await frag.close();
  await fsp.writeFile(path.join(root, 'medium.bin'), Buffer.alloc(300_000, 7));
  await fsp.writeFile(path.join(root, 'tiny'), 'hi');
  await fsp.symlink('a/b/c/d/deep.txt', path.join(root, 'fast-link'));
  // A slow symlink (target longer than i_block's 60 bytes) that resolves.
  await fsp.symlink('./'.repeat(60) + 'a/b/c/d/deep.txt', path.join(root, 'slow-link'));
  await fsp.link(path.join(root, 'tiny'), path.join(root, 'tiny-hardlink'));
}

interface Kind { name: string; args: string[] }
const KINDS: Kind[] = [
  { name: 'ext4-csum', args: ['-b', '1024'] },
  { name: 'ext4-nocsum', args: ['-b', '1024', '-O', '^metadata_csum'] },
  { name: 'ext2', args: ['-t', 'ext2', '-b', '1024'] },
  { name: 'inline', args: ['-b', '1024', '-O', 'inline_data,^metadata_csum'] },
];

interface Fixture { image: Buffer; metaBlocks: number[]; blockSize: number }
const fixtures = new Map<string, Fixture>();

beforeAll(async () => {
  const src = tmp.sub('src');
  await makeSourceTree(src);
  for (const k of KINDS) {
    const img = tmp.file(`${k.name}.img`);
    await mkfs(img, { args: k.args, root: src, size: '8M' });
    const meta = tmp.file(`${k.name}.meta`);
    await runChecked('e2image', ['-r', img, meta]);
    const image = await fsp.readFile(img);
    const metaBytes = await fsp.readFile(meta);
    const blockSize = 1024;
    const metaBlocks: number[] = [];
    for (let b = 0; b * blockSize < metaBytes.length; b++) {
      if (metaBytes.subarray(b * blockSize, (b + 1) * blockSize).some((x) => x !== 0)) metaBlocks.push(b);
    }
    fixtures.set(k.name, { image, metaBlocks, blockSize });
  }
});

/** Reads everything reachable; returns how many entries were visited. Bounded by `budget`. */
async function walkAll(vol: Volume, outcome: { corrupt: number; other: Map<string, number> }): Promise<number> {
  const p = vol.promises;
  let visited = 0;
  const note = (e: unknown): void => {
    if (!(e instanceof FsError)) throw e;
    if (e.code === 'EFSCORRUPTED') outcome.corrupt++;
    else outcome.other.set(e.code, (outcome.other.get(e.code) ?? 0) + 1);
  };
  const queue = ['/'];
  while (queue.length > 0 && visited < 5000) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      names = await p.readdir(dir);
    } catch (e) { note(e); continue; }
    for (const n of names) {
      visited++;
      const full = dir === '/' ? `/${n}` : `${dir}/${n}`;
      try {
        const st = await p.lstat(full);
        await p.listxattr(full, { noFollow: true }).catch(note);
        if (st.isDirectory()) { if (queue.length < 5000) queue.push(full); }
        else if (st.isSymbolicLink()) { await p.readlink(full); await p.stat(full).catch(note); }
        else if (st.isFile()) {
          const h = await p.open(full);
          try {
            await h.dataRanges();
            const buf = Buffer.alloc(256 * 1024);
            await h.read(buf, 0, buf.length, 0);
          } finally { await h.close(); }
        }
      } catch (e) { note(e); }
    }
  }
  return visited;
}

describe('mutated metadata never crashes or hangs the read path', () => {
  for (const k of KINDS) {
    it(`${k.name}: ${ITERATIONS} mutated images yield data or FsErrors`, async () => {
      const f = fixtures.get(k.name)!;
      const totals = { ok: 0, refusedAtOpen: 0, corrupt: 0, other: new Map<string, number>() };
      for (let i = 0; i < ITERATIONS; i++) {
        const seed = (k.name.length * 1_000_003 + i * 7919) >>> 0;
        const rnd = new Rng(seed);
        const img = Buffer.from(f.image);
        const nBlocks = 1 + Math.floor(rnd.float() * 3);
        for (let j = 0; j < nBlocks; j++) {
          const blk = f.metaBlocks[Math.floor(rnd.float() * f.metaBlocks.length)];
          const base = blk * f.blockSize;
          const edits = 1 + Math.floor(rnd.float() * 6);
          for (let e = 0; e < edits; e++) {
            const off = base + Math.floor(rnd.float() * f.blockSize);
            const mode = rnd.float();
            if (mode < 0.4) img[off] ^= 1 << Math.floor(rnd.float() * 8);
            else if (mode < 0.6) img[off] = rnd.float() < 0.5 ? 0 : 0xff;
            else if (off + 4 <= img.length) img.writeUInt32LE(Math.floor(rnd.float() * 2 ** 32), off & ~3);
          }
        }
        try {
          let vol: Volume;
          try {
            vol = await openVolume(new MemoryDevice(img), { readOnly: true });
          } catch (e) {
            if (!(e instanceof FsError)) throw e;
            totals.refusedAtOpen++;
            continue;
          }
          const before = totals.corrupt + [...totals.other.values()].reduce((a, b) => a + b, 0);
          await walkAll(vol, totals);
          await vol.close();
          if (totals.corrupt + [...totals.other.values()].reduce((a, b) => a + b, 0) === before) totals.ok++;
        } catch (e) {
          throw new Error(`seed ${seed} (kind ${k.name}, iteration ${i}): ${(e as Error).stack ?? String(e)}`);
        }
      }
      console.log(`fuzz ${k.name}: ${ITERATIONS} images: ${totals.ok} read cleanly, ${totals.refusedAtOpen} refused at open, ` +
        `${totals.corrupt} EFSCORRUPTED errors, other codes ${JSON.stringify(Object.fromEntries(totals.other))}`);
      // The damage must have reached the checks (not only been ignored).
      expect(totals.corrupt + totals.refusedAtOpen).toBeGreaterThan(0);
    }, SOAK ? 3_600_000 : 120_000);
  }
});

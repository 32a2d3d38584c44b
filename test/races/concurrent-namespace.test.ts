/**
 * Namespace and data operations running concurrently, under the
 * deterministic simulator: every await is a point where the PRNG picks who
 * runs next, locks park tasks through the scheduler, and the lock validator
 * checks DESIGN.md §3's order (and that no task waits for a commit while it
 * holds a journal handle, R3) on every acquisition. Three tasks share a
 * directory: two change it (creates, renames across directories, links,
 * unlinks, truncates, writes), one reads it throughout and may see any
 * state but never a torn one: every file it reads holds exactly one of the
 * contents some task wrote (or nothing, between writeFile's create and its
 * write, as on Linux). After the run the volume closes; e2fsck must
 * find nothing to fix, and the tree must be what the operations, in any
 * interleaving, leave behind. Each seed is a different interleaving; a
 * failure prints its seed, and rerunning that seed replays it.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { openVolume, FsError, type Volume } from '../../src/index.js';
import { withSimulator, seedRange } from '../../src/sim/simulator.js';
import { mkfs } from '../helpers/images.js';
import { useTmpDir } from '../helpers/tmp.js';
import { expectFsckClean } from '../helpers/fsck.js';

const tmp = useTmpDir('races-namespace');

const contentA = (i: number): string => `A${i}:`.repeat(50 + i * 300);
const contentB = (i: number): string => `B${i}:`.repeat(50 + i * 200);

async function writerA(vol: Volume): Promise<void> {
  const p = vol.promises;
  await p.mkdir('/A');
  for (let i = 0; i < 8; i++) await p.writeFile(`/A/a${i}`, contentA(i));
  await p.rename('/A/a0', '/shared/fromA');
  await p.unlink('/A/a1');
  await p.truncate('/A/a2', 3);
  await p.appendFile('/shared/fromA', 'tail');
  await p.rename('/A/a3', '/shared/a3');
}

async function writerB(vol: Volume): Promise<void> {
  const p = vol.promises;
  await p.mkdir('/B');
  for (let i = 0; i < 8; i++) await p.writeFile(`/shared/b${i}`, contentB(i));
  await p.link('/shared/b0', '/B/hard');
  await p.rename('/shared/b1', '/B/b1');
  await p.unlink('/shared/b2');
  await p.mkdir('/shared/sub');
  await p.rename('/shared/sub', '/B/sub');
  await p.writeFile('/B/sub/inner', contentB(9));
}

/** Reads the shared directory over and over; every file read must be whole. */
async function reader(vol: Volume, valid: Set<string>): Promise<number> {
  const p = vol.promises;
  let reads = 0;
  for (let round = 0; round < 30; round++) {
    for (const name of await p.readdir('/shared')) {
      try {
        const st = await p.lstat(`/shared/${name}`);
        if (!st.isFile()) continue;
        const text = await p.readFile(`/shared/${name}`, 'utf8');
        reads++;
        if (!valid.has(text)) throw new Error(`read /shared/${name}: ${text.length} bytes that no operation wrote`);
      } catch (e) {
        // Renamed or removed between readdir and the read: what a concurrent reader may see.
        if (!(e instanceof FsError && e.code === 'ENOENT')) throw e;
      }
    }
  }
  return reads;
}

async function tree(vol: Volume, dir = '/'): Promise<string[]> {
  const out: string[] = [];
  for (const d of await vol.promises.readdir(dir, { withFileTypes: true })) {
    const path = dir === '/' ? `/${d.name}` : `${dir}/${d.name}`;
    if (path === '/lost+found') continue;
    const st = await vol.promises.lstat(path);
    out.push(`${path} ${d.isDirectory() ? 'dir' : `${st.size} nlink=${st.nlink}`}`);
    if (d.isDirectory()) out.push(...(await tree(vol, path)));
  }
  return out.sort();
}

describe('concurrent namespace and data operations (simulated interleavings)', () => {
  // `npm run soak` (EXT4KIT_SOAK=1) tries 400 interleavings.
  const seeds = process.env.EXT4KIT_SOAK === '1' ? 400 : 30;
  it(`${seeds} interleavings: lock order holds, readers never see torn files, the image is e2fsck-clean`, async () => {
    const base = await mkfs(tmp.file('base.img'), { size: '32M' });
    const original = fs.readFileSync(base);
    const valid = new Set<string>();
    for (let i = 0; i < 10; i++) {
      valid.add(contentA(i));
      valid.add(contentB(i));
    }
    valid.add(`${contentA(0)}tail`);
    valid.add(contentA(2).slice(0, 3));
    // writeFile is open(O_CREAT | O_TRUNC), then write: a reader in between sees an empty file.
    valid.add('');
    let expected: string[] | undefined;
    let totalReads = 0;
    for (const seed of seedRange(1, seeds)) {
      let image: Buffer | undefined;
      let final: string[] = [];
      await withSimulator({ seed }, async (sim) => {
        const dev = sim.device({ image: original });
        // Virtual time starts at 0; timestamps (and i_dtime, which e2fsck takes for an orphan
        // list link when it is below the inode count) need a real-looking epoch.
        const epoch = Date.UTC(2026, 10, 28);
        const clock = { ...sim.clock, now: () => epoch + sim.clock.now() };
        const vol = await openVolume(dev, { clock });
        await vol.promises.mkdir('/shared');
        sim.spawn('writer A', () => writerA(vol));
        sim.spawn('writer B', () => writerB(vol));
        const r = sim.spawn('reader', () => reader(vol, valid));
        await sim.run();
        totalReads += await r.result;
        final = await tree(vol);
        await vol.close();
        image = dev.durableImage();
      });
      // Every interleaving leaves the same tree.
      expected ??= final;
      expect(final, `seed ${seed}`).toEqual(expected);
      const file = tmp.file(`seed-${seed}.img`);
      fs.writeFileSync(file, image!);
      await expectFsckClean(file);
      const again = await openVolume(file, { readOnly: true });
      expect(await tree(again), `seed ${seed}: the closed image shows the same tree`).toEqual(expected);
      await again.close();
      fs.rmSync(file);
    }
    expect(expected).toContain('/B/hard 150 nlink=2');
    expect(totalReads).toBeGreaterThan(20);
  }, 300_000);
});

/**
 * Power cuts at every point of a real write workload (files created,
 * written, renamed, linked, truncated, removed; three `volume.sync()`s),
 * on a simulated disk that keeps a random subset of the writes not yet
 * flushed, torn in 4 KiB units. After each cut the image is opened
 * again (which replays the journal and finishes orphans) and must show
 * exactly the tree as it was at the last completed sync, or at the sync
 * that was under way if its commit block made it; e2fsck -fn must find
 * nothing to fix, and e2fsck's own replay of the cut image must give the
 * same tree.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { openVolume, MemoryDevice, type Volume } from '../../src/index.js';
import { SimDevice } from '../../src/sim/sim-device.js';
import { Prng } from '../../src/sim/prng.js';
import type { Clock } from '../../src/base/clock.js';
import { CuttingDevice } from './power-cut.js';
import { mkfs } from '../helpers/images.js';
import { useTmpDir } from '../helpers/tmp.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { runCommand, TOOL_ENV } from '../helpers/run.js';

const tmp = useTmpDir('crash-write-path');

/** A clock whose timer never fires: commits happen only at sync and when a transaction fills. */
function manualClock(): Clock {
  let t = Date.UTC(2026, 0, 1);
  return { now: () => (t += 1000), sleep: async () => undefined, setTimer: () => ({ cancel: () => undefined }) };
}

type Tree = Map<string, string>;

/** Every path with its type and contents (files hashed by content, symlinks by target). */
async function snapshot(vol: Volume): Promise<Tree> {
  const out: Tree = new Map();
  const walk = async (dir: string): Promise<void> => {
    for (const d of await vol.promises.readdir(dir, { withFileTypes: true })) {
      const p = dir === '/' ? `/${d.name}` : `${dir}/${d.name}`;
      if (p === '/lost+found') continue;
      const st = await vol.promises.lstat(p);
      if (d.isDirectory()) {
        out.set(p, `dir nlink=${st.nlink}`);
        await walk(p);
      } else if (d.isSymbolicLink()) {
        out.set(p, `link ${await vol.promises.readlink(p)}`);
      } else {
        const data = await vol.promises.readFile(p);
        out.set(p, `file nlink=${st.nlink} size=${data.length} sum=${data.reduce((a, b) => (a * 31 + b) >>> 0, 7)}`);
      }
    }
  };
  await walk('/');
  return out;
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * The workload. `step()` runs after every operation, `synced()` after every
 * `volume.sync()`; the dry run snapshots the tree at each step.
 */
async function workload(vol: Volume, step: () => Promise<void>, synced: () => void): Promise<void> {
  const p = vol.promises;
  const op = async (f: () => Promise<unknown>): Promise<void> => {
    await f();
    await step();
  };
  const sync = async (): Promise<void> => {
    await vol.sync();
    synced();
  };
  await op(() => p.mkdir('/a'));
  for (let i = 0; i < 12; i++) await op(() => p.writeFile(`/a/f${i}`, bytes(i * 3000 + 1, i)));
  await op(() => p.writeFile('/a/big', bytes(300_000, 99)));
  await op(() => p.symlink('f1', '/a/link'));
  await sync();
  await op(() => p.rename('/a/f1', '/a/g1'));
  await op(() => p.unlink('/a/f2'));
  await op(() => p.appendFile('/a/f3', bytes(5000, 3)));
  await op(() => p.truncate('/a/big', 100_000));
  await op(() => p.mkdir('/b'));
  await op(() => p.writeFile('/b/one', bytes(70_000, 5)));
  await op(() => p.link('/a/f4', '/b/f4-link'));
  await op(() => p.rename('/a/f5', '/b/f5'));
  await sync();
  await op(() => p.rm('/a', { recursive: true }));
  for (let i = 0; i < 30; i++) await op(() => p.writeFile(`/b/s${i}`, bytes(i * 100, 1000 + i)));
  await op(() => p.rename('/b', '/c'));
  await sync();
}

describe('power cuts during a write workload', () => {
  it.each([
    { name: '4 KiB blocks, default features', args: [] as string[] },
    { name: '1 KiB blocks, no 64bit', args: ['-b', '1024', '-O', '^64bit'] },
  ])('$name: every cut recovers to a state between operations, e2fsck-clean, as e2fsck replays it', async ({ name, args }) => {
    const img = await mkfs(tmp.file(`base-${name.length}.img`), { size: '32M', args });
    const original = fs.readFileSync(img);
    // A run without a cut: how many requests the workload makes, and the tree after every operation.
    const states: Tree[] = [new Map()];
    const dry = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(1) }), Infinity);
    const vol0 = await openVolume(dry, { clock: manualClock() });
    await workload(vol0, async () => { states.push(await snapshot(vol0)); }, () => undefined);
    await vol0.close();
    const total = dry.requests;
    expect(total).toBeGreaterThan(40);

    const cuts = new Set<number>();
    for (let c = 1; c <= total; c += Math.max(1, Math.floor(total / 45))) cuts.add(c);
    const rng = new Prng(7);
    while (cuts.size < Math.min(total, 60)) cuts.add(rng.int(1, total));
    let checkedByE2fsck = 0;
    for (const cutAt of [...cuts].sort((a, b) => a - b)) {
      // Writes tear in 4 KiB units: ext4 (like Linux) needs its 1024-byte superblock,
      // rewritten in place at mount and unmount, to be written atomically.
      const dev = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(cutAt) }), cutAt, true, 4096);
      // Operations done, and done by the last completed sync: the recovered tree must be the
      // tree after some operation between the two (commits happen at syncs, and inside a
      // truncate that shrinks to a partial block; never in the middle of another operation).
      let done = 0;
      let synced = 0;
      try {
        const vol = await openVolume(dev, { clock: manualClock() });
        await workload(vol, async () => { done++; }, () => { synced = done; });
        await vol.close();
      } catch (e) {
        if (!(e instanceof Error && /power cut|EROFS/.test(e.message))) throw e;
      }
      expect(dev.image, `cut at request ${cutAt} of ${total} happened`).toBeDefined();
      const image = dev.image!;
      const recovered = new MemoryDevice(Buffer.from(image));
      const vol = await openVolume(recovered, { clock: manualClock() });
      const tree = await snapshot(vol);
      await vol.close();
      const allowed = states.slice(synced, done + 2);
      const matches = allowed.some((s) => JSON.stringify([...s]) === JSON.stringify([...tree]));
      if (!matches) {
        const diff = (a: Tree, b: Tree): string[] => [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).map((k) => `${k}: ${a.get(k)} | ${b.get(k)}`);
        const detail = allowed.map((s, i) => `vs state after operation ${synced + i}:\n  ${diff(tree, s).join('\n  ')}`).join('\n');
        expect.fail(`cut at ${cutAt}/${total} after sync ${synced}: recovered tree differs\n${detail}`);
      }
      const file = tmp.file(`cut-${cutAt}.img`);
      fs.writeFileSync(file, recovered.bytes);
      await expectFsckClean(file);
      fs.rmSync(file);
      if (cutAt % 3 === 0) {
        // e2fsck replays the same cut image: the same tree.
        const theirs = tmp.file(`cut-${cutAt}-e2fsck.img`);
        fs.writeFileSync(theirs, image);
        const r = await runCommand('e2fsck', ['-fy', theirs], { timeoutMs: 60_000, env: TOOL_ENV });
        expect(r.code === 0 || r.code === 1, `e2fsck -fy exited ${r.code}: ${r.stdout}${r.stderr}`).toBe(true);
        await expectFsckClean(theirs);
        const v2 = await openVolume(theirs, { readOnly: true });
        expect(JSON.stringify([...(await snapshot(v2))])).toBe(JSON.stringify([...tree]));
        await v2.close();
        fs.rmSync(theirs);
        checkedByE2fsck++;
      }
    }
    expect(checkedByE2fsck).toBeGreaterThan(10);
  }, 600_000);
});

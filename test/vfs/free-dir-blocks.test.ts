/**
 * Freeing a directory's blocks (rmdir of a big directory, rename over one)
 * goes through the journal as metadata: every block is forgotten and
 * revoked, a bounded number per call. Found by the model-based test: the
 * blocks were freed as data, so a freed directory block kept its journaled
 * state and the next allocation of it tripped an invariant (and a replay
 * could have written the old entries over the block's next owner). Then,
 * with the bound: an extent longer than one call's budget that was the
 * first of its leaf was only cut from its end, and the call reported the
 * range done, leaking the rest (e2fsck: block bitmap differences).
 *
 * Here a directory grows to many blocks (more than one call's revoke
 * budget, mostly in one extent), is emptied and removed; the blocks are then
 * reused at once by new directories and files, and e2fsck and a fresh open
 * must find everything in order.
 */
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/index.js';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';

const images = useImages('free-dir-blocks');

describe('freeing directory blocks', () => {
  for (const bs of [1024, 4096]) {
    it(`${bs}-byte blocks: a directory of many blocks removed, its blocks reused at once`, async () => {
      const img = await images.mkfs({ size: '32M', args: ['-b', String(bs)] });
      const vol = await openVolume(img);
      const p = vol.promises;
      await p.mkdir('/big');
      const names = Array.from({ length: bs === 1024 ? 1500 : 5000 }, (_, i) => `entry-${String(i).padStart(5, '0')}-${'x'.repeat(40)}`);
      for (const n of names) await p.writeFile(`/big/${n}`, '');
      const blocks = (await p.stat('/big')).size / bs;
      // More blocks than one call may revoke (64), so the free takes several calls, one extent cut from its end.
      expect(blocks).toBeGreaterThan(64);
      for (const n of names) await p.unlink(`/big/${n}`);
      await p.rmdir('/big');
      // A second big directory over the blocks just freed, and its removal by rename over an empty one.
      await p.mkdir('/again');
      for (const n of names.slice(0, 200)) await p.writeFile(`/again/${n}`, 'y');
      await p.mkdir('/victim');
      for (const n of names) await p.writeFile(`/victim/${n}`, '');
      for (const n of names) await p.unlink(`/victim/${n}`);
      await p.mkdir('/empty');
      await p.rename('/empty', '/victim');
      await vol.sync();
      await p.writeFile('/data', Buffer.alloc(blocks * bs, 0xab));
      await vol.close();
      await expectFsckClean(img);
      const ro = await openVolume(img, { readOnly: true });
      try {
        expect((await ro.promises.readdir('/')).sort()).toEqual(['again', 'data', 'lost+found', 'victim']);
        expect((await ro.promises.readdir('/again')).length).toBe(200);
        expect((await ro.promises.readdir('/victim')).length).toBe(0);
        expect((await ro.promises.readFile('/data')).equals(Buffer.alloc(blocks * bs, 0xab))).toBe(true);
      } finally {
        await ro.close();
      }
    });
  }
});

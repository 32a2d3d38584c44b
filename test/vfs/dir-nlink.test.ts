/**
 * dir_nlink: a directory with more than 65,000 subdirectories. i_links_count
 * cannot count them (EXT4_LINK_MAX is 65,000), so an indexed directory past
 * the limit records 1 ("many"), as Linux does, and keeps 1 as subdirectories
 * come and go; e2fsck accepts it and the kernel reports it.
 */
import { describe, expect, it } from 'vitest';
import { stat } from 'node:fs/promises';
import { openVolume } from '../../src/index.js';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';

const images = useImages('dir-nlink');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(await describeLoopSkip());

describe('dir_nlink', () => {
  it('a directory past 65,000 subdirectories counts 1 link; rmdir keeps it at 1', async () => {
    const img = await images.mkfs({ size: '256M', args: ['-N', '70000'] });
    const vol = await openVolume(img);
    const fs = vol.promises;
    await fs.mkdir('/d');
    for (let i = 0; i < 65_010; i++) {
      await fs.mkdir(`/d/${i}`);
      if (i === 64_997) expect((await fs.stat('/d')).nlink).toBe(65_000);
    }
    expect((await fs.stat('/d')).nlink).toBe(1);
    for (let i = 0; i < 20; i++) await fs.rmdir(`/d/${i}`);
    expect((await fs.stat('/d')).nlink).toBe(1);
    expect((await fs.readdir('/d')).length).toBe(64_990);
    await vol.close();
    await expectFsckClean(img);
    if (canLoop) {
      await withMountedImage(img, { readOnly: true }, async (m) => {
        expect((await stat(`${m.dir}/d`)).nlink).toBe(1);
        expect((await stat(`${m.dir}/d/65009`)).isDirectory()).toBe(true);
      });
    }
  }, 300_000);
});

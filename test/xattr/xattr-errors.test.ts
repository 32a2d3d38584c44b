/**
 * setxattr/removexattr semantics at the edges, each compared with what
 * e2fsprogs then reads from the image: flags (EEXIST, ENODATA), names
 * (EOPNOTSUPP, EINVAL, ERANGE), sizes (ENOSPC beyond a block, E2BIG beyond
 * 64 KiB), a failed change leaving the volume writable and the image
 * untouched, ACLs stored in ext4's form with the mode bits they imply, and
 * a value moving between the inode body and the xattr block as it grows
 * and shrinks.
 */
import { describe, expect, it } from 'vitest';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { debugfs, parseEaList, parseStat, inodeNumber } from '../helpers/debugfs.js';
import { aclXattrValue, ACL_UNDEFINED_ID } from '../helpers/host-xattr.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { changeXattr, type XattrSetFlags } from '../../src/xattr/xattr-set.js';
import { getXattrValue } from './xattr-oracle.js';

const CTIME = { sec: 1_700_000_000, nsec: 0 };
const images = useImages('xattr-errors');

async function fresh(args: string[] = ['-b', '4096']): Promise<string> {
  return images.mkfs({
    size: '16M', args,
    tree: [{ path: 'f', data: 'file' }, { path: 'g', data: 'other' }, { path: 'd', kind: 'dir' }],
  });
}

async function set(v: WritableFs, ino: number, name: string, value: Uint8Array | string | undefined, flags: XattrSetFlags = 'either'): Promise<void> {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  await changeXattr(v.fs, v.inodes, await v.inodes.get(ino), name, bytes, flags, CTIME);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

describe('xattr set/remove errors', () => {
  it('reports flag, name and size errors as Linux does, without changing the image or the volume', async () => {
    const img = await fresh();
    const f = await inodeNumber(img, '/f');
    const v = await openWritableFs(img);
    try {
      expect(await code(set(v, f, 'user.x', '1', 'replace'))).toBe('ENODATA');
      expect(await code(set(v, f, 'user.x', undefined))).toBe('ENODATA');
      expect(await code(set(v, f, 'user.x', '1', 'create'))).toBe('ok');
      expect(await code(set(v, f, 'user.x', '2', 'create'))).toBe('EEXIST');
      expect(await code(set(v, f, 'user.x', '3', 'replace'))).toBe('ok');
      expect(await code(set(v, f, 'foo.bar', '1'))).toBe('ENOTSUP');
      expect(await code(set(v, f, 'system.data', '1'))).toBe('ENOTSUP');
      expect(await code(set(v, f, 'system.foo', '1'))).toBe('ENOTSUP');
      expect(await code(set(v, f, 'user.', '1'))).toBe('EINVAL');
      expect(await code(set(v, f, 'user.' + 'n'.repeat(255), '1'))).toBe('ok');
      expect(await code(set(v, f, 'user.' + 'n'.repeat(256), '1'))).toBe('ERANGE');
      expect(await code(set(v, f, 'user.huge', Buffer.alloc(4096, 1)))).toBe('ENOSPC');
      expect(await code(set(v, f, 'user.huge', Buffer.alloc(65537, 1)))).toBe('E2BIG');
      expect(await code(set(v, f, 'system.posix_acl_default', aclXattrValue([[1, 6, ACL_UNDEFINED_ID], [4, 4, ACL_UNDEFINED_ID], [0x20, 4, ACL_UNDEFINED_ID]])))).toBe('EACCES');
      expect(await code(set(v, f, 'system.posix_acl_access', Buffer.from('abc')))).toBe('EINVAL');
      // None of the failures aborted the journal: the volume still takes changes.
      expect(await code(set(v, f, 'user.after', 'still writable'))).toBe('ok');
    } finally {
      await v.close();
    }
    await expectFsckClean(img);
    const names = parseEaList(await debugfs(img, 'ea_list /f')).map((e) => e.name).sort();
    expect(names).toEqual(['user.after', 'user.' + 'n'.repeat(255), 'user.x'].sort());
    expect(await getXattrValue(img, '/f', 'user.x')).toEqual(Buffer.from('3'));
  });

  it('moves a value from the inode to the xattr block and back as it grows and shrinks, freeing the block', async () => {
    const img = await fresh();
    const f = await inodeNumber(img, '/f');
    const v = await openWritableFs(img);
    const stages: Array<{ size: number; inBlock: boolean }> = [];
    try {
      for (const size of [10, 80, 300, 4000, 50, 0]) {
        await set(v, f, 'user.grow', Buffer.alloc(size, 0x41 + (size % 26)));
        const inode = await v.inodes.get(f);
        stages.push({ size, inBlock: inode.disk.fileAcl !== 0 });
      }
      await set(v, f, 'user.grow', undefined);
    } finally {
      await v.close();
    }
    // 256-byte inodes with extra_isize 32 hold at most 92 bytes of entries and values.
    expect(stages).toEqual([
      { size: 10, inBlock: false }, { size: 80, inBlock: true }, { size: 300, inBlock: true },
      { size: 4000, inBlock: true }, { size: 50, inBlock: false }, { size: 0, inBlock: false },
    ]);
    await expectFsckClean(img);
    const st = parseStat(await debugfs(img, 'stat /f'));
    expect(st.fileAcl).toBe(0);
    expect(st.xattrs).toEqual([]);
  });

  it('stores an access ACL in ext4 form, sets the mode from it, and drops one the mode expresses', async () => {
    const img = await fresh();
    const f = await inodeNumber(img, '/f');
    const g = await inodeNumber(img, '/g');
    const d = await inodeNumber(img, '/d');
    const full = aclXattrValue([[1, 6, ACL_UNDEFINED_ID], [2, 6, 1000], [4, 4, ACL_UNDEFINED_ID], [0x10, 6, ACL_UNDEFINED_ID], [0x20, 4, ACL_UNDEFINED_ID]]);
    const minimal = aclXattrValue([[1, 7, ACL_UNDEFINED_ID], [4, 5, ACL_UNDEFINED_ID], [0x20, 1, ACL_UNDEFINED_ID]]);
    const v = await openWritableFs(img);
    try {
      await set(v, f, 'system.posix_acl_access', full);
      await set(v, g, 'system.posix_acl_access', minimal);
      await set(v, d, 'system.posix_acl_default', full);
      // Removing an ACL that is not there succeeds on Linux.
      expect(await code(set(v, g, 'system.posix_acl_default', undefined))).toBe('ok');
    } finally {
      await v.close();
    }
    await expectFsckClean(img);
    const stF = await debugfs(img, 'stat /f');
    expect(stF).toMatch(/Mode: {2}0664/);
    const stG = await debugfs(img, 'stat /g');
    expect(stG).toMatch(/Mode: {2}0751/);
    expect(parseStat(stG).xattrs).toEqual([]);
    // debugfs shows ACLs in the user-space form; the bytes on disk are ext4's
    // (version 1, short entries): 4 + 4 + 8 + 4 + 4 + 4 bytes.
    expect(parseEaList(await debugfs(img, 'ea_list /f')).find((e) => e.name === 'system.posix_acl_access')?.size).toBe(28);
    // libext2fs gives entries without an id the id 0 (the kernel says 0xFFFFFFFF).
    const fullAsDebugfs = aclXattrValue([[1, 6, 0], [2, 6, 1000], [4, 4, 0], [0x10, 6, 0], [0x20, 4, 0]]);
    expect(await getXattrValue(img, '/d', 'system.posix_acl_default')).toEqual(fullAsDebugfs);
    expect(await getXattrValue(img, '/f', 'system.posix_acl_access')).toEqual(fullAsDebugfs);
  });
});

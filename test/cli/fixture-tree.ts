/**
 * A small host tree with one of everything the read commands must handle:
 * special mode bits, every file type, hard links, sparse files, odd names,
 * owners, xattrs (incl. an ACL and a security label), times to the
 * nanosecond in the past, recent and future. Used through the host-directory
 * stand-in volume, where GNU tools on the same files are the oracle.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { mknodBatch, setTimesNs, setXattrs } from '../../src/host/host-ops.js';

export const isRoot = process.getuid?.() === 0;

const NS = 1_000_000_000n;

/** A POSIX ACL in its xattr form: user::rw-, user:1000:r--, group::r--, mask::r--, other::r--. */
export function sampleAcl(): Buffer {
  const entries: Array<[number, number, number]> = [[1, 6, 0xffffffff], [2, 4, 1000], [4, 4, 0xffffffff], [0x10, 4, 0xffffffff], [0x20, 4, 0xffffffff]];
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id, 8 + i * 8);
  });
  return b;
}

export async function makeFixtureTree(root: string): Promise<void> {
  const p = (rel: string): string => join(root, rel);
  await fsp.mkdir(root, { recursive: true });
  const file = async (rel: string, data: string | Buffer, mode = 0o644): Promise<void> => {
    await fsp.writeFile(p(rel), data);
    await fsp.chmod(p(rel), mode);
  };
  await file('hello.txt', 'hello\n');
  await file('empty', '', 0o600);
  await file('suid', '#!/bin/sh\necho hi\n', 0o4755);
  await file('sgid', 'x', 0o2711);
  await file('.hidden', 'dot\n');
  await file('name with space', 'space\n');
  await file('ünïcödé', 'unicode\n');
  await file('big.bin', randomBytes(300 * 1024));
  await fsp.writeFile(p('sparse.img'), '');
  const sparse = await fsp.open(p('sparse.img'), 'r+');
  await sparse.write(randomBytes(4096), 0, 4096, 0);
  await sparse.write(randomBytes(8192), 0, 8192, 5 << 20);
  await sparse.truncate(10 << 20);
  await sparse.close();
  await fsp.writeFile(p('hole-only'), '');
  await fsp.truncate(p('hole-only'), 1 << 20);
  await fsp.symlink('hello.txt', p('link-rel'));
  await fsp.symlink('nowhere/at/all', p('dangling'));
  await fsp.symlink('sub', p('dirlink'));
  await fsp.mkdir(p('sub/deep/deeper'), { recursive: true });
  await file('sub/deep/deeper/file', 'deep\n');
  await file('hard1', 'linked twice\n');
  await fsp.link(p('hard1'), p('sub/hard2'));
  await fsp.mkdir(p('sticky'));
  await fsp.chmod(p('sticky'), 0o1777);
  await fsp.mkdir(p('private'));
  await fsp.chmod(p('private'), 0o700);
  await fsp.mkdir(p('readonly-dir'));
  await file('readonly-dir/inside', 'in a read-only dir\n', 0o444);
  await fsp.chmod(p('readonly-dir'), 0o555);
  await file('xattr-file', 'has xattrs\n');
  await file('acl-file', 'has an ACL\n');
  await file('sel-file', 'has a label\n');
  const specials = [{ path: p('fifo'), mode: 0o010640, rdev: 0 }];
  if (isRoot) {
    specials.push({ path: p('chardev'), mode: 0o020644, rdev: (1 << 8) | 3 });
    // 259:123 in Linux's dev_t encoding (major above 255 uses the high bits of the 12-bit field).
    specials.push({ path: p('blockdev'), mode: 0o060660, rdev: ((259 & 0xfff) << 8) | (123 & 0xff) });
  }
  const mk = await mknodBatch(specials);
  if (mk.length > 0) throw new Error(`mknod failed: ${mk.map((e) => e.message).join(', ')}`);
  if (isRoot) {
    await file('owned', 'owned by someone else\n', 0o640);
    await fsp.chown(p('owned'), 1234, 5678);
    await file('bigid', 'large ids\n');
    await fsp.chown(p('bigid'), 100000, 200000);
  }
  const xerr = await setXattrs([
    { path: p('xattr-file'), name: 'user.comment', value: Buffer.from('hi there') },
    { path: p('xattr-file'), name: 'user.binary', value: Buffer.from([0, 1, 2, 255]) },
    { path: p('acl-file'), name: 'system.posix_acl_access', value: sampleAcl() },
    { path: p('sel-file'), name: 'security.selinux', value: Buffer.from('system_u:object_r:tmp_t:s0\0') },
  ]);
  if (xerr.length > 0) throw new Error(`setxattr failed: ${xerr.map((e) => `${e.code} ${e.message}`).join(', ')}`);

  // Times: an old one to the nanosecond, one recent, one in the future; directories last.
  const now = BigInt(Date.now()) * 1_000_000n;
  const old = 1577872800n * NS + 123456789n; // 2020-01-01 10:00:00.123456789 UTC
  const times = [
    { path: p('hello.txt'), atimeNs: old + 1n, mtimeNs: old },
    { path: p('big.bin'), atimeNs: now - 86400n * NS, mtimeNs: now - 86400n * NS + 987654321n },
    { path: p('empty'), atimeNs: 4102444800n * NS + 5n, mtimeNs: 4102444800n * NS + 7n }, // 2100-01-01
    { path: p('link-rel'), atimeNs: old + 11n, mtimeNs: old + 13n },
    { path: p('fifo'), atimeNs: old + 21n, mtimeNs: old + 23n },
    { path: p('sub/deep/deeper'), atimeNs: old + 31n, mtimeNs: old + 33n },
    { path: p('sub'), atimeNs: old + 41n, mtimeNs: old + 43n },
  ];
  const terr = await setTimesNs(times);
  if (terr.length > 0) throw new Error(`utime failed: ${terr.map((e) => e.message).join(', ')}`);
}

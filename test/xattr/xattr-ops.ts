/**
 * Random setxattr/removexattr sequences, and the Linux kernel running the
 * same sequence through a loop mount (one python3 process), so that
 * ext4kit's outcome of every operation (success or errno) can be compared
 * with the kernel's, and the final attributes of every file with both.
 */
import { Rng } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { ACL_UNDEFINED_ID, aclXattrValue } from '../helpers/host-xattr.js';

export type Flags = 'create' | 'replace' | 'either';

export interface XattrOp {
  /** Path relative to the image root. */
  file: string;
  name: string;
  /** undefined: removexattr */
  value?: Buffer;
  flags: Flags;
}

const NAMES = [
  'user.a', 'user.bb', 'user.ccc', 'user.dddd', `user.${'long'.repeat(12)}`, 'user.x0', 'user.x1', 'user.x2',
  'trusted.t1', 'trusted.overlay.opaque', 'security.sec', 'gnu.hurd',
];

/**
 * Value sizes: mostly small and medium, with extra weight near the limits
 * where off-by-a-few errors in free-space accounting show: around what a
 * 256-byte inode's body holds (a 68-byte value with a 1-byte name), and
 * around what one block holds.
 */
function valueSize(rng: Rng, blockSize: number): number {
  const p = rng.float();
  if (p < 0.05) return 0;
  if (p < 0.35) return rng.int(1, 40);
  if (p < 0.5) return rng.int(41, 100);
  if (p < 0.68) return rng.int(101, 400);
  if (p < 0.86) return rng.int(401, blockSize / 2);
  if (p < 0.96) return rng.int(blockSize - 140, blockSize - 40);
  return rng.int(blockSize - 40, 2 * blockSize);
}

/** A valid access or default ACL in the user-space form; sometimes one the mode bits express exactly. */
function randomAcl(rng: Rng): Buffer {
  const perm = (): number => rng.int(0, 7);
  const u = ACL_UNDEFINED_ID;
  if (rng.chance(0.3)) return aclXattrValue([[1, perm(), u], [4, perm(), u], [0x20, perm(), u]]);
  const entries: Array<[number, number, number]> = [[1, perm(), u]];
  const users = rng.int(0, 3);
  for (let i = 0; i < users; i++) entries.push([2, perm(), 1000 + 7 * i]);
  entries.push([4, perm(), u]);
  const groups = rng.int(0, 2);
  for (let i = 0; i < groups; i++) entries.push([8, perm(), 100 + 3 * i]);
  entries.push([0x10, perm(), u], [0x20, perm(), u]);
  return aclXattrValue(entries);
}

export interface OpMix {
  /** The image's block size (values go up to twice that: ENOSPC expected). */
  blockSize: number;
  /** Include POSIX ACLs (access on anything, default on directories). */
  acls: boolean;
}

export function randomOps(seed: number, files: readonly string[], dirs: ReadonlySet<string>, count: number, mix: OpMix): XattrOp[] {
  const rng = new Rng(seed);
  const ops: XattrOp[] = [];
  for (let i = 0; i < count; i++) {
    const file = rng.pick(files);
    const p = rng.float();
    if (mix.acls && p < 0.06) {
      const def = dirs.has(file) && rng.chance(0.5);
      const name = def ? 'system.posix_acl_default' : 'system.posix_acl_access';
      ops.push(rng.chance(0.2) ? { file, name, flags: 'either' } : { file, name, value: randomAcl(rng), flags: 'either' });
      continue;
    }
    const name = rng.pick(NAMES);
    if (p < 0.3) {
      ops.push({ file, name, flags: 'replace' });
    } else {
      const flags: Flags = p < 0.4 ? 'create' : p < 0.5 ? 'replace' : 'either';
      ops.push({ file, name, value: rng.bytes(valueSize(rng, mix.blockSize)), flags });
    }
  }
  return ops;
}

const KERNEL_PY = `
import json, os, sys, errno
root = sys.argv[1]
spec = json.loads(sys.stdin.read())
out = []
for file, name, value, flags in spec['ops']:
    p = os.path.join(root, file)
    try:
        if value is None:
            os.removexattr(p, name)
        else:
            os.setxattr(p, name, bytes.fromhex(value), {'create': os.XATTR_CREATE, 'replace': os.XATTR_REPLACE, 'either': 0}[flags])
        out.append(0)
    except OSError as e:
        out.append(e.errno)
print(json.dumps(out))
`;

/** Runs `ops` with the kernel on the tree mounted at `root`; the errno of each (0 for success). */
export async function runOpsInKernel(root: string, ops: readonly XattrOp[]): Promise<number[]> {
  const spec = { ops: ops.map((o) => [o.file, o.name, o.value?.toString('hex') ?? null, o.flags]) };
  const r = await runChecked('python3', ['-c', KERNEL_PY, root], { input: JSON.stringify(spec), timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as number[];
}

export function describeOp(o: XattrOp): string {
  return `${o.value === undefined ? 'remove' : `set(${o.flags}, ${o.value.length} bytes)`} ${o.file} ${o.name}`;
}

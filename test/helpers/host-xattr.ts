/**
 * Extended attributes of host files, set and read by a few lines of python
 * (Node has no xattr calls): independent of src/host/host-ops.ts, which the
 * tests check. Names and values are raw bytes. Also the kernel's xattr form
 * of a POSIX ACL.
 */
import { runChecked } from './run.js';

const XATTR_PY = `
import json, os, sys
op = sys.argv[1]
spec = json.loads(sys.stdin.read())
if op == 'set':
    for path, attrs in spec.items():
        for name, value in attrs:
            os.setxattr(path, bytes.fromhex(name), bytes.fromhex(value), follow_symlinks=False)
    print('{}')
else:
    out = {}
    for path in spec:
        names = sorted(os.fsencode(n) for n in os.listxattr(path, follow_symlinks=False))
        out[path] = [[n.hex(), os.getxattr(path, n, follow_symlinks=False).hex()] for n in names]
    print(json.dumps(out))
`;

async function runPython(args: string[], input: string): Promise<string> {
  try {
    return (await runChecked('python3', ['-c', XATTR_PY, ...args], { input, timeoutMs: 60_000 })).stdout;
  } catch (e) {
    throw new Error(`python3 xattr helper failed: ${String(e)}`);
  }
}

/** The id of ACL entries that have none (USER_OBJ, GROUP_OBJ, MASK, OTHER). */
export const ACL_UNDEFINED_ID = 0xffffffff;

/** A POSIX ACL in the kernel's xattr form (system.posix_acl_*): version 2, then (tag, perm, id) entries. */
export function aclXattrValue(entries: ReadonlyArray<[tag: number, perm: number, id: number]>): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id >>> 0, 8 + 8 * i);
  });
  return b;
}

/** Name and value as raw bytes. */
export type HostXattr = [name: Uint8Array, value: Uint8Array];

/** Sets xattrs on host files, in the given order. */
export async function setHostXattrs(spec: Record<string, HostXattr[]>): Promise<void> {
  const json: Record<string, string[][]> = {};
  for (const [p, attrs] of Object.entries(spec)) json[p] = attrs.map(([n, v]) => [Buffer.from(n).toString('hex'), Buffer.from(v).toString('hex')]);
  await runPython(['set'], JSON.stringify(json));
}

/** The xattrs the host kernel reports for each path, as a map from the name (latin1 of its bytes) to the value. */
export async function readHostXattrs(paths: string[]): Promise<Record<string, Map<string, Uint8Array>>> {
  const raw = JSON.parse(await runPython(['get'], JSON.stringify(paths))) as Record<string, string[][]>;
  const out: Record<string, Map<string, Uint8Array>> = {};
  for (const [p, attrs] of Object.entries(raw)) {
    out[p] = new Map(attrs.map(([n, v]) => [Buffer.from(n, 'hex').toString('latin1'), new Uint8Array(Buffer.from(v, 'hex'))]));
  }
  return out;
}

/**
 * `ext4kit xattr ls|get|set|rm IMG:PATH [NAME] [VALUE]`: extended
 * attributes, like getfattr and setfattr. Names are full names with their
 * namespace (`user.comment`, `trusted.x`, `security.selinux`). `get` writes
 * the value's bytes as they are; `set` takes VALUE as text, or `0x` + hex,
 * or `0s` + base64 (setfattr's encodings). Symlinks are followed unless -h.
 */
import type { CliEnv } from './env.js';
import { UsageError } from './target.js';
import { cleanImagePath, forEachTarget, type WriteOptions } from './write-run.js';

/** VALUE as setfattr reads it: `0x` hex, `0s` base64, anything else its UTF-8 text. */
export function decodeValue(text: string): Buffer {
  if (/^0x/i.test(text)) {
    const hex = text.slice(2);
    if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new UsageError(`invalid hex value '${text}'`);
    return Buffer.from(hex, 'hex');
  }
  if (/^0s/i.test(text)) {
    const b64 = text.slice(2);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new UsageError(`invalid base64 value '${text}'`);
    return Buffer.from(b64, 'base64');
  }
  return Buffer.from(text, 'utf8');
}

export interface XattrOptions extends WriteOptions { noDereference?: boolean }

export async function xattrCommand(env: CliEnv, action: string, target: string, args: string[], o: XattrOptions): Promise<number> {
  const want = { ls: 0, get: 1, set: 2, rm: 1 }[action];
  if (want === undefined) throw new UsageError(`unknown action '${action}' (ls, get, set or rm)`);
  if (args.length !== want) {
    throw new UsageError(`${action} takes ${['IMG:PATH', 'IMG:PATH NAME', 'IMG:PATH NAME VALUE'][want]}`);
  }
  const noFollow = o.noDereference === true;
  const value = action === 'set' ? decodeValue(args[1]) : undefined;
  return forEachTarget(env, 'xattr', [target], o, async (vol, t) => {
    const path = cleanImagePath(t.path);
    const p = vol.promises;
    switch (action) {
      case 'ls':
        for (const name of await p.listxattr(path, { noFollow })) env.stdout.write(`${name}\n`);
        return;
      case 'get':
        env.stdout.write(await p.getxattr(path, args[0], { noFollow }));
        return;
      case 'set':
        await p.setxattr(path, args[0], value!, { noFollow });
        return;
      default:
        await p.removexattr(path, args[0], { noFollow });
    }
  }, action === 'set' || action === 'rm');
}

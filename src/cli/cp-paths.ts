/**
 * Host paths for the copy: strings when every name in them is valid UTF-8,
 * else bytes, so a name that is not UTF-8 is copied exactly rather than
 * through a lossy string.
 */
import type { HostPath } from '../host/host-ops.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A name as a host path piece: a string if its bytes are valid UTF-8, else the bytes. */
export function hostName(name: Uint8Array, text?: string): HostPath {
  if (text !== undefined) return text;
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    if (name[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  const bytes = Buffer.from(name.buffer, name.byteOffset, name.length);
  if (ascii) return bytes.toString('latin1');
  try {
    return utf8.decode(name);
  } catch {
    return Buffer.from(bytes);
  }
}

function asBytes(p: HostPath | Uint8Array): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : Buffer.from(p.buffer, p.byteOffset, p.length);
}

/** `parent/name`, as a string when both are strings, else as bytes. */
export function joinHost(parent: HostPath, name: HostPath | Uint8Array): HostPath {
  if (typeof parent === 'string' && typeof name === 'string') return parent.endsWith('/') ? parent + name : `${parent}/${name}`;
  const p = asBytes(parent);
  const sep = p.length > 0 && p[p.length - 1] === 0x2f ? Buffer.alloc(0) : Buffer.from('/');
  return Buffer.concat([p, sep, asBytes(name)]);
}

/** A path for messages (bytes that are not UTF-8 show as U+FFFD, as in ls -N). */
export function shown(p: HostPath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/** A key that tells paths apart whether they are strings or bytes. */
export function pathKey(p: HostPath): string {
  return typeof p === 'string' ? p : `\0${p.toString('latin1')}`;
}

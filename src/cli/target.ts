/**
 * `IMG:PATH` operands and the volumes behind them.
 *
 * An operand names an image file on the host and an absolute path inside
 * it. Image file names may themselves contain colons, so the split is at the
 * first colon that is followed by `/` or ends the operand; an operand with
 * no such colon is a whole image (its root).
 */
import { existsSync } from 'node:fs';
import type { Volume } from '../vfs/types.js';
import type { CliEnv } from './env.js';

export interface Target {
  image: string;
  /** Absolute path inside the image, as the user wrote it (`/` when omitted). */
  path: string;
  /** How errors name this operand: `IMG:PATH`. */
  label: string;
}

export class UsageError extends Error {}

export function parseTarget(arg: string): Target {
  for (let i = arg.indexOf(':'); i >= 0; i = arg.indexOf(':', i + 1)) {
    const rest = arg.slice(i + 1);
    if (i > 0 && (rest === '' || rest.startsWith('/'))) {
      const image = arg.slice(0, i);
      const path = rest === '' ? '/' : rest;
      return { image, path, label: `${image}:${path}` };
    }
  }
  const colon = arg.indexOf(':');
  if (colon > 0 && !existsSync(arg) && existsSync(arg.slice(0, colon))) {
    // `disk.img:etc` is almost certainly a relative path, which would be ambiguous.
    throw new UsageError(`${arg}: the path inside the image must be absolute (IMG:/PATH)`);
  }
  return { image: arg, path: '/', label: `${arg}:/` };
}

const UNITS: Record<string, number> = {
  '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4,
  s: 512,
};

/** `--offset`: bytes, or with a binary suffix (`1M`, `1MiB`), or 512-byte sectors (`2048s`). */
export function parseOffset(text: string | undefined): number {
  if (text === undefined) return 0;
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2].toLowerCase()];
  const value = m === null || unit === undefined ? NaN : Number(m[1]) * unit;
  if (!Number.isSafeInteger(value)) throw new UsageError(`invalid offset '${text}' (bytes, or with a K/M/G/T or s suffix)`);
  return value;
}

/**
 * Opens each image once, read-only, however many operands name it, and
 * closes them all at the end of the command.
 */
export class Volumes {
  private readonly open = new Map<string, Promise<Volume>>();
  constructor(private readonly env: CliEnv, private readonly offset: number) {}

  get(image: string): Promise<Volume> {
    let v = this.open.get(image);
    if (v === undefined) {
      // No offset at all for 0: the engine then reads the file without a window in between.
      v = this.env.openVolume(image, { readOnly: true, offset: this.offset === 0 ? undefined : this.offset });
      this.open.set(image, v);
    }
    return v;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    for (const p of all) {
      try {
        const v = await p;
        await v.close();
      } catch {
        // An image that failed to open was already reported; a failed close of a read-only volume loses nothing.
      }
    }
  }
}

/** The last name in an image path (`''` for the root). */
export function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Joins an image directory path and a name without doubling the slash at the root. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

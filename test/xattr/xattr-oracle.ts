/**
 * Extended attributes of a file in an image as e2fsprogs reads them: names
 * from `debugfs ea_list`, exact values from `debugfs ea_get -f FILE` (one
 * session for all of them). libext2fs hands ACLs out in the user-space
 * (xattr) form, as the kernel does.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { debugfs, debugfsBatch, parseEaList } from '../helpers/debugfs.js';

/** Every attribute of `file` (a debugfs file spec) as name (latin1 of its bytes) -> value. */
export async function debugfsXattrs(img: string, file: string): Promise<Map<string, Buffer>> {
  return (await debugfsXattrsOf(img, [file])).get(file)!;
}

/** `debugfsXattrs` for many files, in two debugfs sessions. */
export async function debugfsXattrsOf(img: string, files: readonly string[]): Promise<Map<string, Map<string, Buffer>>> {
  const lists = await debugfsBatch(img, files.map((f) => `ea_list ${f}`));
  const perFile = lists.split(/^debugfs: ea_list .*$/m).slice(1);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ext4kit-eaget-'));
  try {
    const requests: string[] = [];
    const wanted: Array<{ file: string; name: string; out: string }> = [];
    files.forEach((file, i) => {
      for (const e of parseEaList(perFile[i] ?? '')) {
        const out = path.join(dir, `v${wanted.length}`);
        wanted.push({ file, name: e.name, out });
        requests.push(`ea_get -f ${out} ${file} ${e.name}`);
      }
    });
    if (requests.length > 0) await debugfsBatch(img, requests);
    const result = new Map<string, Map<string, Buffer>>(files.map((f) => [f, new Map()]));
    for (const w of wanted) result.get(w.file)!.set(w.name, await readFile(w.out));
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One attribute's value as debugfs reads it; undefined when absent. */
export async function getXattrValue(img: string, file: string, name: string): Promise<Buffer | undefined> {
  const names = parseEaList(await debugfs(img, `ea_list ${file}`)).map((e) => e.name);
  if (!names.includes(name)) return undefined;
  return (await debugfsXattrs(img, file)).get(name);
}

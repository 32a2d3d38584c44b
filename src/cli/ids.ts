/**
 * User and group names for `stat`, looked up the way GNU stat would on this
 * host (owners in an image are numbers; their names are the host's). Only
 * the files are read, not NSS: images are usually inspected on a build
 * machine whose local accounts are the ones that matter, and reading two
 * small files keeps the CLI free of native code.
 */
import { readFileSync } from 'node:fs';

function load(file: string): Map<number, string> {
  const names = new Map<number, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const id = Number(fields[2]);
    // The first entry for an id wins, as getpwuid returns the first match.
    if (Number.isInteger(id) && !names.has(id)) names.set(id, fields[0]);
  }
  return names;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

/** The host's name for a uid, or `UNKNOWN` as GNU stat prints. */
export function userName(uid: number): string {
  users ??= load('/etc/passwd');
  return users.get(uid) ?? 'UNKNOWN';
}

export function groupName(gid: number): string {
  groups ??= load('/etc/group');
  return groups.get(gid) ?? 'UNKNOWN';
}

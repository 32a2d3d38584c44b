/**
 * File mode arguments as GNU chmod and mkdir -m take them: octal
 * (`755`, `04755`) or symbolic clauses (`u+x`, `go-w`, `a=rX`, `u=g`,
 * `+t`, `u+s,g=`), separated by commas. The rules are coreutils' (gnulib
 * modechange): a clause with no `ugoa` acts on all classes except the
 * bits set in the umask; `X` is execute only for directories and files
 * that already have an execute bit; `u`/`g`/`o` as a value copy that
 * class's current bits; an octal mode of fewer than five digits leaves a
 * directory's set-user-ID and set-group-ID bits alone unless it names them.
 */
import { UsageError } from './target.js';

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;
const S_IRWXU = 0o700;
const S_IRWXG = 0o070;
const S_IRWXO = 0o007;
const ALL = 0o7777;
const READ = 0o444;
const WRITE = 0o222;
const EXEC = 0o111;

type Kind = 'ordinary' | 'copy' | 'x-if-any-x';

interface Change {
  op: '=' | '+' | '-';
  kind: Kind;
  /** Bits the clause's `ugoa` select (0: none given, the umask decides). */
  affected: number;
  value: number;
  /** Bits the clause names; the others keep their value on directories (set-ID bits). */
  mentioned: number;
}

export type ModeChange = readonly Change[];

/** Parses a mode argument; UsageError for anything GNU chmod would refuse. */
export function parseMode(text: string): ModeChange {
  const bad = (): UsageError => new UsageError(`invalid mode: '${text}'`);
  if (/^[0-7]+$/.test(text)) {
    const value = parseInt(text, 8);
    if (value > ALL) throw bad();
    const mentioned = text.length < 5 ? (value & (S_ISUID | S_ISGID)) | S_ISVTX | 0o777 : ALL;
    return [{ op: '=', kind: 'ordinary', affected: ALL, value, mentioned }];
  }
  const changes: Change[] = [];
  for (const clause of text.split(',')) {
    let i = 0;
    let affected = 0;
    for (; i < clause.length && 'ugoa'.includes(clause[i]); i++) {
      affected |= { u: S_ISUID | S_IRWXU, g: S_ISGID | S_IRWXG, o: S_ISVTX | S_IRWXO, a: ALL }[clause[i] as 'u' | 'g' | 'o' | 'a'];
    }
    if (i >= clause.length || !'=+-'.includes(clause[i])) throw bad();
    while (i < clause.length) {
      const op = clause[i++] as Change['op'];
      if (!'=+-'.includes(op)) throw bad();
      let kind: Kind = 'ordinary';
      let value = 0;
      let clauseAffected = affected;
      let mentioned = 0;
      const c = clause[i];
      if (c !== undefined && c >= '0' && c <= '7') {
        const m = /^[0-7]+/.exec(clause.slice(i))![0];
        i += m.length;
        value = parseInt(m, 8);
        if (value > ALL || affected !== 0 || i < clause.length) throw bad();
        clauseAffected = ALL;
        mentioned = ALL;
      } else if (c === 'u' || c === 'g' || c === 'o') {
        kind = 'copy';
        value = c === 'u' ? S_IRWXU : c === 'g' ? S_IRWXG : S_IRWXO;
        i++;
      } else {
        for (; i < clause.length && 'rwxXst'.includes(clause[i]); i++) {
          switch (clause[i]) {
            case 'r': value |= READ; break;
            case 'w': value |= WRITE; break;
            case 'x': value |= EXEC; break;
            case 'X': kind = 'x-if-any-x'; break;
            case 's': value |= S_ISUID | S_ISGID; break;
            case 't': value |= S_ISVTX; break;
          }
        }
      }
      if (mentioned === 0) mentioned = clauseAffected !== 0 ? clauseAffected & value : value;
      changes.push({ op, kind, affected: clauseAffected, value, mentioned });
    }
  }
  return changes;
}

/** The permission bits `change` gives a file whose bits are `mode` (07777 of them are used). */
export function applyMode(change: ModeChange, mode: number, isDir: boolean, umask: number): number {
  let m = mode & ALL;
  for (const c of change) {
    const omit = (isDir ? S_ISUID | S_ISGID : 0) & ~c.mentioned;
    let value = c.value;
    if (c.kind === 'copy') {
      value &= m;
      value |= (value & READ ? READ : 0) | (value & WRITE ? WRITE : 0) | (value & EXEC ? EXEC : 0);
    } else if (c.kind === 'x-if-any-x' && ((m & EXEC) !== 0 || isDir)) {
      value |= EXEC;
    }
    value &= (c.affected !== 0 ? c.affected : ~umask) & ~omit;
    if (c.op === '=') {
      const preserved = (c.affected !== 0 ? ~c.affected : 0) | omit;
      m = (m & preserved) | value;
    } else if (c.op === '+') {
      m |= value;
    } else {
      m &= ~value;
    }
  }
  return m & ALL;
}

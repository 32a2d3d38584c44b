/**
 * Times given to `touch -d` and `touch -t`, as nanoseconds since the epoch.
 *
 * -d takes `@SECONDS[.FRACTION]`, `now`, an ISO 8601 date and time
 * (`2024-02-29 13:45:00.123456789`, optionally with `Z` or `+HH:MM`, local
 * time otherwise), or anything JavaScript's Date can read. -t takes
 * `[[CC]YY]MMDDhhmm[.ss]` in local time, as POSIX touch does. Local time is
 * the TZ environment variable's, as for GNU touch.
 */
import { UsageError } from './target.js';

const NS = 1_000_000_000n;

/** Nine digits of a fraction of a second ("5" is 500,000,000 ns). */
function fractionNs(frac: string | undefined): bigint {
  return frac === undefined || frac === '' ? 0n : BigInt(frac.slice(0, 9).padEnd(9, '0'));
}

/** Whole seconds of a calendar date and time, local or at a UTC offset; undefined when a field is out of range. */
function calendarSeconds(y: number, mo: number, d: number, h: number, mi: number, s: number, utcOffsetMin: number | undefined): bigint | undefined {
  const day = new Date(Date.UTC(2000, mo - 1, d));
  day.setUTCFullYear(y);
  if (mo < 1 || mo > 12 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 60) return undefined;
  let ms: number;
  if (utcOffsetMin === undefined) {
    const local = new Date(2000, mo - 1, d, h, mi, s);
    local.setFullYear(y);
    ms = local.getTime();
  } else {
    ms = day.getTime() + ((h * 60 + mi - utcOffsetMin) * 60 + s) * 1000;
  }
  return Number.isFinite(ms) ? BigInt(Math.floor(ms / 1000)) : undefined;
}

function parseDate(text: string): bigint | undefined {
  const t = text.trim();
  if (t === 'now') return BigInt(Date.now()) * 1_000_000n;
  let m = /^@(-?)(\d+)(?:\.(\d*))?$/.exec(t);
  if (m !== null) {
    const v = BigInt(m[2]) * NS + fractionNs(m[3]);
    return m[1] === '-' ? -v : v;
  }
  m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  if (m !== null) {
    let offset: number | undefined;
    if (m[8] !== undefined) {
      const z = m[8].toUpperCase();
      const sign = z.startsWith('-') ? -1 : 1;
      offset = z === 'Z' ? 0 : sign * (Number(z.slice(1, 3)) * 60 + Number(z.slice(-2)));
    }
    const sec = calendarSeconds(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), offset);
    return sec === undefined ? undefined : sec * NS + fractionNs(m[7]);
  }
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : undefined;
}

/** `[[CC]YY]MMDDhhmm[.ss]` in local time. */
function parseStamp(text: string): bigint | undefined {
  const m = /^(\d{8}|\d{10}|\d{12})(?:\.(\d{2}))?$/.exec(text.trim());
  if (m === null) return undefined;
  const digits = m[1];
  const rest = digits.slice(-8);
  let year: number;
  if (digits.length === 12) year = Number(digits.slice(0, 4));
  else if (digits.length === 10) {
    const yy = Number(digits.slice(0, 2));
    year = yy >= 69 ? 1900 + yy : 2000 + yy;
  } else year = new Date().getFullYear();
  const sec = calendarSeconds(year, Number(rest.slice(0, 2)), Number(rest.slice(2, 4)), Number(rest.slice(4, 6)), Number(rest.slice(6, 8)), Number(m[2] ?? 0), undefined);
  return sec === undefined ? undefined : sec * NS;
}

/** Nanoseconds since the epoch; UsageError when the text is not a time. */
export function parseTime(text: string, kind: 'date' | 'stamp'): bigint {
  const v = kind === 'date' ? parseDate(text) : parseStamp(text);
  if (v === undefined) throw new UsageError(`invalid date format '${text}'`);
  return v;
}

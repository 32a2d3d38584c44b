/**
 * A one-line progress bar for long copies on a terminal:
 *
 *   [#########...........]  45%  512.0 MiB/1.1 GiB  3,210/9,000 files  85.3 MiB/s  0:07 left
 *
 * It is drawn only when the output stream is a terminal (and the command
 * was not given --quiet), redrawn at most every 100 ms, and erased before
 * anything else is written to the terminal and when the copy ends, so what
 * remains on screen is the command's real output. A copy that ends within
 * the first half second never shows a bar.
 */
import type { Writable } from 'node:stream';

const REDRAW_MS = 100;
const FIRST_DRAW_MS = 500;

export interface ProgressSink {
  /** Adds copied bytes. */
  bytes(n: number): void;
  /** Counts one more file finished. */
  file(): void;
  /** Erases the bar (before other output). */
  clear(): void;
  /** Erases the bar for good. */
  done(): void;
}

/** A sink that shows nothing (not a terminal, or --quiet). */
export const NO_PROGRESS: ProgressSink = { bytes() {}, file() {}, clear() {}, done() {} };

interface TtyLike { isTTY?: boolean; columns?: number }

/** A bar on `out` when it is a terminal and `quiet` is not set; otherwise NO_PROGRESS. */
export function progressFor(out: Writable, totalBytes: number, totalFiles: number, quiet: boolean, now: () => number = Date.now): ProgressSink {
  if (quiet || (out as TtyLike).isTTY !== true) return NO_PROGRESS;
  return new ProgressBar(out, totalBytes, totalFiles, now);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB". */
export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** Seconds as m:ss or h:mm:ss. */
export function clockTime(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class ProgressBar implements ProgressSink {
  private doneBytes = 0;
  private doneFiles = 0;
  private readonly start: number;
  private lastDraw = 0;
  private shown = false;
  private finished = false;

  constructor(private readonly out: Writable, private readonly totalBytes: number, private readonly totalFiles: number, private readonly now: () => number = Date.now) {
    this.start = now();
  }

  bytes(n: number): void {
    this.doneBytes += n;
    this.maybeDraw();
  }

  file(): void {
    this.doneFiles++;
    this.maybeDraw();
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[K');
    this.shown = false;
    // Redrawn on the next update, after whatever is printed now.
    this.lastDraw = 0;
  }

  done(): void {
    this.clear();
    this.finished = true;
  }

  private maybeDraw(): void {
    if (this.finished) return;
    const t = this.now();
    if (t - this.start < FIRST_DRAW_MS || t - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = t;
    this.out.write(`\r${this.line(t)}\x1b[K`);
    this.shown = true;
  }

  /** The bar's text at time `t`, fitted to the terminal's width. */
  line(t: number): string {
    const elapsed = Math.max(0.001, (t - this.start) / 1000);
    const rate = this.doneBytes / elapsed;
    const frac = this.totalBytes > 0 ? Math.min(1, this.doneBytes / this.totalBytes) : (this.totalFiles > 0 ? this.doneFiles / this.totalFiles : 1);
    const left = rate > 0 && this.totalBytes > 0 ? clockTime((this.totalBytes - this.doneBytes) / rate) : '-:--';
    const count = (n: number): string => n.toLocaleString('en-US');
    const text = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${humanBytes(this.doneBytes)}/${humanBytes(this.totalBytes)}` +
      `  ${count(this.doneFiles)}/${count(this.totalFiles)} files  ${humanBytes(rate)}/s  ${left} left`;
    // A pseudo-terminal with no size set reports 0 columns: assume the classic 80.
    const reported = (this.out as TtyLike).columns ?? 0;
    const columns = reported > 0 ? reported : 80;
    const barWidth = Math.min(30, columns - text.length - 3);
    if (barWidth < 5) return text.slice(0, columns - 1);
    const filled = Math.round(frac * barWidth);
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${text}`;
  }
}

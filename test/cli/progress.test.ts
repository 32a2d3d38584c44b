/**
 * The copy progress bar: what it shows (checked against figures worked out
 * here from the counts and a virtual clock), when it shows (a terminal,
 * not --quiet, not in the first half second), that it erases itself, and a
 * real copy on a pseudo-terminal (script(1)) against a pipe.
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NO_PROGRESS, ProgressBar, clockTime, humanBytes, progressFor } from '../../src/cli/progress.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { CLI_PATH } from './built-cli.js';

const tmp = useTmpDir('progress');

class Tty extends Writable {
  isTTY = true;
  columns = 120;
  text = '';
  override _write(chunk: Buffer | string, _e: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('the bar', () => {
  it('shows percent, bytes, files, rate and time left, fitted to the terminal', () => {
    let now = 1_000_000;
    const out = new Tty();
    const MiB = 1 << 20;
    const bar = new ProgressBar(out, 100 * MiB, 10, () => now);
    bar.bytes(10 * MiB);
    expect(out.text).toBe(''); // nothing in the first half second
    now += 2000;
    bar.bytes(15 * MiB);
    bar.file();
    // Drawn by bytes(), before the file was counted: 25 MiB in 2 s = 12.5 MiB/s, 75 MiB left = 6 s.
    let line = out.text.split('\r').pop()!;
    expect(line).toContain(' 25%  25.0 MiB/100.0 MiB  0/10 files  12.5 MiB/s  0:06 left');
    now += 200;
    bar.file();
    // 25 MiB in 2.2 s = 11.36 MiB/s; 75 MiB left = 6.6 s, shown rounded.
    line = out.text.split('\r').pop()!;
    expect(line).toContain(' 25%  25.0 MiB/100.0 MiB  2/10 files  11.4 MiB/s  0:07 left');
    expect(line).toMatch(/^\[#{8}\.{22}\]/); // 25% of a 30-wide bar is 7.5 cells, rounded up
    expect(line.endsWith('\x1b[K')).toBe(true);
    // Redrawn at most every 100 ms: the second file() came 200 ms later, so two draws in all.
    expect(out.text.split('\r').filter((s) => s.startsWith('[')).length).toBe(2);
    out.columns = 40;
    expect(bar.line(now).length).toBeLessThan(40);
    // A terminal whose size is unknown (0 columns, as script(1) gives) is taken as 80 wide: the whole text fits.
    out.columns = 0;
    expect(bar.line(now)).toMatch(/^\[[#.]+\] +25% .* left$/);
    bar.done();
    expect(out.text.endsWith('\r\x1b[K')).toBe(true);
    const before = out.text;
    bar.bytes(1);
    now += 5000;
    bar.file();
    expect(out.text).toBe(before); // nothing after done()
  });

  it('formats sizes and times as people read them', () => {
    expect([humanBytes(0), humanBytes(1023), humanBytes(1536), humanBytes(5 * 2 ** 30)]).toEqual(['0 B', '1023 B', '1.5 KiB', '5.0 GiB']);
    expect([clockTime(0), clockTime(59.4), clockTime(61), clockTime(3 * 3600 + 5)]).toEqual(['0:00', '0:59', '1:01', '3:00:05']);
  });

  it('is drawn only on a terminal and without --quiet', () => {
    const pipe = new Writable({ write: (_c, _e, cb) => cb() });
    expect(progressFor(pipe, 10, 1, false)).toBe(NO_PROGRESS);
    expect(progressFor(new Tty(), 10, 1, true)).toBe(NO_PROGRESS);
    expect(progressFor(new Tty(), 10, 1, false)).toBeInstanceOf(ProgressBar);
  });
});

describe('a real copy', () => {
  it('on a pseudo-terminal shows the bar while it lasts and leaves no trace of it; on a pipe or with --quiet prints nothing', async () => {
    const src = tmp.sub('src');
    const chunk = Buffer.alloc(8 << 20, 0x5a);
    for (let i = 0; i < 40; i++) fs.writeFileSync(`${src}/f${i}`, chunk);
    const img = await mkfs(tmp.file('p.img'), { size: '2G' });
    const cmd = (extra: string, dest: string): string => `"${process.execPath}" "${CLI_PATH}" cp -r ${extra} "${src}" "${img}:/${dest}"`;
    const t0 = performance.now();
    const tty = await runCommand('script', ['-qec', cmd('', 'a'), '/dev/null'], { timeoutMs: 300_000 });
    const ms = performance.now() - t0;
    expect(tty.code, tty.stdout).toBe(0);
    if (ms > 1500) {
      expect(tty.stdout).toMatch(/\r\[[#.]+\] +\d+%  [\d.]+ [KMG]iB\/320\.0 MiB  \d+\/40 files  [\d.]+ [KMG]?i?B\/s  \d+:\d\d left/);
    }
    // Whatever was drawn was erased: the last thing on the line is the erase sequence, or nothing.
    expect(tty.stdout === '' || tty.stdout.endsWith('\r\x1b[K')).toBe(true);
    const quiet = await runCommand('script', ['-qec', cmd('--quiet', 'b'), '/dev/null'], { timeoutMs: 300_000 });
    expect([quiet.code, quiet.stdout]).toEqual([0, '']);
    const piped = await runCommand('sh', ['-c', cmd('', 'c')], { timeoutMs: 300_000 });
    expect([piped.code, piped.stdout, piped.stderr]).toEqual([0, '', '']);
    await expectFsckClean(img);
  }, 300_000);
});

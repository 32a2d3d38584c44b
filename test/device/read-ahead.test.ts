/**
 * The read-ahead window (device/read-ahead.ts) must hand out exactly the
 * device's bytes, whatever the mix of reads: inside the window, straddling
 * its end, at the end of the device, long ones that bypass it, and after a
 * read that failed. The expected bytes are the device's own, read directly.
 */
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../src/device/memory-device.js';
import { ReadAheadWindow } from '../../src/device/read-ahead.js';
import { keystream, Rng } from '../helpers/prng.js';

const SIZE = 3 * 1024 * 1024 + 777;

describe('ReadAheadWindow', () => {
  const bytes = keystream('read-ahead', SIZE);
  const dev = new MemoryDevice(bytes);
  const direct = (offset: number, length: number): Buffer => Buffer.from(bytes.subarray(offset, offset + length));

  it('serves every read with the device\'s bytes', () => {
    const w = new ReadAheadWindow(dev);
    const rng = new Rng(99);
    let pos = 0;
    for (let i = 0; i < 5000; i++) {
      // Mostly small ascending reads, as a tree copy makes, with jumps back and long reads mixed in.
      const r = rng.float();
      const length = r < 0.9 ? 1 + Math.floor(rng.float() * 20000) : 64 * 1024 + Math.floor(rng.float() * 300000);
      if (rng.float() < 0.1) pos = Math.floor(rng.float() * SIZE);
      if (pos + length > SIZE) pos = SIZE - length;
      const into = new Uint8Array(length);
      w.read(pos, into);
      expect(Buffer.from(into).equals(direct(pos, length)), `read of ${length} at ${pos}`).toBe(true);
      pos += length + Math.floor(rng.float() * 4096);
      if (pos >= SIZE) pos = 0;
    }
  });

  it('reads up to the end of the device and refuses past it, then still serves correctly', () => {
    const w = new ReadAheadWindow(dev);
    const tail = new Uint8Array(100);
    w.read(SIZE - 100, tail);
    expect(Buffer.from(tail).equals(direct(SIZE - 100, 100))).toBe(true);
    expect(() => w.read(SIZE - 50, new Uint8Array(100))).toThrow(/outside the device/);
    const again = new Uint8Array(4096);
    w.read(SIZE - 5000, again);
    expect(Buffer.from(again).equals(direct(SIZE - 5000, 4096))).toBe(true);
  });
});

/**
 * CRC-32C and CRC-16 against published check values, and the raw crc32c
 * against a bit-at-a-time reference over every alignment and length the
 * table paths switch between. (Checksums of real metadata are checked
 * against e2fsprogs in the superblock, group descriptor, inode and journal
 * tests.)
 */
import { describe, expect, it } from 'vitest';
import { crc16, crc16U32 } from '../../src/format/crc16.js';
import { crc32c, crc32cStandard, crc32cU32 } from '../../src/format/crc32c.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-serial reflected CRC-32C without final inversion: the definition, not a table. */
function crc32cBitwise(seed: number, data: Uint8Array): number {
  let crc = seed >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return crc >>> 0;
}

describe('crc32c', () => {
  // Check values from the CRC catalogue (CRC-32/ISCSI) and RFC 3720 appendix B.4.
  it.each([
    ['"123456789"', ascii('123456789'), 0xe3069283],
    ['32 bytes of 0x00', new Uint8Array(32), 0x8a9136aa],
    ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 incrementing bytes', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['32 decrementing bytes', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    ['the empty string', new Uint8Array(0), 0],
  ])('standard CRC-32C of %s', (_name, data, want) => {
    expect(crc32cStandard(data)).toBe(want);
  });

  it('the raw form ext4 uses is the standard one without the final inversion', () => {
    const d = ascii('123456789');
    expect(crc32c(~0, d)).toBe(~0xe3069283 >>> 0);
  });

  it('matches the bit-serial definition for every offset and length around the word paths', () => {
    const buf = Uint8Array.from({ length: 4096 + 64 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const start of [0, 1, 2, 3, 4, 5, 7, 8, 9]) {
      for (const len of [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000, 4096]) {
        const want = crc32cBitwise(0x12345678, buf.subarray(start, start + len));
        expect(crc32c(0x12345678, buf, start, start + len), `start ${start} length ${len}`).toBe(want);
        // Same bytes through a view that starts at the offset (different alignment of the underlying buffer).
        expect(crc32c(0x12345678, buf.subarray(start, start + len)), `view at ${start} length ${len}`).toBe(want);
      }
    }
  });

  it('chains: crc(crc(seed, a), b) is crc(seed, a + b), and crc32cU32 is crc over le32 bytes', () => {
    const a = ascii('ext4 ');
    const b = ascii('metadata');
    expect(crc32c(crc32c(~0, a), b)).toBe(crc32c(~0, ascii('ext4 metadata')));
    const v = 0xdeadbeef;
    expect(crc32cU32(7, v)).toBe(crc32c(7, new Uint8Array([0xef, 0xbe, 0xad, 0xde])));
  });
});

describe('crc16 (gdt_csum)', () => {
  it('is CRC-16/ARC from seed 0 and CRC-16/MODBUS from seed 0xffff (catalogue check values)', () => {
    expect(crc16(0, ascii('123456789'))).toBe(0xbb3d);
    expect(crc16(0xffff, ascii('123456789'))).toBe(0x4b37);
  });

  it('chains, honours start/end, and crc16U32 is crc16 over le32 bytes', () => {
    const all = ascii('xx123456789yy');
    expect(crc16(0xffff, all, 2, 11)).toBe(0x4b37);
    expect(crc16(crc16(0xffff, ascii('1234')), ascii('56789'))).toBe(0x4b37);
    expect(crc16U32(0xffff, 0x01020304)).toBe(crc16(0xffff, new Uint8Array([4, 3, 2, 1])));
  });
});

/**
 * CRC-16 as ext4's gdt_csum (uninit_bg) feature uses it for group
 * descriptors: the "ANSI"/ARC polynomial x^16 + x^15 + x^2 + 1 processed
 * least significant bit first (reflected constant 0xA001), with no final
 * inversion. ext4 seeds it with ~0 (0xFFFF), which makes it the variant
 * catalogued as CRC-16/MODBUS; seeded with 0 it is CRC-16/ARC.
 *
 * Only group descriptors on filesystems without metadata_csum use it, so a
 * single table lookup per byte is fast enough.
 */

const POLY = 0xa001;

const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** crc16(seed, data[start, end)); the result is an unsigned 16-bit value that can seed the next call. */
export function crc16(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let crc = seed & 0xffff;
  for (let i = start; i < end; i++) {
    crc = (crc >>> 8) ^ TABLE[(crc ^ data[i]) & 0xff];
  }
  return crc;
}

/** crc16 over a little-endian 32-bit value (the group number in a descriptor checksum). */
export function crc16U32(seed: number, value: number): number {
  let crc = seed & 0xffff;
  for (let k = 0; k < 4; k++) {
    crc = (crc >>> 8) ^ TABLE[(crc ^ (value >>> (8 * k))) & 0xff];
  }
  return crc;
}

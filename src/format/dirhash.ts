/**
 * Directory name hashes for the htree index (fs/ext4/hash.c, e2fsprogs
 * lib/ext2fs/dirhash.c).
 *
 * Three algorithms: the "legacy" hash (r5-like), half MD4 (MD4's three rounds
 * over 32 bytes of name at a time) and TEA (16 rounds of the Tiny Encryption
 * Algorithm over 16 bytes at a time). The hash seed (s_hash_seed) is the
 * starting state; all zeros means the MD4 initial state.
 *
 * Each has a signed and an unsigned variant because the original code read
 * name bytes as `char`, which is signed on x86 and unsigned on ARM/PowerPC:
 * bytes >= 0x80 hash differently. The superblock records which one the file
 * system was created with (s_flags), and the kernel adds 3 to the version in
 * the dx_root when the unsigned flag is set: see `effectiveHashVersion`.
 *
 * The result's low bit is always clear: in index entries that bit marks a
 * collision run continued from the previous leaf. The value 0xFFFFFFFE is
 * reserved for "end of directory" in 32-bit readdir cookies
 * (EXT4_HTREE_EOF_32BIT << 1) and is replaced by 0xFFFFFFFC.
 *
 * Casefolded directories hash the casefolded name, which is not done here.
 */
import { FsError } from '../base/errors.js';

export const DX_HASH_LEGACY = 0;
export const DX_HASH_HALF_MD4 = 1;
export const DX_HASH_TEA = 2;
export const DX_HASH_LEGACY_UNSIGNED = 3;
export const DX_HASH_HALF_MD4_UNSIGNED = 4;
export const DX_HASH_TEA_UNSIGNED = 5;
export const DX_HASH_SIPHASH = 6;
/** s_flags bits */
export const EXT2_FLAGS_SIGNED_HASH = 0x1;
export const EXT2_FLAGS_UNSIGNED_HASH = 0x2;

/** EXT4_HTREE_EOF_32BIT << 1 and what replaces it. */
const HASH_EOF = 0xfffffffe;
const HASH_EOF_REPLACEMENT = 0xfffffffc;

/** MD4's initial state, used when the seed is absent or all zeros. */
const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476] as const;

export interface DirHash {
  /** major hash (hinfo->hash), low bit clear */
  hash: number;
  /** minor hash (0 for the legacy hash) */
  minorHash: number;
}

/**
 * The version to hash with, given dx_root_info.hash_version (or
 * s_def_hash_version) and the superblock's s_flags: the unsigned variant when
 * EXT2_FLAGS_UNSIGNED_HASH is set. With neither flag Linux on x86 (signed
 * char) uses the signed one, which is the default here too.
 */
export function effectiveHashVersion(hashVersion: number, sFlags: number): number {
  if (hashVersion <= DX_HASH_TEA && (sFlags & EXT2_FLAGS_UNSIGNED_HASH) !== 0) return hashVersion + 3;
  return hashVersion;
}

/** Name byte as the hash reads it: sign-extended for the signed variants. */
function charValue(b: number, signed: boolean): number {
  return signed && b >= 0x80 ? b - 0x100 : b;
}

/** dx_hack_hash */
function legacyHash(name: Uint8Array, signed: boolean): number {
  let h0 = 0x12a3fe2d;
  let h1 = 0x37abe8f9;
  for (let i = 0; i < name.length; i++) {
    let h = (h1 + (h0 ^ Math.imul(charValue(name[i], signed), 7152373))) >>> 0;
    if (h & 0x80000000) h = (h - 0x7fffffff) >>> 0;
    h1 = h0;
    h0 = h;
  }
  return (h0 << 1) >>> 0;
}

/**
 * Packs up to `words` * 4 bytes of name (from `start`, `remaining` bytes
 * left in the name) into big-endian-ish u32 words, the first byte in the
 * highest position, and pads with a pattern made of the remaining length
 * (str2hashbuf). Partial words keep the pad in their high bytes.
 */
function packName(name: Uint8Array, start: number, remaining: number, out: Uint32Array, words: number, signed: boolean): void {
  let pad = (remaining | (remaining << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  const n = Math.min(remaining, words * 4);
  let w = 0;
  let val = pad;
  for (let i = 0; i < n; i++) {
    val = (charValue(name[start + i], signed) + (val << 8)) >>> 0;
    if (i % 4 === 3) {
      out[w++] = val;
      val = pad;
    }
  }
  if (w < words) out[w++] = val;
  while (w < words) out[w++] = pad;
}

function rotl(x: number, s: number): number {
  return ((x << s) | (x >>> (32 - s))) >>> 0;
}

/** MD4 round functions: select, majority, parity. */
const roundFunctions = [
  (x: number, y: number, z: number): number => (x & y) | (~x & z),
  (x: number, y: number, z: number): number => (x & y) | (x & z) | (y & z),
  (x: number, y: number, z: number): number => x ^ y ^ z,
] as const;
/** Per round: additive constant, the order the 8 input words are taken in, and the 4 rotation amounts. */
const md4Rounds = [
  { k: 0, order: [0, 1, 2, 3, 4, 5, 6, 7], shifts: [3, 7, 11, 19] },
  { k: 0x5a827999, order: [1, 3, 5, 7, 0, 2, 4, 6], shifts: [3, 5, 9, 13] },
  { k: 0x6ed9eba1, order: [3, 7, 2, 6, 1, 5, 0, 4], shifts: [3, 9, 11, 15] },
] as const;

/**
 * Half MD4: MD4's three rounds, 8 steps each instead of 16, over 8 words.
 * Step j updates state word (4 - j) mod 4, i.e. a, d, c, b in turn, from the
 * three words that follow it cyclically.
 */
function halfMd4Transform(state: Uint32Array, input: Uint32Array): void {
  const s = [state[0], state[1], state[2], state[3]];
  for (let r = 0; r < 3; r++) {
    const f = roundFunctions[r];
    const { k, order, shifts } = md4Rounds[r];
    for (let j = 0; j < 8; j++) {
      const t = (4 - (j & 3)) & 3;
      const sum = (s[t] + f(s[(t + 1) & 3], s[(t + 2) & 3], s[(t + 3) & 3]) + input[order[j]] + k) >>> 0;
      s[t] = rotl(sum, shifts[j & 3]);
    }
  }
  for (let i = 0; i < 4; i++) state[i] = (state[i] + s[i]) >>> 0;
}

/** TEA: 16 cycles of the Feistel network over state[0..1] keyed by the 4 input words. */
function teaTransform(state: Uint32Array, input: Uint32Array): void {
  const delta = 0x9e3779b9;
  let sum = 0;
  let b0 = state[0];
  let b1 = state[1];
  const [a, b, c, d] = [input[0], input[1], input[2], input[3]];
  for (let n = 0; n < 16; n++) {
    sum = (sum + delta) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b)) >>> 0)) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d)) >>> 0)) >>> 0;
  }
  state[0] = (state[0] + b0) >>> 0;
  state[1] = (state[1] + b1) >>> 0;
}

/**
 * Hash of a directory entry name. `hashVersion` is the effective version
 * (0..5; see `effectiveHashVersion`); `seed` is s_hash_seed as four u32
 * words (absent or all zeros: the default seed).
 */
export function dirHash(name: Uint8Array, hashVersion: number, seed?: Uint32Array | readonly number[]): DirHash {
  const state = new Uint32Array(DEFAULT_SEED);
  if (seed !== undefined && seed.length >= 4 && (seed[0] || seed[1] || seed[2] || seed[3])) {
    for (let i = 0; i < 4; i++) state[i] = seed[i] >>> 0;
  }
  let hash: number;
  let minorHash = 0;
  switch (hashVersion) {
    case DX_HASH_LEGACY:
    case DX_HASH_LEGACY_UNSIGNED:
      hash = legacyHash(name, hashVersion === DX_HASH_LEGACY);
      break;
    case DX_HASH_HALF_MD4:
    case DX_HASH_HALF_MD4_UNSIGNED: {
      const signed = hashVersion === DX_HASH_HALF_MD4;
      const input = new Uint32Array(8);
      for (let p = 0; p < name.length; p += 32) {
        packName(name, p, name.length - p, input, 8, signed);
        halfMd4Transform(state, input);
      }
      hash = state[1]!;
      minorHash = state[2]!;
      break;
    }
    case DX_HASH_TEA:
    case DX_HASH_TEA_UNSIGNED: {
      const signed = hashVersion === DX_HASH_TEA;
      const input = new Uint32Array(4);
      for (let p = 0; p < name.length; p += 16) {
        packName(name, p, name.length - p, input, 4, signed);
        teaTransform(state, input);
      }
      hash = state[0]!;
      minorHash = state[1]!;
      break;
    }
    case DX_HASH_SIPHASH:
      throw new FsError('ENOTSUP', 'siphash directory hashes (casefolded encrypted directories) are not supported');
    default:
      throw new FsError('EINVAL', `unknown directory hash version ${hashVersion}`);
  }
  hash = (hash & ~1) >>> 0;
  if (hash === HASH_EOF) hash = HASH_EOF_REPLACEMENT;
  return { hash, minorHash };
}

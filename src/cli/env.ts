/**
 * What a command needs from the outside world, gathered in one object so
 * that tests can run the CLI in-process against a stand-in volume and
 * capture its output, while `bin.ts` passes the real ones.
 */
import type { Readable, Writable } from 'node:stream';
import type { OpenVolumeOptions, Volume } from '../vfs/types.js';

export type VolumeOpener = (image: string, options: OpenVolumeOptions) => Promise<Volume>;

export interface CliEnv {
  stdout: Writable;
  stderr: Writable;
  /** What `cp - IMG:PATH` copies (the process's standard input). */
  stdin?: Readable;
  openVolume: VolumeOpener;
  /** Current time in nanoseconds since the epoch (ls decides "recent" against it). */
  nowNs(): bigint;
}

/**
 * A device that cuts power (SimDevice.powerCut: a random subset of the
 * unflushed writes survives, torn at sector granularity) just before its
 * `cutAt`-th write or flush, then fails that request with EIO. Reads pass.
 * With `honestFlush` false, flushes do nothing: writes reach the media in
 * any order, as on a disk that ignores cache flushes.
 */
import { FsError } from '../../src/base/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import type { SimDevice } from '../../src/sim/sim-device.js';

export class CuttingDevice implements BlockDevice {
  readonly readOnly = false;
  /** Writes and flushes asked for so far. */
  requests = 0;
  /** What a reboot finds, once power was cut. */
  image: Buffer | undefined;

  constructor(
    private readonly inner: SimDevice,
    private readonly cutAt: number,
    private readonly honestFlush = true,
    /** Granularity of torn writes (SimDevice PowerCutOptions.tornUnit). */
    private readonly tornUnit = 512,
  ) {}

  get size(): number { return this.inner.size; }
  read(offset: number, length: number): Promise<Buffer> { return this.inner.read(offset, length); }
  readInto(offset: number, target: Uint8Array): Promise<void> { return this.inner.readInto(offset, target); }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.tick();
    await this.inner.write(offset, data);
  }

  async flush(): Promise<void> {
    this.tick();
    if (this.honestFlush) await this.inner.flush();
  }

  async close(): Promise<void> {}

  private tick(): void {
    if (++this.requests === this.cutAt) {
      this.image = this.inner.powerCut({ keepProbability: 0.5, torn: true, tornUnit: this.tornUnit });
      throw new FsError('EIO', 'power cut', 'write');
    }
  }
}

import { checkRange, checkWritable, type BlockDevice } from './block-device.js';

/** A device held in memory; used by tests and for building small images. */
export class MemoryDevice implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  readonly bytes: Buffer;

  constructor(sizeOrBytes: number | Uint8Array) {
    this.bytes = typeof sizeOrBytes === 'number'
      ? Buffer.alloc(sizeOrBytes)
      : Buffer.from(sizeOrBytes.buffer, sizeOrBytes.byteOffset, sizeOrBytes.byteLength);
    this.size = this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this.size, offset, length, 'read');
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.readIntoSync(offset, target);
  }

  readonly readIntoSync = (offset: number, target: Uint8Array): void => {
    checkRange(this.size, offset, target.length, 'read');
    target.set(this.bytes.subarray(offset, offset + target.length));
  };

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkWritable(this);
    checkRange(this.size, offset, data.length, 'write');
    this.bytes.set(data, offset);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

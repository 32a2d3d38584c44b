import { defineConfig } from 'vitest/config';

// Tests build real images with mkfs.ext4 and check them with e2fsck, so they
// are I/O bound; two workers match the 2-core CI machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});

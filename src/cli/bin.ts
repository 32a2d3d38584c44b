/**
 * What the `ext4kit` executable does once loaded: runs the CLI on the real
 * process streams and engine. main.ts loads this module (bundled, from a V8
 * code cache when it can) and reports what it throws as an internal error.
 */
import { openVolume } from '../index.js';
import { isBrokenPipe } from './cat.js';
import { runCli } from './program.js';

export async function main(argv: readonly string[]): Promise<void> {
  // A reader that goes away (`ext4kit ls -R IMG | head`) is not an error: stop quietly.
  process.stdout.on('error', (e) => {
    if (isBrokenPipe(e)) process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await runCli(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    // One command at a time: all I/O synchronous, large writes included (see OpenVolumeOptions.syncIoMax).
    openVolume: (image, options) => openVolume(image, { syncIoMax: Infinity, ...options }),
    nowNs: () => BigInt(Date.now()) * 1_000_000n,
  });
}

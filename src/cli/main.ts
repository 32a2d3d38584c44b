#!/usr/bin/env node
/**
 * The `ext4kit` executable: runs the CLI with the real streams and engine.
 */
import { openVolume } from '../index.js';
import { isBrokenPipe } from './cat.js';
import { runCli } from './program.js';

// A reader that goes away (`ext4kit ls -R IMG | head`) is not an error: stop quietly.
process.stdout.on('error', (e) => {
  if (isBrokenPipe(e)) process.exit(process.exitCode ?? 0);
  throw e;
});

try {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    // One command at a time: all I/O synchronous, large writes included (see OpenVolumeOptions.syncIoMax).
    openVolume: (image, options) => openVolume(image, { syncIoMax: Infinity, ...options }),
    nowNs: () => BigInt(Date.now()) * 1_000_000n,
  });
} catch (e) {
  // A bug, not a user error: say so with the stack, which is what a bug report needs.
  process.stderr.write(`ext4kit: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 70;
}

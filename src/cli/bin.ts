/**
 * What the `ext4kit` executable does once loaded: runs the CLI on the real
 * process streams and engine. main.ts loads this module (bundled, from a V8
 * code cache when it can) and reports what it throws as an internal error.
 * The build also runs commands through `runCli` and `cliEnv`, with output
 * dropped, so that the code cache holds their code too.
 */
import type { Writable } from 'node:stream';
import { openVolume } from '../index.js';
import { isBrokenPipe } from './cat.js';
import type { CliEnv } from './env.js';
import { runCli } from './program.js';

export { runCli };

/** The real engine, all I/O synchronous (one command at a time), with output to `stdout` and `stderr`. */
export function cliEnv(stdout: Writable, stderr: Writable): CliEnv {
  return {
    stdout,
    stderr,
    // Only `cp -` reads it: made on first use, as creating process.stdin costs up to a millisecond.
    get stdin() { return process.stdin; },
    // Large writes synchronous too (see OpenVolumeOptions.syncIoMax).
    openVolume: (image, options) => openVolume(image, { syncIoMax: Infinity, ...options }),
    nowNs: () => BigInt(Date.now()) * 1_000_000n,
  };
}

export async function main(argv: readonly string[]): Promise<void> {
  // A reader that goes away (`ext4kit ls -R IMG | head`) is not an error: stop quietly.
  process.stdout.on('error', (e) => {
    if (isBrokenPipe(e)) process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await runCli(argv, cliEnv(process.stdout, process.stderr));
}

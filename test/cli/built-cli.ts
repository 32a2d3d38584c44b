/**
 * Runs the built `ext4kit` executable (dist/src/cli/main.js, made by
 * `npm run build`, which `npm test` runs first) as a user would, with a
 * hard timeout, and captures its output as bytes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCommand, type RunOptions } from '../helpers/run.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface CliResult { code: number | null; stdout: Buffer; stderr: string; out: string; ms: number }

export async function runBuiltCli(args: readonly string[], opts: Pick<RunOptions, 'timeoutMs' | 'env' | 'cwd'> = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` (npm test does) before these tests`);
  const t0 = performance.now();
  const r = await runCommand(process.execPath, [CLI_PATH, ...args], opts);
  return { code: r.code, stdout: r.stdoutBytes, stderr: r.stderr, out: r.stdout, ms: performance.now() - t0 };
}

/**
 * Runs the built `ext4kit` executable (dist/src/cli/main.js, made by
 * `npm run build`, which `npm test` runs first) as a user would, with a
 * hard timeout, and captures its output as bytes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface CliResult { code: number | null; stdout: Buffer; stderr: string; out: string; ms: number }

export interface RunOptions { timeoutMs?: number; env?: Record<string, string>; cwd?: string }

export function runBuiltCli(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` (npm test does) before these tests`);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: { ...process.env, ...opts.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, stderr: Buffer.concat(err).toString('utf8'), out: stdout.toString('utf8'), ms: performance.now() - t0 });
    });
  });
}

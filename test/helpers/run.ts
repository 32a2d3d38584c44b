/**
 * The one way tests run an external program: no shell, stdin fed from
 * `input` (empty by default), output collected, and a hard timeout after
 * which the program is killed with SIGKILL (e2fsck can loop forever on a
 * corrupt image; a hung tool must never hang the test run).
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  /** Exit status; null when the program was killed by a signal (a timeout among them). */
  code: number | null;
  /** stdout decoded with `encoding`. */
  stdout: string;
  /** stdout as bytes, for output that is not text. */
  stdoutBytes: Buffer;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Kill the program (SIGKILL) after this long. Default 120 s. */
  timeoutMs?: number;
  /** Written to the program's stdin, which is then closed. */
  input?: string | Buffer;
  cwd?: string;
  /** Variables set on top of this process's environment. */
  env?: Record<string, string>;
  /**
   * How stdout and stderr become strings. Default utf8; latin1 keeps every
   * byte as one character (debugfs prints raw name bytes).
   */
  encoding?: 'utf8' | 'latin1';
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * The environment the e2fsprogs oracles run in: untranslated messages for
 * the parsers, and times printed in UTC (dumpe2fs prints ctime(3) strings).
 */
export const TOOL_ENV: Readonly<Record<string, string>> = { LC_ALL: 'C', TZ: 'UTC' };

/**
 * Runs a command to completion, killing it (SIGKILL) after `timeoutMs`.
 * Never throws for a non-zero exit: callers look at `code`. Rejects only
 * when the program cannot be started.
 */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const encoding = opts.encoding ?? 'utf8';
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env === undefined ? undefined : { ...process.env, ...opts.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString(encoding), stdoutBytes, stderr: Buffer.concat(err).toString(encoding), timedOut });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runCommand, but a non-zero exit or a timeout throws with the command's output. */
export async function runChecked(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : `exit ${r.code}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}\n${r.stdout}${r.stderr}`);
  }
  return r;
}

// Child-process helpers. Every contender runs as its own process so that the
// timing covers start-up, and so that a crash or a hang in one contender
// cannot take the harness (or the other contenders' numbers) down with it.
import { spawn } from 'node:child_process';

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ProcOptions {
  /** Kill the child (its whole process group) after this many ms. */
  timeoutMs?: number;
  cwd?: string;
  /** Keep stdout (otherwise discarded, so a chatty tool costs nothing to collect). */
  captureStdout?: boolean;
}

// Only the tail of stderr matters for an error message; keeping it bounded
// means a tool that logs per file cannot make the harness grow without end.
const TAIL_LIMIT = 8192;

function appendTail(prev: string, chunk: Buffer): string {
  const next = prev + chunk.toString('utf8');
  return next.length > TAIL_LIMIT ? next.slice(next.length - TAIL_LIMIT) : next;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: ProcResult,
  ) {
    const why = result.timedOut
      ? 'timed out'
      : result.signal !== null
        ? `killed by ${result.signal}`
        : `exit ${result.code}`;
    super(`${command}: ${why}${result.stderr.trim() === '' ? '' : `: ${lastLines(result.stderr, 3)}`}`);
    this.name = 'CommandError';
  }
}

export function lastLines(text: string, n: number): string {
  return text
    .trim()
    .split('\n')
    .slice(-n)
    .map((l) => l.trim())
    .join(' | ');
}

/** Shell-like rendering of a command, for messages and the report only. */
export function showCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// Children currently running, by process-group id (= their pid, since they
// are spawned detached). The signal handler ends exactly these and no others.
const active = new Set<number>();

export function killActiveChildren(): void {
  for (const pid of active) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  active.clear();
}

export function runProc(cmd: string, args: readonly string[], opts: ProcOptions = {}): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    // detached: the child leads its own process group, so a timeout can end
    // the child and anything it started (cp under a shell, say) by that id.
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['ignore', opts.captureStdout === true ? 'pipe' : 'ignore', 'pipe'],
      detached: true,
    });
    if (child.pid !== undefined) active.add(child.pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr = appendTail(stderr, c);
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            if (child.pid !== undefined) {
              try {
                process.kill(-child.pid, 'SIGKILL');
              } catch {
                // already gone
              }
            }
          }, opts.timeoutMs);
    child.on('error', (err) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (child.pid !== undefined) active.delete(child.pid);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      resolve({ code, signal, seconds, stdout, stderr, timedOut });
    });
  });
}

/** Run and require exit status 0; throws CommandError with the stderr tail otherwise. */
export async function runOk(cmd: string, args: readonly string[], opts: ProcOptions = {}): Promise<ProcResult> {
  const r = await runProc(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) throw new CommandError(showCommand(cmd, args), r);
  return r;
}

/** True when `cmd` can be found and started (used to skip absent tools cleanly). */
export async function haveCommand(cmd: string): Promise<boolean> {
  try {
    const r = await runProc('sh', ['-c', `command -v ${cmd}`]);
    return r.code === 0;
  } catch {
    return false;
  }
}

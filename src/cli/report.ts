/**
 * Error reporting for every command: one line on stderr,
 * `ext4kit: <command>: <where>: <message> (<code>)`, and a failed exit status.
 * The message is the error's own text without the decoration Node adds
 * (`ENOENT: ` in front, `, open '/x'` behind), since `<where>` already says
 * which file it is about and the code is shown once, in parentheses.
 */
import type { Writable } from 'node:stream';
import { isFsError } from '../base/errors.js';

export interface DescribedError { message: string; code: string | undefined }

interface NodeLikeError { code?: unknown; syscall?: unknown; path?: unknown; dest?: unknown; message?: unknown }

/** Strips a Node-style error message down to what happened. */
export function describeError(e: unknown): DescribedError {
  if (isFsError(e)) return { message: e.detail, code: e.code };
  if (e instanceof Error) {
    const n = e as NodeLikeError;
    const code = typeof n.code === 'string' ? n.code : undefined;
    let msg = e.message;
    if (code !== undefined && msg.startsWith(`${code}: `)) msg = msg.slice(code.length + 2);
    if (typeof n.syscall === 'string') {
      // Node appends ", <syscall>" then optionally " '<path>'" and " -> '<dest>'".
      const at = msg.lastIndexOf(`, ${n.syscall}`);
      if (at >= 0) msg = msg.slice(0, at);
    }
    return { message: msg, code };
  }
  return { message: String(e), code: undefined };
}

/** Collects the outcome of a command: a single reported error makes the exit status 1. */
export class Reporter {
  failed = false;
  constructor(private readonly stderr: Writable, readonly command: string) {}

  /** Reports an error about `where` (an `IMG:PATH`, or a host path for cp's destination). */
  error(where: string | undefined, e: unknown): void {
    const { message, code } = describeError(e);
    this.fail(where, message, code);
  }

  /** Reports a failure that is not an exception (a usage rule, `omitting directory`). */
  fail(where: string | undefined, message: string, code?: string): void {
    this.failed = true;
    const at = where === undefined ? '' : `${where}: `;
    const tail = code === undefined ? '' : ` (${code})`;
    this.stderr.write(`ext4kit: ${this.command}: ${at}${message}${tail}\n`);
  }
}

/** A failure already described to the user; unwinds a command without a second message. */
export class ReportedError extends Error {
  constructor() { super('reported'); }
}

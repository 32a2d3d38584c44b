/**
 * Invariant checks that stay on in production.
 *
 * An assertion failure means ext4kit itself is wrong (not the image: corrupt
 * images raise `CorruptionError`). It stops the operation before anything is
 * written, so a bug can never turn into a bad image.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`ext4kit internal invariant violated: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}

export function unreachable(what: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(what)}`);
}

/**
 * Lock validator, after the kernel's lockdep (DESIGN.md §3, rules R3 and R4).
 *
 * Production code reports every acquisition and release through
 * `lockAcquired(lockClass, instance)` / `lockReleased(...)` (src/sim/hooks.ts).
 * The validator keeps the locks each task holds and, like lockdep, reasons
 * about lock *classes* rather than instances: when a task that holds class A
 * takes class B it records the edge A → B together with both acquisition
 * stacks. Three things fail the test:
 *
 *  - an acquisition against the declared order (§3: rwsem → invalidateLock →
 *    folio → journal handle → dataSem → alloc/buffer). This is how R4's
 *    "writeback never takes the inode lock" is enforced: writeback holds a
 *    folio (rank 3) and rwsem is rank 1;
 *  - a new edge that closes a cycle in the class graph (A → B recorded by one
 *    task, B → A by another): the two tasks can deadlock even if this run was
 *    lucky. The report carries the stacks of both edges (R4);
 *  - `waitingFor('writeback' | 'commit')` while the task holds a journal
 *    handle (R3): writeback needs a handle and a commit waits for every open
 *    handle, so that wait can deadlock. A handle counts as a held lock of
 *    class `journal.handle`.
 *
 * Two instances of one class may be nested only in ascending order of their
 * order key (§3: lower inode number first; folios by ascending index). The key
 * is the instance itself when it is a number or bigint, or its `lockOrderKey`
 * property; nesting same-class instances without a key is reported.
 *
 * A violation throws at the offending call (so the engine stops there) and is
 * also recorded, so a caller that swallows the error still fails the test
 * (`withSimulator` rethrows the first recorded violation).
 */
import type { WaitKind } from './hooks.js';

/** §3's order, outermost first; classes in one rank have no declared order between them. */
export const DESIGN_LOCK_ORDER: readonly (readonly string[])[] = [
  ['inode.rwsem'],
  ['inode.invalidateLock'],
  ['folio'],
  ['journal.handle'],
  ['inode.dataSem'],
  ['alloc', 'buffer'],
];

export const JOURNAL_HANDLE = 'journal.handle';

export interface LockOwner {
  readonly id: number;
  readonly name: string;
}

export interface HeldLock {
  readonly lockClass: string;
  readonly instance: unknown;
  readonly owner: LockOwner;
  /** Stack of the acquisition (new Error().stack at lockAcquired). */
  readonly stack: string;
}

export type ViolationKind = 'order' | 'cycle' | 'same-class' | 'handle-wait' | 'bad-release' | 'held-at-end';

export class LockViolation extends Error {
  override name = 'LockViolation';
  constructor(readonly kind: ViolationKind, message: string) {
    super(message);
  }
}

interface Edge {
  from: string;
  to: string;
  /** The acquisitions that first created this edge. */
  fromStack: string;
  toStack: string;
  owner: string;
}

export interface LockValidatorOptions {
  /** Who is running (the scheduler's current task); undefined means code outside any task. */
  currentOwner: () => LockOwner | undefined;
  /** Ranks, outermost first (default DESIGN_LOCK_ORDER). */
  order?: readonly (readonly string[])[];
  /** Appended to reports: the scheduler's trace tail and seed. */
  context?: () => string;
}

const OUTSIDE: LockOwner = { id: -1, name: '(outside any task)' };

function orderKey(instance: unknown): number | bigint | undefined {
  if (typeof instance === 'number' || typeof instance === 'bigint') return instance;
  if (typeof instance === 'object' && instance !== null && 'lockOrderKey' in instance) {
    const k = instance.lockOrderKey;
    if (typeof k === 'number' || typeof k === 'bigint') return k;
  }
  return undefined;
}

function showInstance(instance: unknown): string {
  if (typeof instance === 'number' || typeof instance === 'bigint' || typeof instance === 'string') return `#${instance}`;
  const k = orderKey(instance);
  return k === undefined ? '(instance)' : `#${k}`;
}

function stackHere(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const s = new Error('acquired here').stack ?? '';
  Error.stackTraceLimit = limit;
  // Drop the simulator's own frames; keep the engine's (and the test's).
  const own = /[/\\]src[/\\]sim[/\\](lock-validator|hooks|simulator)\.[jt]s/;
  return s.split('\n').slice(1).filter((l) => !own.test(l)).slice(0, 16).join('\n');
}

function indent(s: string): string {
  return s.split('\n').map((l) => `      ${l.trim()}`).join('\n');
}

export class LockValidator {
  readonly violations: LockViolation[] = [];
  private readonly held = new Map<number, HeldLock[]>();
  private readonly edges = new Map<string, Map<string, Edge>>();
  private readonly rank = new Map<string, number>();
  private readonly opts: LockValidatorOptions;
  /** Test-only switch: with false, nothing is checked (to show a scenario needs the validator). */
  enabled = true;

  constructor(opts: LockValidatorOptions) {
    this.opts = opts;
    (opts.order ?? DESIGN_LOCK_ORDER).forEach((classes, i) => {
      for (const c of classes) this.rank.set(c, i);
    });
  }

  heldBy(owner: LockOwner): readonly HeldLock[] {
    return this.held.get(owner.id) ?? [];
  }

  /** Every lock held right now, by any task. */
  allHeld(): readonly HeldLock[] {
    return [...this.held.values()].flat();
  }

  acquired(lockClass: string, instance: unknown): void {
    const owner = this.opts.currentOwner() ?? OUTSIDE;
    const stack = stackHere();
    const mine = this.held.get(owner.id) ?? [];
    const lock: HeldLock = { lockClass, instance, owner, stack };
    if (this.enabled) {
      for (const h of mine) this.checkPair(h, lock);
    }
    mine.push(lock);
    this.held.set(owner.id, mine);
  }

  released(lockClass: string, instance: unknown): void {
    const owner = this.opts.currentOwner() ?? OUTSIDE;
    // Usually the releaser is the acquirer; a folio lock may be released by
    // the I/O completion of another task, as in the kernel.
    const lists = [this.held.get(owner.id) ?? [], ...[...this.held.entries()].filter(([id]) => id !== owner.id).map(([, l]) => l)];
    for (const list of lists) {
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i].lockClass === lockClass && list[i].instance === instance) {
          list.splice(i, 1);
          return;
        }
      }
    }
    if (this.enabled) this.fail('bad-release', `${owner.name} released ${lockClass} ${showInstance(instance)} which nobody holds\n${indent(stackHere())}`);
  }

  /** R3: no wait for writeback or commit while holding a journal handle. */
  waitingFor(kind: WaitKind): void {
    if (!this.enabled) return;
    const owner = this.opts.currentOwner() ?? OUTSIDE;
    const handle = (this.held.get(owner.id) ?? []).find((h) => h.lockClass === JOURNAL_HANDLE);
    if (handle === undefined) return;
    this.fail(
      'handle-wait',
      `R3: ${owner.name} waits for ${kind} while holding a journal handle ` +
      `(${kind === 'commit' ? 'a commit waits for every open handle' : 'writeback needs a handle, and the commit it may wait on waits for this one'})\n` +
      `    handle acquired at:\n${indent(handle.stack)}\n    wait for ${kind} at:\n${indent(stackHere())}`,
    );
  }

  /**
   * Reports every lock still held when the run ended normally, except those
   * of tasks the run abandoned (`abandoned(owner)`: a background daemon
   * still in progress legitimately holds its locks).
   */
  assertNoneHeld(abandoned: (owner: LockOwner) => boolean = () => false): void {
    const left = this.allHeld().filter((h) => !abandoned(h.owner));
    if (left.length === 0 || !this.enabled) return;
    this.fail('held-at-end', `locks still held at the end of the run:\n${left.map((h) => `    ${h.owner.name} holds ${h.lockClass} ${showInstance(h.instance)}, acquired at:\n${indent(h.stack)}`).join('\n')}`);
  }

  /** Throws the first violation recorded (if any). */
  check(): void {
    if (this.violations.length > 0) throw this.violations[0];
  }

  private checkPair(h: HeldLock, lock: HeldLock): void {
    const { lockClass: a } = h;
    const { lockClass: b } = lock;
    if (a === b) {
      const ka = orderKey(h.instance);
      const kb = orderKey(lock.instance);
      if (ka === undefined || kb === undefined) {
        this.fail('same-class', `${lock.owner.name} nests two ${b} locks without an order key (§3 needs ascending order)\n${this.twoStacks(h, lock)}`);
      } else if (!(kb > ka)) {
        this.fail('same-class', `${lock.owner.name} takes ${b} ${String(kb)} while holding ${b} ${String(ka)}: §3 says ascending order\n${this.twoStacks(h, lock)}`);
      }
      return;
    }
    const ra = this.rank.get(a);
    const rb = this.rank.get(b);
    if (ra !== undefined && rb !== undefined && rb < ra) {
      this.fail('order', `${lock.owner.name} takes ${b} while holding ${a}: DESIGN.md §3 orders ${b} before ${a}\n${this.twoStacks(h, lock)}`);
      return;
    }
    this.addEdge(h, lock);
  }

  private addEdge(h: HeldLock, lock: HeldLock): void {
    const a = h.lockClass;
    const b = lock.lockClass;
    const out = this.edges.get(a) ?? new Map<string, Edge>();
    if (out.has(b)) return;
    // A path b → ... → a already recorded means a → b closes a cycle.
    const path = this.findPath(b, a);
    out.set(b, { from: a, to: b, fromStack: h.stack, toStack: lock.stack, owner: lock.owner.name });
    this.edges.set(a, out);
    if (path === undefined) return;
    const earlier = path.map((e) =>
      `    ${e.owner} took ${e.to} while holding ${e.from}:\n      ${e.from} acquired at:\n${indent(e.fromStack)}\n      ${e.to} acquired at:\n${indent(e.toStack)}`,
    ).join('\n');
    this.fail(
      'cycle',
      `lock order cycle: ${lock.owner.name} takes ${b} while holding ${a}, but ${[...path.map((e) => e.from), a].join(' → ')} was recorded earlier\n` +
      `    now:\n${this.twoStacks(h, lock)}\n    earlier:\n${earlier}`,
    );
  }

  /** Edges of a path from → ... → to in the class graph, or undefined. */
  private findPath(from: string, to: string): Edge[] | undefined {
    const seen = new Set<string>([from]);
    const queue: { node: string; path: Edge[] }[] = [{ node: from, path: [] }];
    while (queue.length > 0) {
      const { node, path } = queue.shift() ?? { node: '', path: [] };
      for (const e of this.edges.get(node)?.values() ?? []) {
        if (e.to === to) return [...path, e];
        if (!seen.has(e.to)) {
          seen.add(e.to);
          queue.push({ node: e.to, path: [...path, e] });
        }
      }
    }
    return undefined;
  }

  private twoStacks(h: HeldLock, lock: HeldLock): string {
    return `      ${h.lockClass} ${showInstance(h.instance)} acquired at:\n${indent(h.stack)}\n      ${lock.lockClass} ${showInstance(lock.instance)} acquired at:\n${indent(lock.stack)}`;
  }

  private fail(kind: ViolationKind, message: string): never {
    const ctx = this.opts.context?.() ?? '';
    const v = new LockViolation(kind, ctx ? `${message}\n${ctx}` : message);
    this.violations.push(v);
    throw v;
  }
}

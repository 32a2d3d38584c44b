/**
 * A bounded map with CLOCK ("second chance") replacement: a hit only sets a
 * flag, so the hot path costs one Map lookup; eviction walks entries in
 * insertion order, giving flagged entries another round and removing the
 * first unflagged one. Close to LRU in effect, without reordering on every
 * hit. Each entry has a weight (bytes, names, or 1) counted against the
 * budget.
 *
 * Entries the owner says are pinned (a metadata block a transaction still
 * needs, an inode someone holds) are never evicted: the cache may then stay
 * over budget until they are unpinned, and the owner is responsible for
 * bounding how much it pins (the journal checkpoints to unpin blocks).
 */
interface Slot<V> {
  value: V;
  weight: number;
  referenced: boolean;
}

export class ClockCache<K, V> {
  private readonly slots = new Map<K, Slot<V>>();
  private total = 0;

  constructor(
    private readonly budget: number,
    private readonly pinned: ((value: V) => boolean) | undefined = undefined,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  get weight(): number {
    return this.total;
  }

  get(key: K): V | undefined {
    const s = this.slots.get(key);
    if (s === undefined) return undefined;
    s.referenced = true;
    return s.value;
  }

  /** The value without marking it referenced (for scans that must not keep entries alive). */
  peek(key: K): V | undefined {
    return this.slots.get(key)?.value;
  }

  set(key: K, value: V, weight = 1): void {
    this.delete(key);
    // Born referenced: an entry just loaded survives one sweep, so it is not
    // evicted before whoever asked for it has used it.
    this.slots.set(key, { value, weight, referenced: true });
    this.total += weight;
    this.evict();
  }

  delete(key: K): void {
    const s = this.slots.get(key);
    if (s === undefined) return;
    this.slots.delete(key);
    this.total -= s.weight;
  }

  clear(): void {
    this.slots.clear();
    this.total = 0;
  }

  values(): IterableIterator<V> {
    const it = this.slots.values();
    return (function* () {
      for (const s of it) yield s.value;
    })();
  }

  /** Evicts what it can until the cache is within budget (after entries were unpinned). */
  trim(): void {
    this.evict();
  }

  private evict(): void {
    // Each entry is passed over at most twice (once to clear its flag); pinned
    // entries are moved to the back like referenced ones and never removed.
    let budgetSteps = 2 * this.slots.size + 1;
    while (this.total > this.budget && budgetSteps-- > 0) {
      const first = this.slots.entries().next();
      if (first.done === true) return;
      const [key, s] = first.value;
      this.slots.delete(key);
      if (s.referenced || (this.pinned !== undefined && this.pinned(s.value))) {
        s.referenced = false;
        this.slots.set(key, s);
      } else {
        this.total -= s.weight;
      }
    }
  }
}

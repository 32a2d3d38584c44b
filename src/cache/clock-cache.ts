/**
 * A bounded map with CLOCK ("second chance") replacement: a hit only sets a
 * flag, so the hot path costs one Map lookup; eviction walks entries in
 * insertion order, giving flagged entries another round and removing the
 * first unflagged one. Close to LRU in effect, without reordering on every
 * hit. Each entry has a weight (bytes, names, or 1) counted against the
 * budget.
 */
interface Slot<V> {
  value: V;
  weight: number;
  referenced: boolean;
}

export class ClockCache<K, V> {
  private readonly slots = new Map<K, Slot<V>>();
  private total = 0;

  constructor(private readonly budget: number) {}

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

  set(key: K, value: V, weight = 1): void {
    this.delete(key);
    this.slots.set(key, { value, weight, referenced: false });
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

  private evict(): void {
    // Each entry is passed over at most twice (once to clear its flag).
    let budgetSteps = 2 * this.slots.size + 1;
    while (this.total > this.budget && budgetSteps-- > 0) {
      const first = this.slots.entries().next();
      if (first.done === true) return;
      const [key, s] = first.value;
      this.slots.delete(key);
      if (s.referenced) {
        s.referenced = false;
        this.slots.set(key, s);
      } else {
        this.total -= s.weight;
      }
    }
  }
}

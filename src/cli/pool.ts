/**
 * A bounded set of concurrent tasks. A copy keeps a few dozen files in
 * flight: enough to overlap the engine's image reads with the host's
 * file creation and writes (each of which waits on a libuv thread), few
 * enough that memory for file contents stays small. Tasks may add more
 * tasks (a directory adds its entries); `drain` waits for all of them.
 *
 * Tasks must handle their own errors: one that throws anyway is recorded
 * and rethrown by `drain`, because it means a bug, not a bad file.
 */
export class TaskPool {
  private readonly queue: Array<() => Promise<void>> = [];
  private head = 0;
  private running = 0;
  private failure: { error: unknown } | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  add(task: () => Promise<void>): void {
    this.queue.push(task);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.limit && this.head < this.queue.length) {
      const task = this.queue[this.head];
      this.head++;
      // Drop the consumed prefix now and then so a long copy does not keep every closure alive.
      if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.running++;
      void this.runOne(task);
    }
    if (this.running === 0 && this.head >= this.queue.length) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  private async runOne(task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (error) {
      this.failure ??= { error };
    } finally {
      this.running--;
      this.pump();
    }
  }

  /** Resolves when every task, including those added meanwhile, has finished. */
  async drain(): Promise<void> {
    if (this.running > 0 || this.head < this.queue.length) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure.error;
  }
}

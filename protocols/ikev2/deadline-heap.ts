/**
 * The IKE manager's timer queue: an indexed binary min-heap of items keyed by
 * their next deadline (ms). Each item sits in the heap at most once; `set`
 * moves it when its deadline changes, so a hub with thousands of SAs finds the
 * earliest deadline in O(1) and re-files one SA in O(log n), where scanning
 * every SA after every datagram made the timer bookkeeping cost grow with the
 * number of peers.
 */
export class DeadlineHeap<T> {
  private readonly items: T[] = [];
  private readonly keys: number[] = [];
  private readonly index = new Map<T, number>();

  get size(): number {
    return this.items.length;
  }

  /** The earliest deadline, or undefined when nothing is queued. */
  peekTime(): number | undefined {
    return this.items.length > 0 ? this.keys[0] : undefined;
  }

  /** The deadline `item` is queued at, or undefined. */
  timeOf(item: T): number | undefined {
    const i = this.index.get(item);
    return i === undefined ? undefined : this.keys[i];
  }

  /** Queue `item` at `at`, move it there, or (undefined) take it out. */
  set(item: T, at: number | undefined): void {
    const i = this.index.get(item);
    if (at === undefined) {
      if (i !== undefined) this.removeAt(i);
      return;
    }
    if (i === undefined) {
      this.items.push(item);
      this.keys.push(at);
      this.index.set(item, this.items.length - 1);
      this.up(this.items.length - 1);
      return;
    }
    const old = this.keys[i];
    this.keys[i] = at;
    if (at < old) this.up(i);
    else if (at > old) this.down(i);
  }

  /** Take out and return the item with the earliest deadline if that deadline is at or before `now`. */
  popDue(now: number): T | undefined {
    if (this.items.length === 0 || this.keys[0] > now) return undefined;
    const top = this.items[0];
    this.removeAt(0);
    return top;
  }

  private removeAt(i: number): void {
    const last = this.items.length - 1;
    this.index.delete(this.items[i]);
    if (i !== last) {
      this.items[i] = this.items[last];
      this.keys[i] = this.keys[last];
      this.index.set(this.items[i], i);
    }
    this.items.pop();
    this.keys.pop();
    if (i < this.items.length) {
      this.up(i);
      this.down(i);
    }
  }

  private swap(a: number, b: number): void {
    const item = this.items[a];
    const key = this.keys[a];
    this.items[a] = this.items[b];
    this.keys[a] = this.keys[b];
    this.items[b] = item;
    this.keys[b] = key;
    this.index.set(this.items[a], a);
    this.index.set(this.items[b], b);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent] <= this.keys[i]) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.keys[l] < this.keys[m]) m = l;
      if (r < n && this.keys[r] < this.keys[m]) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

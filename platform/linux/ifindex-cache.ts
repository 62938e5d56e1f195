/**
 * Device name -> link (index and link-layer address), so that a route or neighbour request does
 * not first ask the kernel for its device's index (RTM_GETLINK, with a 1.5 KB answer to parse):
 * that lookup was half the requests and most of the CPU of programming a neighbour.
 *
 * Kept true by RTNLGRP_LINK notifications (rtnetlink(7)): RTM_DELLINK drops the device, an
 * RTM_NEWLINK that pairs the name with another index (re-created) or the index with another name
 * (renamed) drops the stale entry; an overrun (notifications lost) drops everything. Pure: the
 * port feeds it the events and owns the sockets.
 *
 * A lookup in flight while the kernel changed may carry the old answer, so a lookup's result is
 * kept only if no notification (nor forget/clear) came between asking and answering
 * (`generation`). Every notification counts, not only those that drop an entry: the device asked
 * about is not cached yet, so its delete or rename drops nothing.
 */
import type { Link, LinkEvent } from '../ports.js';

export type CachedLink = Pick<Link, 'index' | 'name' | 'address'>;

export class IfindexCache {
  private readonly byName = new Map<string, CachedLink>();
  private gen = 0;

  /** Advanced by every notification, forget and clear; compare before and after a lookup. */
  get generation(): number {
    return this.gen;
  }

  get size(): number {
    return this.byName.size;
  }

  get(name: string): CachedLink | undefined {
    return this.byName.get(name);
  }

  /** Keep a lookup's answer unless anything changed since `generation` was read. */
  set(link: CachedLink, generation: number): void {
    if (generation !== this.gen || link.name === '') return;
    this.byName.set(link.name, { index: link.index, name: link.name, ...(link.address ? { address: link.address } : {}) });
  }

  /** Forget a name (our own delete, or a request that answered ENODEV for its index). */
  forget(name: string): void {
    this.byName.delete(name);
    this.gen++;
  }

  clear(): void {
    this.byName.clear();
    this.gen++;
  }

  /** Apply a link notification. */
  onEvent(event: LinkEvent): void {
    this.gen++;
    if (event.type === 'overrun') {
      this.clear();
      return;
    }
    const { index, name } = event.link;
    for (const [n, l] of this.byName) {
      const stale = event.type === 'delete' ? l.index === index || n === name : (l.index === index) !== (n === name);
      if (stale) this.byName.delete(n);
    }
  }
}

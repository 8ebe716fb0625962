import { Links } from './links.js';
import type { Policy, PolicyHost } from './policy.js';

const LIST = 0;

/** Least recently used: one list, hits move to the front, eviction takes from the back. */
export class LruPolicy extends Links implements Policy {
  constructor(
    private readonly host: PolicyHost,
    entries: number,
  ) {
    super(1, 2, 1 + entries);
  }

  grow(capacity: number): void {
    this.growLinks(capacity);
  }

  miss(_key: string): void {}

  hit(slot: number, _key: string): void {
    this.moveToFront(LIST, slot);
  }

  insert(slot: number, _key: string, _size: number): void {
    this.pushFront(LIST, slot);
  }

  update(slot: number, _key: string, _oldSize: number): void {
    this.moveToFront(LIST, slot);
  }

  remove(slot: number, _size: number): void {
    this.unlink(slot);
  }

  evict(keep: number): void {
    const host = this.host;
    while (host.overCapacity()) {
      let victim = this.tail(LIST);
      if (victim === keep) victim = this.prevOf(victim);
      if (victim === LIST) return;
      host.evict(victim);
    }
  }

  sweep(_now: number, _limit: number): number {
    return -1;
  }

  clear(capacity: number): void {
    this.resetLinks(capacity);
  }
}

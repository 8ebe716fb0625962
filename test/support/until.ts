import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` until it holds; fails naming `what` after `ms`. For effects that cross a process or a network. */
export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 5_000, every = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what}`);
}

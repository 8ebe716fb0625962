import type { TimeSource } from '../clock.js';

/** Wrong tokens one address may send in a window before its token-bearing requests are refused. */
export const GUESS_LIMIT = 10;
/** The window, ms. */
export const GUESS_WINDOW_MS = 60_000;
/** Addresses remembered at once; past it the one seen least recently is forgotten. */
const MAX_ADDRESSES = 1_024;

interface Tally {
  failures: number;
  since: number;
}

/**
 * Wrong admin tokens by client address, so the token cannot be guessed at the speed of the network: after
 * {@link GUESS_LIMIT} wrong tokens from one address within {@link GUESS_WINDOW_MS}, every request from it that
 * carries a token (the right one too) is refused until the window ends. Requests without a token, which only
 * read, are never counted or refused. Behind a proxy every client shares the proxy's address: then a guesser
 * also locks the others out of actions for the rest of the window, which errs on the safe side.
 */
export class TokenGuesses {
  readonly #clock: TimeSource;
  readonly #tallies = new Map<string, Tally>();

  constructor(clock: TimeSource) {
    this.#clock = clock;
  }

  /** Milliseconds until `address` may send a token again; 0 when it may now. */
  waitOf(address: string): number {
    const tally = this.#tallies.get(address);
    if (tally === undefined) return 0;
    const left = tally.since + GUESS_WINDOW_MS - this.#clock.now();
    if (left <= 0) {
      this.#tallies.delete(address);
      return 0;
    }
    return tally.failures >= GUESS_LIMIT ? left : 0;
  }

  /** `address` sent a wrong token. */
  failed(address: string): void {
    const now = this.#clock.now();
    const tally = this.#tallies.get(address);
    if (tally !== undefined && now - tally.since < GUESS_WINDOW_MS) {
      tally.failures++;
      // Seen again: moved to the newest end, so the bound forgets quiet addresses first.
      this.#tallies.delete(address);
      this.#tallies.set(address, tally);
      return;
    }
    this.#tallies.delete(address);
    this.#tallies.set(address, { failures: 1, since: now });
    if (this.#tallies.size > MAX_ADDRESSES) this.#tallies.delete(this.#tallies.keys().next().value as string);
  }
}

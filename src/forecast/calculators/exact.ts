import { Decimal } from 'decimal.js';

/**
 * The calculators' working numbers: 34 significant digits (as IEEE 754 decimal128), so sums of a decade of
 * cents stay exact and a ratio such as 14000 / 6 carries far more digits than the cents it is rounded to.
 * A clone keeps this precision out of the application's own Decimal settings.
 */
export const Exact = Decimal.clone({ precision: 34, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 40 });

export const ZERO = new Exact(0);
export const ONE = new Exact(1);

/** A Decimal from the store (or a weight given as a number) as a working number. */
export function exact(value: Decimal | number | string): Decimal {
  return new Exact(value);
}

/**
 * Rounds to `places` decimals with ROUND_HALF_EVEN (banker's rounding: 2.345 → 2.34, 2.355 → 2.36), so
 * rounding many results carries no upward bias, and returns an instance of the application's decimal.js
 * rather than of {@link Exact}: results go into caches and across process boundaries, where an instance
 * with a foreign constructor would not compare equal to the same value read back. -0 becomes 0.
 */
export function rounded(value: Decimal, places: number): Decimal {
  const result = new Decimal(value.toDecimalPlaces(places, Decimal.ROUND_HALF_EVEN).toFixed());
  return result.isZero() ? new Decimal(0) : result;
}

/** Money at the output boundary: whole cents, ROUND_HALF_EVEN. */
export function money(value: Decimal): Decimal {
  return rounded(value, 2);
}

/** A statistic such as R² as a plain number with four decimals; it is not money and is never summed. */
export function statistic(value: Decimal): number {
  return value.toDecimalPlaces(4, Decimal.ROUND_HALF_EVEN).toNumber();
}

/** What {@link fitLine} finds. */
export interface LineFit {
  /** Change of y per step of x. */
  slope: Decimal;
  /** y at x = 0. */
  intercept: Decimal;
  /** Share of the variance of y the line explains, 0–1; 1 when the line passes through every point (a flat series included); null for fewer than two points. */
  r2: Decimal | null;
}

/**
 * Ordinary least squares of `ys[i]` on `x = i`, in one pass over the sums Σy, Σxy and Σy².
 *
 * With x = 0…n−1 the sums over x have closed forms (x̄ = (n−1)/2, Sxx = Σ(x−x̄)² = n(n²−1)/12), so
 * Sxy = Σxy − x̄·Σy, Syy = Σy² − (Σy)²/n, slope = Sxy / Sxx, intercept = ȳ − slope·x̄, and the residual sum
 * of squares is Syy − slope·Sxy. The subtractions lose nothing that matters at 34 digits: a decade of daily
 * balances in the millions squares to about 20 significant digits.
 */
export function fitLine(ys: readonly Decimal[]): LineFit {
  const n = ys.length;
  if (n === 0) return { slope: ZERO, intercept: ZERO, r2: null };
  let sy = ZERO;
  let sxy = ZERO;
  let syy = ZERO;
  for (let i = 0; i < n; i++) {
    const y = ys[i]!;
    sy = sy.plus(y);
    sxy = sxy.plus(y.times(i));
    syy = syy.plus(y.times(y));
  }
  const meanY = sy.div(n);
  if (n === 1) return { slope: ZERO, intercept: meanY, r2: null };

  const meanX = new Exact(n - 1).div(2);
  const cxy = sxy.minus(meanX.times(sy));
  const cxx = new Exact(n).times(n * n - 1).div(12);
  const cyy = syy.minus(sy.times(sy).div(n));
  const slope = cxy.div(cxx);
  const intercept = meanY.minus(slope.times(meanX));
  if (cyy.lte(0)) return { slope, intercept, r2: ONE };
  // Rounding in the last of 34 digits can push a perfect fit a hair outside [0, 1].
  const r2 = Exact.min(ONE, Exact.max(ZERO, ONE.minus(cyy.minus(slope.times(cxy)).div(cyy))));
  return { slope, intercept, r2 };
}

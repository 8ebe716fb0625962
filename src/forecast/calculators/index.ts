export { ProjectionEngine, projectBalance, PROJECTION_ALGORITHMS } from './projection-engine.js';
export type { BalancePoint, BalanceProjection, ProjectBalanceOptions, ProjectionAlgorithm } from './projection-engine.js';
export { BurnRateCalculator, burnRate, runway, BURN_METHODS, BURN_BASES } from './burn-rate.js';
export type { BurnBasis, BurnMethod, BurnRate, BurnRateOptions, MonthlyFlow, Runway, RunwayOptions, RunwayStatus } from './burn-rate.js';
export { GoalTracker, goalProgress, goalsSummary, GOAL_STATUSES } from './goal-tracker.js';
export type { GoalProgress, GoalProgressOptions, GoalsSummary, GoalStatus } from './goal-tracker.js';
export { CategoryAnalyzer, categoryTotals } from './category-totals.js';
export type { CategoryTotal, CategoryTotals, CategoryTotalsOptions } from './category-totals.js';
export type { CalculatorOptions } from './shared.js';

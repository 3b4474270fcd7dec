import type { BackoffOptions } from './options.js';

/**
 * Delay in ms before reconnection attempt number `attempt` (1-based): exponential growth from
 * `initialDelay` by `factor`, capped at `maxDelay`, of which a random `jitter` share is taken off
 * so that many watchers do not reconnect in lockstep.
 *
 * @example
 * backoffDelay(1, { initialDelay: 500, jitter: 0 }); // 500
 * backoffDelay(4, { initialDelay: 500, jitter: 0 }); // 4000
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialDelay = 500, maxDelay = 30_000, factor = 2, jitter = 0.2 } = options;
  const base = Math.min(maxDelay, initialDelay * factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter * random()));
}

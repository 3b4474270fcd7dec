import type { WatcherState } from '../watcher.js';

const RANK: Record<WatcherState['state'], number> = {
  synced: 0,
  idle: 1,
  connecting: 2,
  reconnecting: 3,
  closed: 4,
  failed: 5,
};

/**
 * The fleet's state over its members' states: `synced` when all are synced (at the latest
 * sync time), else the worst of them (failed, closed, reconnecting, connecting, idle), as that
 * member reports it.
 *
 * @example
 * aggregateState([{ state: 'synced', at }, { state: 'connecting' }]); // { state: 'connecting' }
 */
export function aggregateState(states: readonly WatcherState[]): WatcherState {
  let worst: WatcherState | undefined;
  let latest = 0;
  for (const s of states) {
    if (s.state === 'synced') latest = Math.max(latest, s.at.getTime());
    if (!worst || RANK[s.state] > RANK[worst.state]) worst = s;
  }
  if (!worst) return { state: 'synced', at: new Date(0) };
  return worst.state === 'synced' ? { state: 'synced', at: new Date(latest) } : worst;
}

import type { Container, LifecycleEvent, Portfolio } from '../lib/model.js';
import { safeJson } from './escape.js';
import type { EngineStatus } from './session.js';

/**
 * A container as the NDJSON output writes it (no rucksack: it may not be serialisable).
 *
 * @example
 * JSON.stringify(containerJson(portfolio.containers()[0]!));
 */
export function containerJson(c: Container): Record<string, unknown> {
  return {
    engine: c.engine,
    id: c.id,
    name: c.name,
    project: c.project,
    pid: c.pid,
    paused: c.paused,
    labels: c.labels,
    ...(c.startedAt ? { startedAt: c.startedAt.toISOString() } : {}),
  };
}

/**
 * An engine's status as the NDJSON snapshot line writes it: type, endpoint, state, identity
 * once known, PID if known, and the error (with the retry delay) while it is not synced.
 *
 * @example
 * engineJson(status); // { type: 'docker.com', api: 'unix:///var/run/docker.sock', state: 'synced', id: '…', version: 'Docker Engine 27.3.1' }
 */
export function engineJson(s: EngineStatus): Record<string, unknown> {
  const st = s.state;
  return {
    type: s.watcher.type,
    api: s.watcher.api,
    state: st.state,
    ...(s.identity ? { id: s.identity.id, version: s.identity.version } : {}),
    ...(s.watcher.pid ? { pid: s.watcher.pid } : {}),
    ...(st.state === 'reconnecting' ? { error: st.error.message, retryIn: Math.max(0, st.delay - (Date.now() - s.since)) } : {}),
    ...(st.state === 'failed' ? { error: st.error.message } : {}),
  };
}

/**
 * One NDJSON snapshot line (without the newline, controls escaped as by {@link safeJson}): `{"kind":"snapshot","at":…,"engines":[…],"containers":[…]}`,
 * containers sorted by name, each with its `engine`.
 *
 * @example
 * process.stdout.write(snapshotLine(session.fleet.portfolio, session.statuses) + '\n');
 */
export function snapshotLine(portfolio: Portfolio, statuses: readonly EngineStatus[], now = new Date()): string {
  return safeJson({
    kind: 'snapshot',
    at: now.toISOString(),
    engines: statuses.map(engineJson),
    containers: portfolio.containers().map(containerJson),
  });
}

/**
 * One NDJSON lifecycle event line (without the newline, controls escaped as by {@link safeJson}): `{"kind":"event","type":"started",…}`.
 *
 * @example
 * fleet.events$.subscribe((e) => process.stdout.write(eventLine(e) + '\n'));
 */
export function eventLine(e: LifecycleEvent): string {
  return safeJson({ kind: 'event', type: e.type, at: e.at.toISOString(), engine: e.container.engine, container: containerJson(e.container) });
}

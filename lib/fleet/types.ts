import type { Observable } from 'rxjs';
import type { Container, EngineRef, Portfolio } from '../model.js';
import type { Diagnostic, Watcher } from '../watcher.js';

/**
 * The engine type a {@link Fleet} reports as its own.
 *
 * @example
 * if (w.type === FLEET_TYPE) console.log('a fleet of', (w as Fleet).watchers.length);
 */
export const FLEET_TYPE = 'whalewatcher.fleet';

/**
 * Which engine a lookup concerns: its endpoint text (`api`, as the watcher was given it) or
 * its full {@link EngineRef} (needed when two engines share a socket, like containerd and its
 * CRI plugin).
 *
 * @example
 * fleet.portfolio.engine('unix:///var/run/docker.sock');
 * fleet.portfolio.engine({ type: 'k8s.io/cri-api', api: '/run/containerd/containerd.sock' });
 */
export type EngineSelector = string | EngineRef;

/**
 * A {@link Diagnostic} of one of a fleet's watchers, with the engine it came from.
 *
 * @example
 * all.diagnostics$.subscribe((d) => console.debug(d.engine.api, d.code, d.message));
 */
export interface FleetDiagnostic extends Diagnostic {
  readonly engine: EngineRef;
}

/**
 * The merged snapshot of a {@link Fleet}: every engine's alive containers, each carrying its
 * `engine`. Containers keep their engine's `id` and `name`; nothing is renamed, so two engines
 * may hold the same ID or name. Plain lookups (`container`, `project`) look across all engines
 * (the first engine in fleet order wins a name or ID clash); pass an engine, or use
 * {@link FleetPortfolio.engine}, for per-engine lookups. A project name merges the projects
 * of that name of all engines.
 *
 * @example
 * const p = all.portfolio;
 * p.container('web-1');                                  // from whichever engine has it first
 * p.container('web-1', 'unix:///var/run/docker.sock');   // from that engine only
 * p.engine('unix:///var/run/docker.sock')?.names();      // one engine's projects
 * for (const c of p.containers()) console.log(c.engine?.type, c.name);
 */
export interface FleetPortfolio extends Portfolio {
  /** Looks up a container by ID or name, across all engines or in the given one. */
  container(nameOrId: string, engine?: EngineSelector): Container | undefined;
  /** The fleet's engines, in fleet order. */
  engines(): readonly EngineRef[];
  /** One engine's portfolio (its containers carrying `engine`), or undefined if not in the fleet. */
  engine(engine: EngineSelector): Portfolio | undefined;
}

/**
 * One watcher-like view over several watchers: see {@link fleet}.
 *
 * @example
 * await using all = fleet(mobyWatcher(), containerdWatcher());
 * const p = await all.ready({ signal: AbortSignal.timeout(10_000) });
 */
export interface Fleet extends Watcher {
  /** The watchers, in fleet order. */
  readonly watchers: readonly Watcher[];
  readonly portfolio: FleetPortfolio;
  readonly portfolio$: Observable<FleetPortfolio>;
  readonly diagnostics$: Observable<FleetDiagnostic>;
  /** Starts all watchers (if not yet); resolves when every one of them is synced. */
  ready(options?: { signal?: AbortSignal }): Promise<FleetPortfolio>;
}

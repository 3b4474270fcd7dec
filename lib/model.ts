/**
 * One alive (running or paused) container, as an immutable snapshot.
 *
 * @example
 * const web = portfolio.container('web-1');
 * if (web && !web.paused) console.log(web.name, web.pid, web.project);
 */
export interface Container {
  /** Engine-wide unique ID (containerd: `namespace/id`, bare in `default`). */
  readonly id: string;
  /** Name (Docker: without the leading `/`; CRI: `namespace/pod/container`). */
  readonly name: string;
  /** Labels, including the engine-specific marker labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** PID of the container's initial process, as seen from the engine's PID namespace. */
  readonly pid: number;
  /** Project the container belongs to; "" for standalone containers. */
  readonly project: string;
  /** Whether the container is paused. */
  readonly paused: boolean;
  /** When this lifetime started, in the engine's clock, if the engine tells. */
  readonly startedAt?: Date;
  /** User data from the `rucksack` option, if any. */
  readonly rucksack?: unknown;
  /** The engine this container runs on; set on containers seen through a {@link fleet}. */
  readonly engine?: EngineRef;
}

/**
 * Identifies one engine: its type and endpoint.
 *
 * @example
 * const ref: EngineRef = { type: 'docker.com', api: 'unix:///var/run/docker.sock' };
 */
export interface EngineRef {
  readonly type: string;
  readonly api: string;
}

/**
 * The alive containers of one (compose) project.
 *
 * @example
 * for (const c of portfolio.project('shop')?.containers() ?? []) console.log(c.name);
 */
export interface ComposerProject {
  /** Project name; "" for the standalone containers. */
  readonly name: string;
  /** The project's containers, sorted by name. */
  containers(): readonly Container[];
  /** Looks up a container of this project by name or ID. */
  container(nameOrId: string): Container | undefined;
  /** Names of the project's containers, sorted. */
  containerNames(): readonly string[];
}

/**
 * An immutable snapshot of all alive containers of an engine (or fleet), grouped by project.
 *
 * @example
 * for (const name of portfolio.names()) console.log(name, portfolio.project(name)!.containerNames());
 */
export interface Portfolio {
  /** Project names, sorted, without the unnamed "" project. */
  names(): readonly string[];
  /** Looks up a project; "" gives the standalone containers. */
  project(name: string): ComposerProject | undefined;
  /** Looks up a container by ID or name. */
  container(nameOrId: string): Container | undefined;
  /** All containers, sorted by name. */
  containers(): readonly Container[];
  /** Number of containers. */
  readonly containerTotal: number;
}

/**
 * A change in a container's life, derived from what the watcher applied.
 *
 * @example
 * w.events$.subscribe((e) => console.log(e.type, e.container.name, e.at.toISOString()));
 */
export interface LifecycleEvent {
  readonly type: 'started' | 'exited' | 'paused' | 'unpaused';
  /** The container as it is after the change (for `exited`: as it was last seen). */
  readonly container: Container;
  /** The engine's own event time where it gives one, else when the watcher learned it. */
  readonly at: Date;
}

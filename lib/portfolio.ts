import { Map as PMap } from 'immutable';
import { byName } from './byName.js';
import type { ComposerProject, Container, Portfolio } from './model.js';

const noContainers: PMap<string, Container> = PMap();
const noNames: PMap<string, string> = PMap();

/** Containers of one project, keyed by ID, with a name → ID index. Persistent: updates share structure. */
class ProjectSnapshot implements ComposerProject {
  #sorted?: readonly Container[];
  #names?: readonly string[];

  constructor(
    readonly name: string,
    readonly byId: PMap<string, Container>,
    readonly idByName: PMap<string, string>,
  ) {}

  containers(): readonly Container[] {
    return (this.#sorted ??= Object.freeze([...this.byId.values()].sort(byName)));
  }

  containerNames(): readonly string[] {
    return (this.#names ??= Object.freeze(this.containers().map((c) => c.name)));
  }

  container(nameOrId: string): Container | undefined {
    return this.byId.get(nameOrId) ?? this.byId.get(this.idByName.get(nameOrId) ?? '');
  }

  /** `old` is the container's previous version in this project, if any. */
  with(c: Container, old: Container | undefined): ProjectSnapshot {
    return new ProjectSnapshot(this.name, this.byId.set(c.id, c), renamed(this.idByName, c, old));
  }

  without(c: Container): ProjectSnapshot {
    return new ProjectSnapshot(this.name, this.byId.delete(c.id), unnamed(this.idByName, c));
  }
}

/**
 * The name index after `c` replaced `old`. A name is claimed when a container arrives or is
 * renamed to it; while a container keeps its name, the index is neither read nor copied.
 */
function renamed(names: PMap<string, string>, c: Container, old: Container | undefined): PMap<string, string> {
  if (old?.name === c.name) return names;
  return (old ? unnamed(names, old) : names).set(c.name, c.id);
}

function unnamed(names: PMap<string, string>, c: Container): PMap<string, string> {
  return names.get(c.name) === c.id ? names.delete(c.name) : names;
}

/**
 * The immutable {@link Portfolio} implementation: persistent hash maps of projects, each keyed
 * by container ID and name, plus portfolio-wide ID → project and name → ID indexes. A change to
 * one container copies O(log n) of one project's map and leaves every other project and
 * container object untouched; the portfolio-wide indexes change only when containers come, go,
 * move or are renamed. Sorted views are computed on first use and memoized.
 *
 * @example
 * const p = PortfolioSnapshot.empty.with(web).with(db);
 * p.project('shop')?.containerNames(); // ['db', 'web']
 */
export class PortfolioSnapshot implements Portfolio {
  /** The portfolio without any container. */
  static readonly empty = new PortfolioSnapshot(PMap(), PMap(), PMap());

  #names?: readonly string[];
  #sorted?: readonly Container[];

  private constructor(
    readonly projects: PMap<string, ProjectSnapshot>,
    private readonly projectOfId: PMap<string, string>,
    private readonly idByName: PMap<string, string>,
  ) {}

  get containerTotal(): number {
    return this.projectOfId.size;
  }

  names(): readonly string[] {
    return (this.#names ??= Object.freeze([...this.projects.keys()].filter((n) => n !== '').sort()));
  }

  project(name: string): ComposerProject | undefined {
    return this.projects.get(name);
  }

  container(nameOrId: string): Container | undefined {
    return this.byIdOnly(nameOrId) ?? this.byIdOnly(this.idByName.get(nameOrId) ?? '');
  }

  /** Looks up a container by ID only. */
  byIdOnly(id: string): Container | undefined {
    const project = this.projectOfId.get(id);
    return project === undefined ? undefined : this.projects.get(project)?.byId.get(id);
  }

  containers(): readonly Container[] {
    return (this.#sorted ??= Object.freeze([...this.all()].sort(byName)));
  }

  /** Every container, unsorted. */
  *all(): IterableIterator<Container> {
    for (const p of this.projects.values()) yield* p.byId.values();
  }

  /**
   * Returns a portfolio with `c` added, or replacing the container with the same ID. `current`,
   * that container's current version (`null`: there is none), saves the lookup when the caller
   * knows it.
   */
  with(c: Container, current?: Container | null): PortfolioSnapshot {
    const old = current === undefined ? this.byIdOnly(c.id) : (current ?? undefined);
    if (old === c) return this;
    let projects = this.projects;
    let projectOfId = this.projectOfId;
    if (old && old.project !== c.project) projects = dropFrom(projects, old);
    if (!old || old.project !== c.project) projectOfId = projectOfId.set(c.id, c.project);
    const stays = old && old.project === c.project ? old : undefined;
    const project = projects.get(c.project) ?? new ProjectSnapshot(c.project, noContainers, noNames);
    return new PortfolioSnapshot(
      projects.set(c.project, project.with(c, stays)),
      projectOfId,
      renamed(this.idByName, c, old),
    );
  }

  /**
   * Returns a portfolio without the container of this ID (the same portfolio if unknown).
   * `current`, that container's current version, saves the lookup when the caller has it.
   */
  without(id: string, current?: Container): PortfolioSnapshot {
    const old = current ?? this.byIdOnly(id);
    if (!old) return this;
    return new PortfolioSnapshot(dropFrom(this.projects, old), this.projectOfId.delete(id), unnamed(this.idByName, old));
  }
}

function dropFrom(projects: PMap<string, ProjectSnapshot>, c: Container): PMap<string, ProjectSnapshot> {
  const project = projects.get(c.project);
  if (!project) return projects;
  const rest = project.without(c);
  return rest.byId.size === 0 ? projects.delete(c.project) : projects.set(c.project, rest);
}

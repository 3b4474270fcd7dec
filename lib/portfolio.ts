import { Map as PMap } from 'immutable';
import type { ComposerProject, Container, Portfolio } from './model.js';

const byName = (a: Container, b: Container) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1);

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

  with(c: Container): ProjectSnapshot {
    const old = this.byId.get(c.id);
    let names = this.idByName;
    if (old && old.name !== c.name && names.get(old.name) === c.id) names = names.delete(old.name);
    return new ProjectSnapshot(this.name, this.byId.set(c.id, c), names.set(c.name, c.id));
  }

  without(c: Container): ProjectSnapshot {
    const names = this.idByName.get(c.name) === c.id ? this.idByName.delete(c.name) : this.idByName;
    return new ProjectSnapshot(this.name, this.byId.delete(c.id), names);
  }
}

/**
 * The immutable {@link Portfolio} implementation: persistent hash maps indexed by ID, by name and
 * by project. Adding, replacing or removing one container costs O(log n) and leaves every other
 * project and container object untouched; sorted views are computed on first use and memoized.
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
    readonly byId: PMap<string, Container>,
    readonly idByName: PMap<string, string>,
    readonly projects: PMap<string, ProjectSnapshot>,
  ) {}

  get containerTotal(): number {
    return this.byId.size;
  }

  names(): readonly string[] {
    return (this.#names ??= Object.freeze([...this.projects.keys()].filter((n) => n !== '').sort()));
  }

  project(name: string): ComposerProject | undefined {
    return this.projects.get(name);
  }

  container(nameOrId: string): Container | undefined {
    return this.byId.get(nameOrId) ?? this.byId.get(this.idByName.get(nameOrId) ?? '');
  }

  containers(): readonly Container[] {
    return (this.#sorted ??= Object.freeze([...this.byId.values()].sort(byName)));
  }

  /** Returns a portfolio with `c` added, or replacing the container with the same ID. */
  with(c: Container): PortfolioSnapshot {
    const old = this.byId.get(c.id);
    if (old === c) return this;
    let projects = this.projects;
    let names = this.idByName;
    if (old) {
      if (old.project !== c.project) projects = dropFrom(projects, old);
      if (old.name !== c.name && names.get(old.name) === c.id) names = names.delete(old.name);
    }
    const project = projects.get(c.project) ?? new ProjectSnapshot(c.project, PMap(), PMap());
    return new PortfolioSnapshot(
      this.byId.set(c.id, c),
      names.set(c.name, c.id),
      projects.set(c.project, project.with(c)),
    );
  }

  /** Returns a portfolio without the container of this ID (the same portfolio if unknown). */
  without(id: string): PortfolioSnapshot {
    const old = this.byId.get(id);
    if (!old) return this;
    const names = this.idByName.get(old.name) === id ? this.idByName.delete(old.name) : this.idByName;
    return new PortfolioSnapshot(this.byId.delete(id), names, dropFrom(this.projects, old));
  }
}

function dropFrom(projects: PMap<string, ProjectSnapshot>, c: Container): PMap<string, ProjectSnapshot> {
  const project = projects.get(c.project);
  if (!project) return projects;
  const rest = project.without(c);
  return rest.byId.size === 0 ? projects.delete(c.project) : projects.set(c.project, rest);
}

import { byName } from './byName.js';
import { type Trie, emptyTrie, stringHash, trieCollect, trieDelete, trieGet, trieSet } from './hashTrie.js';
import type { ComposerProject, Container, Portfolio } from './model.js';

/** Containers of one project, keyed by ID, with a name → ID index. Persistent: updates share structure. */
class ProjectSnapshot implements ComposerProject {
  #sorted?: readonly Container[];
  #names?: readonly string[];

  constructor(
    readonly name: string,
    readonly size: number,
    readonly byId: Trie<Container>,
    readonly idByName: Trie<string>,
  ) {}

  containers(): readonly Container[] {
    if (this.#sorted) return this.#sorted;
    const all: Container[] = [];
    trieCollect(this.byId, all);
    return (this.#sorted = Object.freeze(all.sort(byName)));
  }

  containerNames(): readonly string[] {
    return (this.#names ??= Object.freeze(this.containers().map((c) => c.name)));
  }

  container(nameOrId: string): Container | undefined {
    const c = trieGet(this.byId, nameOrId, stringHash(nameOrId));
    if (c) return c;
    const id = trieGet(this.idByName, nameOrId, stringHash(nameOrId));
    return id === undefined ? undefined : trieGet(this.byId, id, stringHash(id));
  }

  /** `old` is the container's previous version in this project, if any; `hash`: of `c.id`. */
  with(c: Container, hash: number, old: Container | undefined): ProjectSnapshot {
    const byId = trieSet(this.byId, c.id, hash, c);
    return new ProjectSnapshot(this.name, old ? this.size : this.size + 1, byId, renamed(this.idByName, c, old));
  }

  without(c: Container, hash: number): ProjectSnapshot {
    return new ProjectSnapshot(this.name, this.size - 1, trieDelete(this.byId, c.id, hash), unnamed(this.idByName, c));
  }
}

/**
 * The name index after `c` replaced `old`. A name is claimed when a container arrives or is
 * renamed to it; while a container keeps its name, the index is neither read nor copied.
 */
function renamed(names: Trie<string>, c: Container, old: Container | undefined): Trie<string> {
  if (old?.name === c.name) return names;
  return trieSet(old ? unnamed(names, old) : names, c.name, stringHash(c.name), c.id);
}

function unnamed(names: Trie<string>, c: Container): Trie<string> {
  return trieDelete(names, c.name, stringHash(c.name), c.id);
}

/**
 * The immutable {@link Portfolio} implementation: persistent hash tries (CHAMP) of projects,
 * each keyed by container ID and name, plus portfolio-wide ID → project and name → ID indexes.
 * A change to one container hashes its ID once, copies O(log₃₂ n) nodes of one project's trie
 * and leaves every other project and container object untouched; the portfolio-wide indexes
 * change only when containers come, go, move or are renamed. Sorted views are computed on
 * first use and memoized.
 *
 * @example
 * const p = PortfolioSnapshot.empty.with(web).with(db);
 * p.project('shop')?.containerNames(); // ['db', 'web']
 */
export class PortfolioSnapshot implements Portfolio {
  /** The portfolio without any container. */
  static readonly empty = new PortfolioSnapshot(0, emptyTrie, emptyTrie, emptyTrie);

  #names?: readonly string[];
  #sorted?: readonly Container[];

  private constructor(
    readonly containerTotal: number,
    private readonly projects: Trie<ProjectSnapshot>,
    private readonly projectOfId: Trie<string>,
    private readonly idByName: Trie<string>,
  ) {}

  names(): readonly string[] {
    if (this.#names) return this.#names;
    const names: string[] = [];
    trieCollect(this.projects, names, true);
    return (this.#names = Object.freeze(names.filter((n) => n !== '').sort()));
  }

  project(name: string): ComposerProject | undefined {
    return trieGet(this.projects, name, stringHash(name));
  }

  container(nameOrId: string): Container | undefined {
    return this.byIdOnly(nameOrId) ?? this.byIdOnly(trieGet(this.idByName, nameOrId, stringHash(nameOrId)) ?? '');
  }

  /** Looks up a container by ID only. */
  byIdOnly(id: string): Container | undefined {
    const hash = stringHash(id);
    const project = trieGet(this.projectOfId, id, hash);
    return project === undefined ? undefined : trieGet(this.projects, project, stringHash(project))?.container(id);
  }

  containers(): readonly Container[] {
    return (this.#sorted ??= Object.freeze(this.all().sort(byName)));
  }

  /** Every container, unsorted, in a new array. */
  all(): Container[] {
    const projects: ProjectSnapshot[] = [];
    trieCollect(this.projects, projects);
    const all: Container[] = [];
    for (const p of projects) trieCollect(p.byId, all);
    return all;
  }

  /**
   * Returns a portfolio with `c` added, or replacing the container with the same ID. `current`,
   * that container's current version (`null`: there is none), saves the lookup when the caller
   * knows it.
   */
  with(c: Container, current?: Container | null): PortfolioSnapshot {
    const old = current === undefined ? this.byIdOnly(c.id) : (current ?? undefined);
    if (old === c) return this;
    const hash = stringHash(c.id);
    let projects = this.projects;
    let projectOfId = this.projectOfId;
    const moves = !old || old.project !== c.project;
    if (old && moves) projects = dropFrom(projects, old, hash);
    if (moves) projectOfId = trieSet(projectOfId, c.id, hash, c.project);
    const projectHash = stringHash(c.project);
    const project = trieGet(projects, c.project, projectHash) ?? new ProjectSnapshot(c.project, 0, emptyTrie, emptyTrie);
    return new PortfolioSnapshot(
      old ? this.containerTotal : this.containerTotal + 1,
      trieSet(projects, c.project, projectHash, project.with(c, hash, moves ? undefined : old)),
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
    const hash = stringHash(id);
    return new PortfolioSnapshot(
      this.containerTotal - 1,
      dropFrom(this.projects, old, hash),
      trieDelete(this.projectOfId, id, hash),
      unnamed(this.idByName, old),
    );
  }
}

function dropFrom(projects: Trie<ProjectSnapshot>, c: Container, hash: number): Trie<ProjectSnapshot> {
  const projectHash = stringHash(c.project);
  const project = trieGet(projects, c.project, projectHash);
  if (!project) return projects;
  const rest = project.without(c, hash);
  return rest.size === 0 ? trieDelete(projects, c.project, projectHash) : trieSet(projects, c.project, projectHash, rest);
}

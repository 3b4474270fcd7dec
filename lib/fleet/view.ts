/**
 * The fleet's view model: one member watcher's portfolio with its containers tagged with their
 * engine, and the portfolio merged over all members. Unchanged containers, projects and
 * portfolios keep their object identity across snapshots.
 *
 * @module
 */
import { byName } from '../byName.js';
import type { ComposerProject, Container, EngineRef, Portfolio } from '../model.js';
import type { Watcher } from '../watcher.js';
import type { EngineSelector, FleetPortfolio } from './types.js';

/** One member watcher: its engine reference and the cache of engine-tagged container copies. */
export class Member {
  #ref: EngineRef | undefined;
  #tagged = new WeakMap<Container, Container>();
  #projects = new WeakMap<ComposerProject, ComposerProject>();
  #last: { source: Portfolio; view: EnginePortfolio } | undefined;

  constructor(readonly watcher: Watcher) {}

  get ref(): EngineRef {
    const { type, api } = this.watcher;
    if (this.#ref?.type !== type || this.#ref.api !== api) {
      // The type may become known only with the engine's identity (Podman): start afresh.
      this.#ref = Object.freeze({ type, api });
      this.#tagged = new WeakMap();
      this.#projects = new WeakMap();
      this.#last = undefined;
    }
    return this.#ref;
  }

  matches(engine: EngineSelector): boolean {
    const ref = this.ref;
    return typeof engine === 'string' ? ref.api === engine : ref.api === engine.api && ref.type === engine.type;
  }

  /** The container with `engine` set; the same object for the same source container. */
  tag(c: Container): Container {
    const engine = this.ref;
    let t = this.#tagged.get(c);
    if (!t) {
      t = Object.freeze({ ...c, engine });
      this.#tagged.set(c, t);
    }
    return t;
  }

  /** The project with tagged containers; the same object for the same source project. */
  project(p: ComposerProject): ComposerProject {
    void this.ref; // refreshes the caches should the engine type have changed
    let t = this.#projects.get(p);
    if (!t) {
      t = new TaggedProject(p, this);
      this.#projects.set(p, t);
    }
    return t;
  }

  /** The member's current portfolio as a tagged view; the same object while the source is. */
  view(source: Portfolio): EnginePortfolio {
    void this.ref; // refreshes the caches should the engine type have changed
    if (this.#last?.source !== source) this.#last = { source, view: new EnginePortfolio(source, this) };
    return this.#last.view;
  }
}

/** A source's containers (a project's or a portfolio's), tagged with the member's engine. */
abstract class TaggedContainers<S extends ComposerProject | Portfolio> {
  #containers?: readonly Container[];

  constructor(
    readonly source: S,
    readonly member: Member,
  ) {}

  containers(): readonly Container[] {
    return (this.#containers ??= Object.freeze(this.source.containers().map((c) => this.member.tag(c))));
  }

  container(nameOrId: string): Container | undefined {
    const c = this.source.container(nameOrId);
    return c && this.member.tag(c);
  }
}

/** One engine's project, its containers tagged with the engine. */
class TaggedProject extends TaggedContainers<ComposerProject> implements ComposerProject {
  get name(): string {
    return this.source.name;
  }

  containerNames(): readonly string[] {
    return this.source.containerNames();
  }
}

/** One project name over several engines. */
export class MergedProject implements ComposerProject {
  #containers?: readonly Container[];
  #names?: readonly string[];

  constructor(
    readonly name: string,
    readonly parts: readonly ComposerProject[],
  ) {}

  containers(): readonly Container[] {
    return (this.#containers ??= Object.freeze(this.parts.flatMap((p) => p.containers()).sort(byName)));
  }

  container(nameOrId: string): Container | undefined {
    for (const p of this.parts) {
      const c = p.container(nameOrId);
      if (c) return c;
    }
    return undefined;
  }

  containerNames(): readonly string[] {
    return (this.#names ??= Object.freeze(this.containers().map((c) => c.name)));
  }
}

/** One engine's portfolio, its containers tagged with the engine. */
class EnginePortfolio extends TaggedContainers<Portfolio> implements Portfolio {
  get containerTotal(): number {
    return this.source.containerTotal;
  }

  names(): readonly string[] {
    return this.source.names();
  }

  project(name: string): ComposerProject | undefined {
    const p = this.source.project(name);
    return p && this.member.project(p);
  }
}

export class MergedPortfolio implements FleetPortfolio {
  #names?: readonly string[];
  #containers?: readonly Container[];

  constructor(
    readonly views: readonly EnginePortfolio[],
    readonly projectCache: Map<string, MergedProject>,
  ) {}

  get containerTotal(): number {
    return this.views.reduce((n, v) => n + v.containerTotal, 0);
  }

  names(): readonly string[] {
    if (this.#names) return this.#names;
    const all = new Set<string>();
    for (const v of this.views) for (const n of v.names()) all.add(n);
    return (this.#names = Object.freeze([...all].sort()));
  }

  project(name: string): ComposerProject | undefined {
    const parts: ComposerProject[] = [];
    for (const v of this.views) {
      const p = v.project(name);
      if (p) parts.push(p);
    }
    if (parts.length <= 1) return parts[0];
    // Keep the merged project's identity while its parts are the same objects.
    const cached = this.projectCache.get(name);
    if (cached && cached.parts.length === parts.length && cached.parts.every((p, i) => p === parts[i])) return cached;
    const merged = new MergedProject(name, parts);
    this.projectCache.set(name, merged);
    return merged;
  }

  container(nameOrId: string, engine?: EngineSelector): Container | undefined {
    for (const v of this.views) {
      if (engine !== undefined && !v.member.matches(engine)) continue;
      const c = v.container(nameOrId);
      if (c) return c;
    }
    return undefined;
  }

  containers(): readonly Container[] {
    if (this.#containers) return this.#containers;
    const all = this.views.flatMap((v) => v.containers());
    if (this.views.length > 1) all.sort(byName);
    return (this.#containers = Object.freeze(all));
  }

  engines(): readonly EngineRef[] {
    return this.views.map((v) => v.member.ref);
  }

  engine(engine: EngineSelector): Portfolio | undefined {
    return this.views.find((v) => v.member.matches(engine));
  }
}

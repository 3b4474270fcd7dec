import { byName } from './byName.js';
import type { ComposerProject, Container, Portfolio } from './model.js';

// ---------------------------------------------------------------------------------------------
// A small persistent hash map with string keys (a CHAMP trie: 32-way nodes with a bitmap of the
// entries held inline and one of the sub-nodes). An update copies one node per level (at 10,000
// keys: three) and shares everything else. The hash of a key is computed by the caller, once per
// key and step, and passed to every map keyed by it.

/**
 * One node of the trie: `content` holds the inline entries as key, value pairs from the front,
 * then the sub-nodes in reverse bit order from the back. Below the last level of hash bits, a
 * node holds colliding keys as plain pairs (both bitmaps 0).
 */
class Node {
  constructor(
    readonly dataMap: number,
    readonly nodeMap: number,
    readonly content: readonly unknown[],
  ) {}
}

/** A trie of string keys to `V`; `Node` itself is untyped, the type lives in the functions. */
type Trie<V> = Node & { readonly __value?: V };

const LAST = 35; // shifts 0, 5, …, 30 consume the 32 hash bits; at 35, collisions
const emptyNode = new Node(0, 0, []);

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

let hashedKey = '';
let hashedValue = 0;

/**
 * The 32-bit hash of a string under which the portfolio's maps file it (a multiplicative hash
 * with a final avalanche). The last long key's hash is remembered: a step hashes its ID once.
 *
 * @example
 * stringHash('3f4e…') === stringHash('3f4e…'); // true
 */
export function stringHash(s: string): number {
  if (s === hashedKey) return hashedValue;
  let h = s.length;
  for (let i = 0; i < s.length; i++) h = Math.imul(h, 31) + s.charCodeAt(i) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  if (s.length > 16) {
    hashedKey = s;
    hashedValue = h;
  }
  return h;
}

function trieGet<V>(root: Trie<V>, key: string, hash: number): V | undefined {
  let node: Node = root;
  for (let shift = 0; shift < LAST; shift += 5) {
    const bit = 1 << ((hash >>> shift) & 31);
    if (node.dataMap & bit) {
      const i = 2 * popcount(node.dataMap & (bit - 1));
      return node.content[i] === key ? (node.content[i + 1] as V) : undefined;
    }
    if (!(node.nodeMap & bit)) return undefined;
    node = node.content[node.content.length - 1 - popcount(node.nodeMap & (bit - 1))] as Node;
  }
  const c = node.content;
  for (let i = 0; i < c.length; i += 2) if (c[i] === key) return c[i + 1] as V;
  return undefined;
}

/** Set by {@link trieSet} and {@link trieDelete}: whether the last call added or removed a key. */
let sizeChanged = false;

function trieSet<V>(node: Trie<V>, key: string, hash: number, value: V, shift = 0): Trie<V> {
  const c = node.content;
  if (shift >= LAST) {
    for (let i = 0; i < c.length; i += 2) {
      if (c[i] === key) return c[i + 1] === value ? node : new Node(0, 0, replaced(c, i + 1, value));
    }
    sizeChanged = true;
    return new Node(0, 0, [...c, key, value]);
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if (node.dataMap & bit) {
    const i = 2 * popcount(node.dataMap & (bit - 1));
    const k = c[i] as string;
    if (k === key) return c[i + 1] === value ? node : new Node(node.dataMap, node.nodeMap, replaced(c, i + 1, value));
    sizeChanged = true;
    const sub = pair(k, stringHash(k), c[i + 1], key, hash, value, shift + 5);
    // The pair moves from the inline entries to a sub-node.
    const j = c.length - 2 - popcount(node.nodeMap & (bit - 1));
    const next = new Array<unknown>(c.length - 1);
    for (let x = 0; x < i; x++) next[x] = c[x];
    for (let x = i; x < j; x++) next[x] = c[x + 2];
    next[j] = sub;
    for (let x = j + 1; x < next.length; x++) next[x] = c[x + 1];
    return new Node(node.dataMap ^ bit, node.nodeMap | bit, next);
  }
  if (node.nodeMap & bit) {
    const j = c.length - 1 - popcount(node.nodeMap & (bit - 1));
    const sub = c[j] as Node;
    const updated = trieSet(sub, key, hash, value, shift + 5);
    return updated === sub ? node : new Node(node.dataMap, node.nodeMap, replaced(c, j, updated));
  }
  sizeChanged = true;
  const i = 2 * popcount(node.dataMap & (bit - 1));
  const next = new Array<unknown>(c.length + 2);
  for (let x = 0; x < i; x++) next[x] = c[x];
  next[i] = key;
  next[i + 1] = value;
  for (let x = i; x < c.length; x++) next[x + 2] = c[x];
  return new Node(node.dataMap | bit, node.nodeMap, next);
}

function pair(k1: string, h1: number, v1: unknown, k2: string, h2: number, v2: unknown, shift: number): Node {
  if (shift >= LAST) return new Node(0, 0, [k1, v1, k2, v2]);
  const b1 = 1 << ((h1 >>> shift) & 31);
  const b2 = 1 << ((h2 >>> shift) & 31);
  if (b1 === b2) return new Node(0, b1, [pair(k1, h1, v1, k2, h2, v2, shift + 5)]);
  return new Node(b1 | b2, 0, (b1 >>> 0) < (b2 >>> 0) ? [k1, v1, k2, v2] : [k2, v2, k1, v1]);
}

function replaced(c: readonly unknown[], i: number, value: unknown): unknown[] {
  const next = c.slice();
  next[i] = value;
  return next;
}

/** The trie without `key`; with `only`, only if `key` maps to it (one walk, not a get and a delete). */
function trieDelete<V>(node: Trie<V>, key: string, hash: number, only?: V, shift = 0): Trie<V> {
  const c = node.content;
  if (shift >= LAST) {
    for (let i = 0; i < c.length; i += 2) {
      if (c[i] !== key) continue;
      if (only !== undefined && c[i + 1] !== only) return node;
      sizeChanged = true;
      return new Node(0, 0, [...c.slice(0, i), ...c.slice(i + 2)]);
    }
    return node;
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if (node.dataMap & bit) {
    const i = 2 * popcount(node.dataMap & (bit - 1));
    if (c[i] !== key || (only !== undefined && c[i + 1] !== only)) return node;
    sizeChanged = true;
    const next = new Array<unknown>(c.length - 2);
    for (let x = 0; x < i; x++) next[x] = c[x];
    for (let x = i; x < next.length; x++) next[x] = c[x + 2];
    return new Node(node.dataMap ^ bit, node.nodeMap, next);
  }
  if (!(node.nodeMap & bit)) return node;
  const j = c.length - 1 - popcount(node.nodeMap & (bit - 1));
  const sub = c[j] as Node;
  const updated = trieDelete(sub, key, hash, only, shift + 5);
  if (updated === sub) return node;
  if (updated.nodeMap !== 0 || updated.content.length !== 2) {
    return new Node(node.dataMap, node.nodeMap, replaced(c, j, updated));
  }
  // The sub-node keeps one entry: it moves inline, so that the trie stays canonical.
  const i = 2 * popcount(node.dataMap & (bit - 1));
  const next = new Array<unknown>(c.length + 1);
  for (let x = 0; x < i; x++) next[x] = c[x];
  next[i] = updated.content[0];
  next[i + 1] = updated.content[1];
  for (let x = i; x < j; x++) next[x + 2] = c[x];
  for (let x = j + 1; x < c.length; x++) next[x + 1] = c[x];
  return new Node(node.dataMap | bit, node.nodeMap ^ bit, next);
}

/** Pushes every value of the trie onto `out` (`keys`: the keys instead). */
function trieCollect<V>(node: Trie<V>, out: unknown[], keys = false): void {
  const c = node.content;
  const data = node.dataMap === 0 && node.nodeMap === 0 ? c.length : 2 * popcount(node.dataMap);
  for (let i = keys ? 0 : 1; i < data; i += 2) out.push(c[i]);
  for (let j = data; j < c.length; j++) trieCollect(c[j] as Node, out, keys);
}

// ---------------------------------------------------------------------------------------------

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
    sizeChanged = false;
    const byId = trieSet(this.byId, c.id, hash, c);
    return new ProjectSnapshot(this.name, sizeChanged ? this.size + 1 : this.size, byId, renamed(this.idByName, c, old));
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
  static readonly empty = new PortfolioSnapshot(0, emptyNode, emptyNode, emptyNode);

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
    const project = trieGet(projects, c.project, projectHash) ?? new ProjectSnapshot(c.project, 0, emptyNode, emptyNode);
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

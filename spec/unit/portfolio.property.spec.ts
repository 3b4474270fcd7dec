import { expect } from 'chai';
import fc from 'fast-check';
import type { Container } from '../../lib/model.js';
import { stringHash } from '../../lib/hashTrie.js';
import { PortfolioSnapshot } from '../../lib/portfolio.js';

const runs = Number(process.env.WHALEWATCHER_PROPERTY_RUNS ?? 1000);

/**
 * Two distinct long IDs with the same 32-bit hash under this process's multiplier, found by a
 * birthday search (a 32-bit hash repeats within a few hundred thousand keys).
 */
function collidingPair(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `${i.toString(16)}-long-enough-to-be-remembered`;
    const other = seen.get(stringHash(id));
    if (other !== undefined) return [other, id];
    seen.set(stringHash(id), id);
  }
}

const [twinA, twinB] = collidingPair();
const ids = [twinA, twinB, ...Array.from({ length: 30 }, (_, i) => `${i.toString(16).padStart(2, '0')}${'ab'.repeat(31)}`), 'a', 'b'];
const names = ['web', 'db', 'cache', 'proxy', 'worker', 'x'];
const projects = ['', 'shop', 'blog'];

type Op = { add: true; id: number; name: number; project: number; paused: boolean } | { add: false; id: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ add: fc.constant(true as const), id: fc.nat(ids.length - 1), name: fc.nat(names.length - 1), project: fc.nat(projects.length - 1), paused: fc.boolean() }),
  fc.record({ add: fc.constant(false as const), id: fc.nat(ids.length - 1) }),
);

/**
 * The model: native Maps updated in place, with the portfolio's name rules (a name is claimed by
 * arrivals and renames, and released only by its claimant), in the portfolio and per project.
 */
class Model {
  readonly byId = new Map<string, Container>();
  readonly names = new Map<string, string>();
  readonly projectNames = new Map<string, Map<string, string>>();

  with(c: Container): void {
    const old = this.byId.get(c.id);
    if (old === c) return;
    if (old?.name !== c.name) {
      if (old && this.names.get(old.name) === old.id) this.names.delete(old.name);
      this.names.set(c.name, c.id);
    }
    if (old && old.project !== c.project) this.release(old);
    if (!old || old.project !== c.project || old.name !== c.name) {
      const pn = this.projectNames.get(c.project) ?? new Map<string, string>();
      this.projectNames.set(c.project, pn);
      if (old && old.project === c.project && pn.get(old.name) === old.id) pn.delete(old.name);
      pn.set(c.name, c.id);
    }
    this.byId.set(c.id, c);
  }

  without(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    if (this.names.get(old.name) === id) this.names.delete(old.name);
    this.release(old);
  }

  private release(c: Container): void {
    const pn = this.projectNames.get(c.project)!;
    if (pn.get(c.name) === c.id) pn.delete(c.name);
    if (![...this.byId.values()].some((x) => x.project === c.project && x.id !== c.id)) this.projectNames.delete(c.project);
  }

  /** Everything a reader can ask of a portfolio, as plain data. */
  view(): unknown {
    const sorted = (cs: Container[]) => cs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
    const all = sorted([...this.byId.values()]);
    const keys = [...ids, ...names, 'nope'];
    return {
      total: all.length,
      names: [...this.projectNames.keys()].filter((n) => n !== '').sort(),
      containers: all,
      lookups: keys.map((k) => this.byId.get(k) ?? this.byId.get(this.names.get(k) ?? '')),
      projects: projects.map((p) => {
        if (!this.projectNames.has(p)) return undefined;
        const members = all.filter((c) => c.project === p);
        const pn = this.projectNames.get(p)!;
        const inProject = (id: string | undefined) => (id === undefined ? undefined : members.find((c) => c.id === id));
        return { containers: members, names: members.map((c) => c.name), lookups: keys.map((k) => inProject(k) ?? inProject(pn.get(k))) };
      }),
    };
  }
}

function view(p: PortfolioSnapshot): unknown {
  const keys = [...ids, ...names, 'nope'];
  return {
    total: p.containerTotal,
    names: p.names(),
    containers: p.containers(),
    lookups: keys.map((k) => p.container(k)),
    projects: projects.map((name) => {
      const project = p.project(name);
      if (!project) return undefined;
      return { containers: project.containers(), names: project.containerNames(), lookups: keys.map((k) => project.container(k)) };
    }),
  };
}

describe('portfolio snapshots against a mutable model (fast-check)', function () {
  this.timeout(120_000);

  it('found two IDs with one hash, so that collisions are exercised', () => {
    expect(twinA).to.not.equal(twinB);
    expect(stringHash(twinA)).to.equal(stringHash(twinB));
  });

  it(`answers as the model after every step, and earlier snapshots never change (${runs} runs)`, () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const model = new Model();
        let p = PortfolioSnapshot.empty;
        const history: [PortfolioSnapshot, unknown][] = [];
        for (const o of ops) {
          if (o.add) {
            const c: Container = Object.freeze({ id: ids[o.id]!, name: names[o.name]!, project: projects[o.project]!, labels: {}, pid: 1, paused: o.paused });
            const known = p.byIdOnly(c.id);
            p = p.with(c, o.id % 2 ? undefined : (known ?? null));
            model.with(c);
          } else {
            p = o.id % 2 ? p.without(ids[o.id]!) : p.without(ids[o.id]!, p.byIdOnly(ids[o.id]!));
            model.without(ids[o.id]!);
          }
          const expected = model.view();
          expect(view(p)).to.deep.equal(expected);
          history.push([p, expected]);
        }
        for (const [snapshot, expected] of history) expect(view(snapshot)).to.deep.equal(expected);
      }),
      { numRuns: runs },
    );
  });
});

import { expect } from 'chai';
import type { Container } from '../../lib/model.js';
import { PortfolioSnapshot } from '../../lib/portfolio.js';

const c = (id: string, name: string, project: string, more: Partial<Container> = {}): Container =>
  Object.freeze({ id, name, project, labels: {}, pid: 1, paused: false, ...more });

describe('portfolio snapshots', () => {
  const web = c('a1', 'web', 'shop');
  const db = c('b2', 'db', 'shop');
  const solo = c('c3', 'solo', '');
  const p = PortfolioSnapshot.empty.with(web).with(db).with(solo);

  it('groups by project, sorted, without the unnamed project in names()', () => {
    expect(p.names()).to.deep.equal(['shop']);
    expect(p.project('shop')?.containerNames()).to.deep.equal(['db', 'web']);
    expect(p.project('')?.containers()).to.deep.equal([solo]);
    expect(p.containerTotal).to.equal(3);
    expect(p.containers().map((x) => x.name)).to.deep.equal(['db', 'solo', 'web']);
  });

  it('finds containers by ID and by name, in the portfolio and in projects', () => {
    expect(p.container('a1')).to.equal(web);
    expect(p.container('web')).to.equal(web);
    expect(p.project('shop')?.container('db')).to.equal(db);
    expect(p.project('shop')?.container('solo')).to.equal(undefined);
    expect(p.container('nope')).to.equal(undefined);
  });

  it('shares structure: untouched projects and containers keep their identity', () => {
    const q = p.with(c('c3', 'solo', '', { paused: true }));
    expect(q).to.not.equal(p);
    expect(q.project('shop')).to.equal(p.project('shop'));
    expect(q.container('web')).to.equal(web);
    expect(p.container('solo')?.paused).to.equal(false); // the old snapshot is unchanged
  });

  it('moves a container between projects and renames it', () => {
    const q = p.with(c('a1', 'www', 'blog'));
    expect(q.names()).to.deep.equal(['blog', 'shop']);
    expect(q.project('shop')?.containerNames()).to.deep.equal(['db']);
    expect(q.container('web')).to.equal(undefined);
    expect(q.container('www')?.project).to.equal('blog');
  });

  it('drops empty projects and ignores unknown removals', () => {
    const q = p.without('c3');
    expect(q.project('')).to.equal(undefined);
    expect(q.without('zz')).to.equal(q);
    expect(q.with(web)).to.equal(q);
  });

  it('keeps the name index right when two containers claim one name', () => {
    const twin = c('d4', 'web', 'shop');
    const q = p.with(twin).without('a1');
    expect(q.container('web')).to.equal(twin);
    expect(p.with(twin).without('d4').container('web')).to.equal(undefined);
  });

  it('lets arrivals and renames claim a name, not updates that keep it', () => {
    const twin = c('d4', 'web', 'shop');
    const q = p.with(twin).with(c('a1', 'web', 'shop', { paused: true }));
    expect(q.container('web')).to.equal(twin);
    expect(q.project('shop')?.container('web')).to.equal(twin);
    const r = q.with(c('a1', 'www', 'shop')).with(c('a1', 'web', 'shop'));
    expect(r.container('web')?.id).to.equal('a1');
  });

  it('takes the current version from the caller when given, and null for none', () => {
    const paused = c('a1', 'web', 'shop', { paused: true });
    expect(p.with(paused, web).container('a1')).to.equal(paused);
    const q = p.with(c('e5', 'cache', 'shop'), null);
    expect(q.containerTotal).to.equal(4);
    expect(q.container('cache')?.id).to.equal('e5');
    expect(p.without('a1', web).container('a1')).to.equal(undefined);
    expect(p.without('a1', web).containerTotal).to.equal(2);
  });
});

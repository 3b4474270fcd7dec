import { expect } from 'chai';
import { UsageError, parseCli } from '../../cli/args.js';
import { discoverEngines } from '../../cli/discover.js';
import { escapeTerminal, safeJson } from '../../cli/escape.js';
import { eventLine, snapshotLine } from '../../cli/json.js';
import { renderView, shortId } from '../../cli/render.js';
import type { EngineStatus } from '../../cli/session.js';
import { fleet } from '../../lib/fleet/index.js';
import { FakeEngine } from '../../lib/testing/index.js';
import { watch } from '../../lib/watch.js';

describe('cli (pure parts)', () => {
  it('escapeTerminal makes control characters visible and leaves ordinary text alone', () => {
    expect(escapeTerminal('web-1 ünïcode ✓')).to.equal('web-1 ünïcode ✓');
    expect(escapeTerminal('a\x1b[2Jb')).to.equal('a\\e[2Jb');
    expect(escapeTerminal('\x07\x00\x7f\x9b')).to.equal('\\x07\\x00\\x7f\\x9b');
    expect(escapeTerminal('x\ny\tz\\')).to.equal('x\\ny\\tz\\\\');
    expect(escapeTerminal('abc\u202edef')).to.equal('abc\\u{202e}def');
  });

  it('the JSON outputs escape C1 controls and bidi overrides as \\uXXXX, and parse back to the same text', async () => {
    const evil = 'web\u0085\u009b2J\u202eevil\u2066x\u2069\u2028\u007f';
    expect(safeJson({ name: evil })).to.equal('{"name":"web\\u0085\\u009b2J\\u202eevil\\u2066x\\u2069\\u2028\\u007f"}');
    expect(JSON.parse(safeJson({ name: evil })).name).to.equal(evil);
    const engine = new FakeEngine();
    engine.start({ id: 'c1', name: evil, labels: { [evil]: evil } });
    const w = watch(engine);
    const events: string[] = [];
    w.events$.subscribe((e) => events.push(eventLine(e)));
    const p = await w.ready();
    const lines = [snapshotLine(p, []), ...events];
    expect(lines).to.have.length(2);
    for (const line of lines) {
      expect(line).to.not.match(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
      expect(JSON.stringify(JSON.parse(line))).to.include(evil);
    }
    await w.close();
  });

  it('parseCli: repeatable engines, modes, errors', () => {
    const a = parseCli(['--docker', 'unix:///a', '--docker', 'tcp://b:2375', '--cri', '/c', '--once', '--json']);
    expect(a.engines).to.deep.equal({ docker: ['unix:///a', 'tcp://b:2375'], containerd: [], cri: ['/c'] });
    expect([a.once, a.json, a.events]).to.deep.equal([true, true, false]);
    expect(a.timeout).to.equal(10_000);
    expect(a.resync).to.equal(undefined);
    expect(parseCli(['--resync', '2.5']).resync).to.equal(2500);
    expect(() => parseCli(['--bogus'])).to.throw(UsageError);
    expect(() => parseCli(['stray'])).to.throw(UsageError);
    expect(() => parseCli(['--once', '--events'])).to.throw(UsageError);
    expect(() => parseCli(['--timeout', 'soon'])).to.throw(UsageError);
  });

  it('discoverEngines: flags win; else DOCKER_HOST and existing usual sockets', () => {
    const none = { docker: [], containerd: [], cri: [] };
    const given = discoverEngines({ ...none, containerd: ['/x.sock'] }, {}, () => false);
    expect(given.engines).to.deep.equal([{ kind: 'containerd', endpoint: '/x.sock', source: 'flag' }]);
    const found = discoverEngines(none, { DOCKER_HOST: 'tcp://h:2375' }, (p) => p === '/run/containerd/containerd.sock');
    expect(found.engines).to.deep.equal([
      { kind: 'docker', endpoint: 'tcp://h:2375', source: 'DOCKER_HOST' },
      { kind: 'containerd', endpoint: '/run/containerd/containerd.sock', source: 'default' },
    ]);
    const empty = discoverEngines(none, {}, () => false);
    expect(empty.engines).to.deep.equal([]);
    expect(empty.tried).to.include('docker /var/run/docker.sock (no such socket)');
  });

  it('shortId: 12 hex digits of long IDs, others as they are', () => {
    expect(shortId('a'.repeat(64))).to.equal('a'.repeat(12));
    expect(shortId('ns/web')).to.equal('ns/web');
  });

  it('renderView: per engine and project, escaped, with state and counts', async () => {
    const e = new FakeEngine({ type: 'docker.com', api: 'unix:///d.sock' });
    e.start({ id: 'b'.repeat(64), name: 'web\x1b[31m', labels: { 'com.docker.compose.project': 'shop' }, paused: true });
    e.start({ id: 'c1', name: 'solo' });
    const w = watch(e);
    const all = fleet(w);
    await all.ready();
    const status: EngineStatus = { spec: { kind: 'docker', endpoint: 'unix:///d.sock', source: 'flag' }, watcher: w, state: { state: 'synced', at: new Date() }, since: Date.now(), everSynced: true, identity: { id: 'ID1', version: 'Fake 1.0' } };
    const text = renderView(all.portfolio, [status]);
    expect(text).to.include('1 engine (1 synced) · 2 containers');
    expect(text).to.include('docker.com  unix:///d.sock  Fake 1.0 (id ID1)');
    expect(text).to.include('synced · 2 containers · 1 project');
    expect(text).to.include('project shop · 1 container');
    expect(text).to.match(/web\\e\[31m\s+bbbbbbbbbbbb\s+\d+\s+paused/);
    expect(text).to.include('(no project) · 1 container');
    expect(text).to.not.include('\x1b');
    const reconnecting: EngineStatus = { ...status, state: { state: 'reconnecting', error: new Error('refused'), delay: 5000, attempt: 2 }, since: Date.now() };
    expect(renderView(all.portfolio, [reconnecting])).to.match(/reconnecting in [45] s \(attempt 2\): refused/);
    await all.close();
  });
});

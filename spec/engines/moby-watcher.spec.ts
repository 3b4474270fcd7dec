/**
 * The moby watcher against real private Docker and Podman: every scenario of issue 4, after
 * each step the portfolio equals the engine's own answer (docker ps + docker inspect, PIDs
 * included) and events$ delivered exactly the expected lifecycle events of the suite's own
 * containers, in order. Other suites may run containers on the same engines: the portfolio is
 * compared with the whole engine, the events only for our containers.
 */
import { expect } from 'chai';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { LifecycleEvent } from '../../lib/model.js';
import type { Watcher, WatcherState } from '../../lib/watcher.js';
import { crashEngine, describeEngine, docker, isProvisioned, restartEngine, uniqueName, waitFor, skipOrFail } from '../support/engines.js';
import { activeResources } from '../support/reliability-helpers.js';
import { type HoldingProxy, MOBY_ENGINES, type Seen, engineAnswer, holdingProxy, inSync, removeTestContainers, run } from './moby-helpers.js';

/** Node's active handles and timers, less the child processes of the suite's own CLI calls. */
const ownResources = (): string[] => activeResources(['ProcessWrap', 'FSReqCallback']);

for (const engine of MOBY_ENGINES) {
  describeEngine(engine.key, `moby watcher on ${engine.title}: scenarios`, (endpoint) => {
    let w: Watcher;
    let proxy: HoldingProxy;
    const log: LifecycleEvent[] = [];
    const states: WatcherState['state'][] = [];
    /** Our containers by role. */
    const ids: Record<string, string> = {};
    const names: Record<string, string> = {};
    let resourcesBefore: string[];

    /** Events of our containers since mark, as "type role" strings. */
    const roleOf = (id: string) => Object.keys(ids).find((r) => ids[r] === id);
    const ours = (from: number) =>
      log
        .slice(from)
        .filter((e) => roleOf(e.container.id))
        .map((e) => `${e.type} ${roleOf(e.container.id)}`);

    /** Waits until the portfolio equals the engine's answer, and returns it. */
    const synced = (what: string): Promise<Seen[]> => inSync(w, endpoint(), what);

    /** Waits for our events since `from` to be `expected`, then checks nothing more comes. */
    async function expectEvents(from: number, expected: string[], what: string): Promise<void> {
      try {
        await waitFor(() => ours(from).length >= expected.length, { timeoutMs: 20_000, what: `events (${what})` });
      } catch {
        // fall through to the exact comparison, which shows what came instead
      }
      expect(ours(from), what).to.deep.equal(expected);
    }

    const start = async (role: string, options: Parameters<typeof run>[2] = {}) => {
      names[role] = options.name ?? uniqueName(`moby-${role}`);
      ids[role] = await run(endpoint(), engine.image(), { ...options, name: names[role] });
      return ids[role]!;
    };
    const pid = (seen: Seen[], role: string) => seen.find((c) => c.id === ids[role])?.pid;

    before(async function () {
      this.timeout(300_000);
      await removeTestContainers(endpoint());
      await new Promise((r) => setImmediate(r));
      resourcesBefore = ownResources();
      await Promise.all([
        start('alpha1', { project: 'alpha' }),
        start('alpha2', { project: 'alpha' }),
        start('beta1', { project: 'beta' }),
        start('solo1'),
        start('doomed'),
        start('frozen'),
      ]);
      await docker(endpoint(), 'pause', ids['frozen']!);
    });

    after(async function () {
      this.timeout(300_000);
      await w?.close();
      await proxy?.close();
      await removeTestContainers(endpoint());
    });

    it('syncs what ran before the watch and what changed during the initial list', async () => {
      // The proxy holds the engine's answer to the first list: containers started, killed and
      // paused meanwhile make that answer stale by the time it lands.
      proxy = await holdingProxy(endpoint(), /^GET \/containers\/json/, 'response');
      w = mobyWatcher(proxy.api, {
        resyncInterval: 0,
        backoff: { initialDelay: 100, maxDelay: 1000, jitter: 0 },
        rucksack: (d) => d.raw,
      });
      expect(w.type).to.equal('docker.com'); // before the first connection: the adapter's default
      w.events$.subscribe((e) => log.push(e));
      w.state$.subscribe((s) => states.push(s.state));
      const ready = w.ready({ signal: AbortSignal.timeout(60_000) });
      await proxy.held;
      await start('during', { project: 'beta' });
      await docker(endpoint(), 'rm', '-f', ids['doomed']!);
      await docker(endpoint(), 'pause', ids['alpha2']!);
      proxy.release();
      const portfolio = await ready;
      expect(w.type).to.equal(engine.type);
      const seen = await synced('initial sync');
      expect(portfolio.names()).to.include.members(['alpha', 'beta']);
      expect(portfolio.project('alpha')!.containerNames()).to.include.members([names['alpha1'], names['alpha2']]);
      expect(portfolio.project('')!.containerNames()).to.include.members([names['solo1'], names['frozen']]);
      expect(w.portfolio.container(ids['alpha2']!)!.paused).to.equal(true);
      expect(w.portfolio.container(ids['frozen']!)!.paused).to.equal(true);
      expect(w.portfolio.container(ids['doomed']!)).to.equal(undefined);
      for (const c of w.portfolio.containers()) expect((c.rucksack as { Id: string }).Id).to.equal(c.id);
      expect(pid(seen, 'during')).to.be.greaterThan(0);
      // Every container found is announced once with `started`; the one killed during the list is not.
      const started = ours(0).filter((e) => e.startsWith('started')).sort();
      expect(started).to.deep.equal(['alpha1', 'alpha2', 'beta1', 'during', 'frozen', 'solo1'].map((r) => `started ${r}`).sort());
      expect(ours(0).filter((e) => e.endsWith(' doomed'))).to.deep.equal([]);
      expect(await w.id()).to.equal(await w.id());
      expect(await w.version()).to.match(engine.key === 'podman' ? /^Podman Engine \d/ : /^Docker Engine \d/);
    });

    it('starts a container after the sync', async () => {
      const mark = log.length;
      await start('late', { project: 'alpha' });
      await expectEvents(mark, ['started late'], 'late start');
      await synced('late start');
      expect(w.portfolio.project('alpha')!.container(names['late']!)!.id).to.equal(ids['late']);
    });

    it('pauses and unpauses, also back to back', async () => {
      let mark = log.length;
      await docker(endpoint(), 'pause', ids['alpha1']!);
      await expectEvents(mark, ['paused alpha1'], 'pause');
      await synced('pause');
      mark = log.length;
      await docker(endpoint(), 'unpause', ids['alpha1']!);
      await expectEvents(mark, ['unpaused alpha1'], 'unpause');
      await synced('unpause');
      mark = log.length;
      await docker(endpoint(), 'pause', ids['beta1']!);
      await docker(endpoint(), 'unpause', ids['beta1']!);
      await docker(endpoint(), 'unpause', ids['alpha2']!);
      await docker(endpoint(), 'pause', ids['alpha2']!);
      await expectEvents(mark, ['paused beta1', 'unpaused beta1', 'unpaused alpha2', 'paused alpha2'], 'back to back');
      await synced('back to back');
      expect(w.portfolio.container(ids['beta1']!)!.paused).to.equal(false);
      expect(w.portfolio.container(ids['alpha2']!)!.paused).to.equal(true);
    });

    it('kills a container', async () => {
      const mark = log.length;
      await docker(endpoint(), 'rm', '-f', ids['beta1']!);
      await expectEvents(mark, ['exited beta1'], 'kill');
      await synced('kill');
      expect(w.portfolio.container(ids['beta1']!)).to.equal(undefined);
    });

    it('follows docker restart: a new lifetime with a new PID', async () => {
      const before = w.portfolio.container(ids['solo1']!)!.pid;
      const mark = log.length;
      await docker(endpoint(), 'restart', '-t', '0', ids['solo1']!);
      await expectEvents(mark, ['exited solo1', 'started solo1'], 'restart');
      const seen = await synced('restart');
      expect(pid(seen, 'solo1')).to.be.greaterThan(0).and.not.equal(before);
    });

    it('renames without a lifecycle event', async () => {
      const mark = log.length;
      const renamed = `${names['alpha1']}-renamed`;
      await docker(endpoint(), 'rename', names['alpha1']!, renamed);
      await waitFor(() => w.portfolio.container(ids['alpha1']!)?.name === renamed, { what: 'renamed in portfolio' });
      await synced('rename');
      expect(w.portfolio.container(renamed)!.id).to.equal(ids['alpha1']);
      expect(w.portfolio.project('alpha')!.container(renamed)!.id).to.equal(ids['alpha1']);
      expect(w.portfolio.container(names['alpha1']!)).to.equal(undefined);
      expect(ours(mark)).to.deep.equal([]);
      names['alpha1'] = renamed;
    });

    it('sees a container whose process exits by itself', async () => {
      const mark = log.length;
      await start('brief', { cmd: ['sh', '-c', 'sleep 1'] });
      await expectEvents(mark, ['started brief', 'exited brief'], 'exit by itself');
      await synced('exit by itself');
      expect(w.portfolio.container(ids['brief']!)).to.equal(undefined);
    });

    it('survives an engine crash and restart', async function () {
      if (!isProvisioned(engine.key)) skipOrFail(this, `not the provisioning's own ${engine.key}: never crash it`);
      this.timeout(300_000);
      await start('phoenix', { args: ['--restart', 'always'] });
      await start('mortal', { project: 'alpha' });
      await synced('before the crash');
      const before = await engineAnswer(endpoint());
      const mark = log.length;
      const stateMark = states.length;
      await crashEngine(engine.key);
      await waitFor(() => states.slice(stateMark).includes('reconnecting'), { what: 'reconnecting', timeoutMs: 30_000 });
      // A container that dies while the engine is down (Podman's containers outlive its service).
      const victim = pid(before, 'mortal');
      try {
        process.kill(victim!, 'SIGKILL');
      } catch {
        // already gone with the engine (dockerd without live-restore)
      }
      await restartEngine(engine.key);
      await waitFor(() => states.slice(stateMark).includes('synced'), { what: 'synced again', timeoutMs: 120_000 });
      const after = await synced('after the restart');
      const expected: string[] = [];
      for (const c of before) {
        const role = roleOf(c.id);
        if (!role) continue;
        const now = after.find((x) => x.id === c.id);
        if (!now) expected.push(`exited ${role}`);
        else if (now.pid !== c.pid) expected.push(`exited ${role}`, `started ${role}`);
      }
      console.log(`      ${engine.title} crash + restart: ${JSON.stringify(expected)}`);
      expect(expected, 'the mortal container died').to.include('exited mortal');
      // Order across containers is the reconciliation's; per container it must be exact.
      await waitFor(() => ours(mark).length >= expected.length, { what: 'crash events', timeoutMs: 20_000 }).catch(() => undefined);
      const got = ours(mark);
      expect([...got].sort(), 'events after the crash').to.deep.equal([...expected].sort());
      for (const role of new Set(expected.map((e) => e.split(' ')[1]))) {
        expect(got.filter((e) => e.endsWith(` ${role}`))).to.deep.equal(expected.filter((e) => e.endsWith(` ${role}`)));
      }
      if (engine.type === 'docker.com') {
        // dockerd without live-restore: only the restart policy brings a container back, with a new PID.
        expect(after.find((c) => c.id === ids['phoenix'])?.pid).to.be.greaterThan(0).and.not.equal(pid(before, 'phoenix'));
      }
    });

    it('leaves no socket or timer behind after close()', async () => {
      await w.close();
      await proxy.close();
      await waitFor(() => JSON.stringify(ownResources()) === JSON.stringify(resourcesBefore), {
        what: 'no leftover resources',
        timeoutMs: 5_000,
      }).catch(() => undefined);
      expect(ownResources()).to.deep.equal(resourcesBefore);
      expect(states.at(-1)).to.equal('closed');
    });
  });
}

/**
 * fleet() over two real engines at once, Docker and Podman, with Podman's service crashed and
 * restarted mid-run: Docker's containers stay visible and current meanwhile, the fleet's state
 * follows the worst member, and everything is back and untangled after the restart.
 */
import { expect } from 'chai';
import type { Subscription } from 'rxjs';
import { mobyWatcher } from '../../engines/moby/index.js';
import { type Fleet, fleet } from '../../lib/fleet/index.js';
import type { LifecycleEvent } from '../../lib/model.js';
import type { WatcherState } from '../../lib/watcher.js';
import { crashEngine, docker, isProvisioned, requireEngine, restartEngine, testEngines, uniqueName, waitFor, skipOrFail } from '../support/engines.js';
import { removeTestContainers, run } from './moby-helpers.js';

describe('fleet over Docker and Podman (real engines), Podman restarted mid-run', function () {
  this.timeout(300_000);
  let dockerApi: string;
  let podmanApi: string;
  let all: Fleet | undefined;
  const subs: Subscription[] = [];

  before(async function () {
    dockerApi = await requireEngine(this, 'docker');
    podmanApi = await requireEngine(this, 'podman');
    if (!isProvisioned('podman', podmanApi)) skipOrFail(this, 'not the provisioning\'s own Podman: never crash it');
  });

  after(async () => {
    for (const s of subs.splice(0)) s.unsubscribe();
    await all?.close();
    if (podmanApi && !(await waitFor(() => docker(podmanApi, 'version'), { timeoutMs: 5_000 }).catch(() => false))) {
      await restartEngine('podman').catch(() => undefined);
    }
    if (dockerApi) await removeTestContainers(dockerApi).catch(() => undefined);
    if (podmanApi) await removeTestContainers(podmanApi).catch(() => undefined);
  });

  it('keeps both engines apart, stays current through the crash, and recovers', async () => {
    const images = testEngines().images;
    const sameName = uniqueName('fleet');
    const d1 = await run(dockerApi, images.docker, { name: sameName, project: 'ww-fleet', cmd: ['sleep', '300'] });
    const p1 = await run(podmanApi, images.podman, { name: sameName, project: 'ww-fleet', cmd: ['sleep', '300'] });

    all = fleet(
      mobyWatcher(dockerApi, { backoff: { initialDelay: 100, maxDelay: 1000 } }),
      mobyWatcher(podmanApi, { backoff: { initialDelay: 100, maxDelay: 1000 } }),
    );
    const states: WatcherState['state'][] = [];
    const events: LifecycleEvent[] = [];
    subs.push(all.state$.subscribe((s) => states.push(s.state)));
    subs.push(all.events$.subscribe((e) => events.push(e)));
    const p = await all.ready({ signal: AbortSignal.timeout(60_000) });

    // One name on two engines: two containers, each with its engine.
    const docker1 = p.container(d1)!;
    const podman1 = p.container(p1)!;
    expect(docker1.engine).to.deep.equal({ type: 'docker.com', api: dockerApi });
    expect(podman1.engine).to.deep.equal({ type: 'podman.io', api: podmanApi });
    expect(p.container(sameName, dockerApi)!.id).to.equal(d1);
    expect(p.container(sameName, podmanApi)!.id).to.equal(p1);
    expect(p.project('ww-fleet')!.containers().map((c) => c.id).sort()).to.deep.equal([d1, p1].sort());
    expect(all.watchers.map((w) => w.type)).to.deep.equal(['docker.com', 'podman.io']);

    // Podman's service crashes: the fleet reconnects, Docker stays current.
    const mark = states.length;
    await crashEngine('podman');
    await waitFor(() => states.slice(mark).includes('reconnecting'), { timeoutMs: 30_000, what: 'fleet reconnecting' });
    const d2 = await run(dockerApi, images.docker, { project: 'ww-fleet', cmd: ['sleep', '300'] });
    await waitFor(() => all!.portfolio.container(d2), { timeoutMs: 20_000, what: 'Docker container started during the outage' });
    expect(all.portfolio.container(d2)!.engine!.type).to.equal('docker.com');
    expect(all.portfolio.container(d1)).to.equal(docker1); // unchanged: the same object
    expect(['reconnecting', 'connecting']).to.include((await stateNow(all)).state);

    // Back again: synced, Podman's survivor still there (conmon outlives the service), no duplicates.
    await restartEngine('podman');
    await waitFor(() => states.slice(mark).includes('synced'), { timeoutMs: 120_000, what: 'fleet synced again' });
    const p2 = await run(podmanApi, images.podman, { project: 'ww-fleet', cmd: ['sleep', '300'] });
    await waitFor(() => all!.portfolio.container(p2), { timeoutMs: 30_000, what: 'Podman container started after the restart' });
    const after = all.portfolio;
    expect(after.container(p1)?.engine?.type).to.equal('podman.io');
    expect(after.container(p2)!.engine).to.deep.equal({ type: 'podman.io', api: podmanApi });
    expect(after.project('ww-fleet')!.containers().map((c) => c.id).sort()).to.deep.equal([d1, d2, p1, p2].sort());
    const ids = after.containers().map((c) => `${c.engine!.api} ${c.id}`);
    expect(new Set(ids).size).to.equal(ids.length);
    const startedOf = (id: string) => events.filter((e) => e.container.id === id && e.type === 'started').length;
    expect([startedOf(d2), startedOf(p2)]).to.deep.equal([1, 1]);
    expect(startedOf(d1), 'a Docker survivor is not announced again').to.equal(1);
    expect(startedOf(p1), 'the Podman survivor is not announced again').to.equal(1);
  });
});

async function stateNow(f: Fleet): Promise<WatcherState> {
  let now: WatcherState | undefined;
  f.state$.subscribe((s) => (now = s)).unsubscribe();
  return now!;
}

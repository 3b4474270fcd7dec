/**
 * The moby adapter against real private Docker and Podman: list, inspect, info and events,
 * each compared with the engine's own answer through the Docker CLI.
 */
import { expect } from 'chai';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { PRIVILEGED_LABEL, createMobyAdapter } from '../../engines/moby/adapter.js';
import type { EngineAdapter, EngineEvent } from '../../lib/adapter.js';
import { WatcherAbortedError } from '../../lib/errors.js';
import { describeEngine, docker, isProvisioned, uniqueName, waitFor } from '../support/engines.js';
import { MOBY_ENGINES, engineAnswer, holdingProxy, removeTestContainers, run } from './moby-helpers.js';
import { inspectAlive, listAlive } from '../support/answers.js';

for (const engine of MOBY_ENGINES) {
  describeEngine(engine.key, `moby adapter on ${engine.title}`, (endpoint) => {
    let adapter: EngineAdapter;
    const ids: string[] = [];
    let privileged = false;

    before(async () => {
      adapter = createMobyAdapter(endpoint());
      ids.push(await run(endpoint(), engine.image(), { project: 'alpha' }));
      // Privileged containers need capabilities that this machine's dockerd lacks ("unable to
      // apply caps"); Podman runs them. Where it fails, a plain one stands in.
      const pname = uniqueName('moby-priv');
      privileged = await run(endpoint(), engine.image(), { name: pname, labels: { 'x.y': 'z' }, args: ['--privileged'] }).then(
        () => true,
        () => false,
      );
      if (privileged) ids.push(await docker(endpoint(), 'inspect', '-f', '{{.Id}}', pname));
      else ids.push(await run(endpoint(), engine.image(), { labels: { 'x.y': 'z' } }));
      ids.push(await run(endpoint(), engine.image()));
      await docker(endpoint(), 'pause', ids[2]!);
      ids.push(await run(endpoint(), engine.image(), { cmd: ['true'] })); // exits at once
    });
    after(async () => {
      await adapter?.close();
      await removeTestContainers(endpoint());
    });

    it(`identifies the engine as ${engine.type}, with a stable ID`, async () => {
      const a = await firstValueFrom(adapter.info());
      const b = await firstValueFrom(adapter.info());
      expect(a.type).to.equal(engine.type);
      expect(a.id).to.be.a('string').and.not.equal('');
      expect(b.id).to.equal(a.id);
      const version = await docker(endpoint(), 'version', '--format', '{{.Server.Version}}');
      expect(a.version).to.equal(`${engine.key === 'podman' ? 'Podman Engine' : 'Docker Engine'} ${version}`);
      // The provisioned engine is the version the suite is named after.
      if (engine.version && isProvisioned(engine.key, endpoint())) expect(version.startsWith(engine.version), version).to.equal(true);
    });

    it('lists exactly the running and paused containers', async () => {
      await waitFor(async () => (await docker(endpoint(), 'inspect', '-f', '{{.State.Pid}}', ids[3]!)) === '0', { what: 'exited' });
      const expected = (await engineAnswer(endpoint())).map((c) => ({ id: c.id, paused: c.paused }));
      const list = [...(await listAlive(adapter))].sort((a, b) => a.id.localeCompare(b.id));
      expect(list).to.deep.equal(expected);
      expect(list.find((c) => c.id === ids[2])).to.deep.equal({ id: ids[2], paused: true });
      expect(list.find((c) => c.id === ids[3])).to.equal(undefined);
    });

    it('inspects like docker inspect: name, labels (privileged marker), PID, paused', async () => {
      const answer = await engineAnswer(endpoint());
      for (const id of ids.slice(0, 3)) {
        const d = await inspectAlive(adapter, id);
        const c = answer.find((x) => x.id === id)!;
        expect(d).to.deep.include({ id, name: c.name, pid: c.pid, paused: c.paused, labels: c.labels });
        expect((d!.raw as { Id: string }).Id).to.equal(id);
      }
      if (privileged) expect((await inspectAlive(adapter, ids[1]!))!.labels).to.have.property(PRIVILEGED_LABEL, '');
      expect((await inspectAlive(adapter, ids[0]!))!.labels).not.to.have.property(PRIVILEGED_LABEL);
    });

    it('inspects an exited container as null, and a missing one as null', async () => {
      expect(await inspectAlive(adapter, ids[3]!)).to.equal(null);
      expect(await inspectAlive(adapter, '0'.repeat(64))).to.equal(null);
    });

    it('streams live, then start, pause, unpause, rename, die, in order', async function () {
      const events: EngineEvent[] = [];
      const errors: unknown[] = [];
      const sub = adapter.events().subscribe({ next: (e) => events.push(e), error: (e) => errors.push(e) });
      try {
        await waitFor(() => events.length > 1, { what: 'live' });
        expect(events.slice(0, 2)).to.deep.equal([{ type: 'subscribed' }, { type: 'live' }]);
        const name = uniqueName('moby-ev');
        const before = Date.now() - 2000;
        const id = await run(endpoint(), engine.image(), { name });
        await docker(endpoint(), 'pause', id);
        await docker(endpoint(), 'unpause', id);
        await docker(endpoint(), 'rename', name, `${name}-new`);
        await docker(endpoint(), 'rm', '-f', id);
        const mine = () => events.filter((e) => 'id' in e && e.id === id);
        await waitFor(() => mine().some((e) => e.type === 'died'), { what: 'died event', timeoutMs: 15_000 });
        expect(errors).to.deep.equal([]);
        expect(mine().map((e) => e.type)).to.deep.equal(['started', 'paused', 'unpaused', 'updated', 'died']);
        expect(mine().find((e) => e.type === 'updated')).to.include({ name: `${name}-new` });
        for (const e of mine()) {
          const at = (e as { at?: Date }).at;
          expect(at).to.be.instanceOf(Date);
          expect(at!.getTime()).to.be.within(before, Date.now() + 2000);
        }
      } finally {
        sub.unsubscribe();
      }
    });

    it('replays what happened between asking the daemon time and subscribing (since=)', async () => {
      // A proxy holds the /events request back: a container starts after the adapter learned
      // the daemon's time but before its subscription reaches the engine.
      const proxy = await holdingProxy(endpoint(), /^GET \/events/, 'request');
      const a = createMobyAdapter(proxy.api);
      const events: EngineEvent[] = [];
      const sub = a.events().subscribe((e) => events.push(e));
      try {
        await proxy.held;
        const id = await run(endpoint(), engine.image());
        proxy.release();
        await waitFor(() => events.some((e) => e.type === 'started' && e.id === id), { what: 'replayed started event', timeoutMs: 15_000 });
        expect(events.slice(0, 2)).to.deep.equal([{ type: 'subscribed' }, { type: 'live' }]);
      } finally {
        sub.unsubscribe();
        await a.close();
        await proxy.close();
      }
    });

    it('closes without leaving sockets behind; a stream still open ends with WatcherAbortedError', async () => {
      const a = createMobyAdapter(endpoint());
      const ended: unknown[] = [];
      const sub = a.events().subscribe({ error: (e: unknown) => ended.push(e) });
      await lastValueFrom(a.list().pipe(toArray()));
      await a.close();
      sub.unsubscribe();
      for (const e of ended) expect(e).to.be.instanceOf(WatcherAbortedError);
    });
  });
}

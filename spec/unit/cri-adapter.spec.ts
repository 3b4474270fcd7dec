import assert from 'node:assert/strict';
import * as os from 'node:os';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { firstValueFrom, type Subscription } from 'rxjs';
import type { EngineEvent } from '../../lib/adapter.js';
import { WrongEngineError } from '../../lib/errors.js';
import { criAdapter, type CriRuntimeClient } from '../../engines/cri/adapter.js';
import type { CriWatchOptions } from '../../engines/cri/options.js';
import {
  ContainerEventResponseSchema,
  ContainerEventType,
  ContainerSchema,
  ContainerState,
  ContainerStatusSchema,
  PodSandboxSchema,
  PodSandboxState,
  PodSandboxStatusSchema,
  VersionResponseSchema,
  type ContainerEventResponse,
} from '../../protos/gen/runtime/v1/api_pb.js';
import { inspectAlive, listAlive } from '../support/answers.js';

/** Polls until `check` holds, or fails after `ms`. */
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

const ns = (ms: number) => BigInt(ms) * 1_000_000n;

interface FakeEntity {
  kind: 'sandbox' | 'container';
  id: string;
  pid: number;
  alive: boolean;
  name: string;
  podId?: string;
}

/** A scriptable in-memory CRI runtime: just the RuntimeService calls the adapter makes. */
class FakeRuntime {
  entities = new Map<string, FakeEntity>();
  calls: string[] = [];
  /** IDs whose status calls never answer (until aborted). */
  hang = new Set<string>();
  versionError: unknown;
  eventsError: unknown;
  sendHeaders = false;
  /** Aborted when the adapter cancels the event stream. */
  streamSignal: AbortSignal | undefined;
  private queue: ContainerEventResponse[] = [];
  private wake: (() => void) | undefined;
  private streamEnd: unknown;

  sandbox(id: string, name: string, pid: number) {
    this.entities.set(id, { kind: 'sandbox', id, pid, alive: true, name });
  }
  container(id: string, podId: string, name: string, pid: number) {
    this.entities.set(id, { kind: 'container', id, pid, alive: true, name, podId });
  }
  push(event: MessageInitShape<typeof ContainerEventResponseSchema>) {
    this.queue.push(create(ContainerEventResponseSchema, event));
    this.wake?.();
  }
  end(err?: unknown) {
    this.streamEnd = err ?? 'end';
    this.wake?.();
  }

  private podStatus(e: FakeEntity) {
    return create(PodSandboxStatusSchema, {
      id: e.id,
      metadata: { name: e.name, namespace: 'ns', uid: `uid-${e.id}` },
      state: e.alive ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY,
      labels: { l: e.id },
    });
  }
  private containerStatus(e: FakeEntity) {
    return create(ContainerStatusSchema, {
      id: e.id,
      metadata: { name: e.name },
      state: e.alive ? ContainerState.CONTAINER_RUNNING : ContainerState.CONTAINER_EXITED,
      annotations: { a: e.id },
    });
  }
  statusesFor(id: string) {
    const e = this.entities.get(id)!;
    if (e.kind === 'sandbox') return { podSandboxStatus: this.podStatus(e), containersStatuses: [] };
    return { podSandboxStatus: this.podStatus(this.entities.get(e.podId!)!), containersStatuses: [this.containerStatus(e)] };
  }

  client(): CriRuntimeClient {
    const notFound = () => new ConnectError('not found', Code.NotFound);
    const find = (id: string, kind: FakeEntity['kind']) => {
      const e = this.entities.get(id);
      if (!e || e.kind !== kind) throw notFound();
      return e;
    };
    const info = (e: FakeEntity) => ({
      info: JSON.stringify({ pid: e.alive ? e.pid : 0, ...(e.podId ? { sandboxID: e.podId } : {}) }),
    });
    const hanging = (id: string, signal: AbortSignal | undefined) =>
      this.hang.has(id)
        ? new Promise<never>((_, reject) =>
            signal?.addEventListener('abort', () => reject(new ConnectError('aborted', Code.Canceled)), { once: true }),
          )
        : Promise.resolve();
    const fake = {
      version: async () => {
        this.calls.push('version');
        if (this.versionError) throw this.versionError;
        return create(VersionResponseSchema, {
          version: '0.1.0',
          runtimeName: 'fakerd',
          runtimeVersion: '1.2.3',
          runtimeApiVersion: 'v1',
        });
      },
      listPodSandbox: async () => {
        this.calls.push('listPodSandbox');
        const items = [...this.entities.values()]
          .filter((e) => e.kind === 'sandbox')
          .map((e) => {
            const { id, metadata, state } = this.podStatus(e);
            return create(PodSandboxSchema, { id, metadata, state });
          });
        return { items };
      },
      listContainers: async (req: { filter?: { id?: string; state?: { state: ContainerState } } }) => {
        this.calls.push('listContainers');
        const containers = [...this.entities.values()]
          .filter((e) => e.kind === 'container')
          .filter((e) => !req.filter?.id || req.filter.id === e.id)
          .filter((e) => !req.filter?.state || e.alive === (req.filter.state.state === ContainerState.CONTAINER_RUNNING))
          .map((e) =>
            create(ContainerSchema, {
              id: e.id,
              podSandboxId: e.podId!,
              metadata: { name: e.name },
              state: e.alive ? ContainerState.CONTAINER_RUNNING : ContainerState.CONTAINER_EXITED,
            }),
          );
        return { containers };
      },
      podSandboxStatus: async (req: { podSandboxId: string; verbose?: boolean }, opts?: { signal?: AbortSignal }) => {
        this.calls.push(`podSandboxStatus ${req.podSandboxId}${req.verbose ? '' : ' (not verbose)'}`);
        await hanging(req.podSandboxId, opts?.signal);
        const e = find(req.podSandboxId, 'sandbox');
        return { status: this.podStatus(e), info: req.verbose ? info(e) : {} };
      },
      containerStatus: async (req: { containerId: string; verbose?: boolean }, opts?: { signal?: AbortSignal }) => {
        this.calls.push(`containerStatus ${req.containerId}${req.verbose ? '' : ' (not verbose)'}`);
        await hanging(req.containerId, opts?.signal);
        const e = find(req.containerId, 'container');
        return { status: this.containerStatus(e), info: req.verbose ? info(e) : {} };
      },
      getContainerEvents: (_req: unknown, opts: { signal: AbortSignal; onHeader?: (h: Headers) => void }) => {
        this.calls.push('getContainerEvents');
        this.streamSignal = opts.signal;
        const self = this;
        return (async function* () {
          await Promise.resolve();
          if (self.eventsError) throw self.eventsError;
          if (self.sendHeaders) opts.onHeader?.(new Headers());
          for (;;) {
            if (opts.signal.aborted) throw new ConnectError('aborted', Code.Canceled);
            const next = self.queue.shift();
            if (next) {
              yield next;
              continue;
            }
            if (self.streamEnd === 'end') return;
            if (self.streamEnd) throw self.streamEnd;
            await new Promise<void>((resolve) => {
              self.wake = resolve;
              opts.signal.addEventListener('abort', () => resolve(), { once: true });
            });
          }
        })();
      },
    };
    return fake as unknown as CriRuntimeClient;
  }
}

function adapterOf(rt: FakeRuntime, options: CriWatchOptions = {}) {
  return criAdapter(rt.client(), '/fake/cri.sock', options, () => {});
}

/** Subscribes to events(), collecting them. */
function collect(rt: FakeRuntime, options: CriWatchOptions = {}) {
  const events: EngineEvent[] = [];
  let error: unknown;
  const sub: Subscription = adapterOf(rt, options)
    .events()
    .subscribe({ next: (e) => events.push(e), error: (e: unknown) => (error = e) });
  return { events, sub, error: () => error };
}

describe('CRI adapter (fake runtime)', () => {
  describe('events()', () => {
    it('goes live on response headers', async () => {
      const rt = new FakeRuntime();
      rt.sendHeaders = true;
      rt.versionError = new ConnectError('slow', Code.Unavailable); // the probe does not help
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      assert.deepEqual(events, [{ type: 'live' }]);
      sub.unsubscribe();
    });

    it('goes live after a Version round trip when the runtime sends no headers yet', async () => {
      const rt = new FakeRuntime();
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      assert.deepEqual(events, [{ type: 'live' }]);
      assert.deepEqual(rt.calls.slice(0, 2).sort(), ['getContainerEvents', 'version']);
      sub.unsubscribe();
    });

    it('aborts the stream on unsubscribe, on the next turn of the event loop (never from inside a callback)', async () => {
      const rt = new FakeRuntime();
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      sub.unsubscribe();
      assert.equal(rt.streamSignal?.aborted, false, 'aborted synchronously');
      await until(() => rt.streamSignal?.aborted === true);
    });

    it('drops stale events, reports starts (without details, making no call) and stops, ignores created/deleted', async () => {
      const rt = new FakeRuntime();
      rt.sendHeaders = true;
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      const now = Date.now() + 1;
      rt.push({ containerId: 'old', containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now - 60_000) });
      rt.push({ containerId: 'sb1', containerEventType: ContainerEventType.CONTAINER_CREATED_EVENT, createdAt: ns(now), ...rt.statusesFor('sb1') });
      rt.push({ containerId: 'sb1', containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now), ...rt.statusesFor('sb1') });
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now + 1), ...rt.statusesFor('c1') });
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: ns(now + 2), ...rt.statusesFor('c1') });
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_DELETED_EVENT, createdAt: ns(now + 3), ...rt.statusesFor('c1') });
      await until(() => events.length >= 5);
      sub.unsubscribe();
      const [live, stale, sb, c, died, ...rest] = events;
      assert.deepEqual(live, { type: 'live' });
      assert.equal(stale?.type, 'diagnostic');
      assert.equal(stale?.type === 'diagnostic' && stale.code, 'stale-event');
      assert.deepEqual(sb, { type: 'started', id: 'sb1', at: new Date(now) });
      assert.deepEqual(c, { type: 'started', id: 'c1', at: new Date(now + 1) });
      assert.deepEqual(died, { type: 'died', id: 'c1', at: new Date(now + 2) });
      assert.deepEqual(rest, []);
      assert.deepEqual(rt.calls.filter((call) => call !== 'version' && call !== 'getContainerEvents'), [], 'no lookups');
    });

    it('emits a STARTED at once while its status call would hang, without delaying the events after it', async () => {
      const rt = new FakeRuntime();
      rt.sendHeaders = true;
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      rt.container('c2', 'sb1', 'side', 102);
      rt.hang.add('c1');
      const adapter = adapterOf(rt);
      const events: EngineEvent[] = [];
      const sub = adapter.events().subscribe((e) => events.push(e));
      await until(() => events.length > 0);
      const now = Date.now() + 1;
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now), ...rt.statusesFor('c1') });
      rt.push({ containerId: 'c2', containerEventType: ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: ns(now + 1), ...rt.statusesFor('c2') });
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: ns(now + 2), ...rt.statusesFor('c1') });
      // The core inspects c1 after its STARTED: that lookup hangs, and no event waits for it.
      let inspected: unknown = 'pending';
      const lookup = adapter.inspect('c1').subscribe({ next: (d) => (inspected = d), error: (e: unknown) => (inspected = e) });
      await until(() => events.length >= 4);
      assert.deepEqual(events.slice(1), [
        { type: 'started', id: 'c1', at: new Date(now) },
        { type: 'died', id: 'c2', at: new Date(now + 1) },
        { type: 'died', id: 'c1', at: new Date(now + 2) },
      ]);
      assert.equal(inspected, 'pending', 'the status call of c1 still hangs');
      lookup.unsubscribe();
      sub.unsubscribe();
    });

    it('translates a burst of 50,000 events in order, making no call', async () => {
      const rt = new FakeRuntime();
      rt.sendHeaders = true;
      rt.sandbox('sb1', 'pod1', 100);
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      const now = Date.now() + 1;
      const statuses = rt.statusesFor('sb1');
      for (let i = 0; i < 25_000; i++) {
        const id = `c${i}`;
        const containersStatuses = [create(ContainerStatusSchema, { id, metadata: { name: id } })];
        rt.push({ containerId: id, containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now), podSandboxStatus: statuses.podSandboxStatus, containersStatuses });
        rt.push({ containerId: id, containerEventType: ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: ns(now) });
      }
      const t0 = Date.now();
      await until(() => events.length >= 50_001, 20_000);
      const ms = Date.now() - t0;
      sub.unsubscribe();
      console.log(`      50,000 runtime events translated in ${ms} ms`);
      assert.equal(events[1]?.type === 'started' && events[1].id, 'c0');
      assert.equal(events[50_000]?.type === 'died' && events[50_000].id, 'c24999');
      assert.deepEqual(rt.calls.filter((call) => call !== 'version' && call !== 'getContainerEvents'), [], 'no lookups');
    });

    it('fails when the stream breaks, and when the runtime ends it', async () => {
      const rt = new FakeRuntime();
      const a = collect(rt);
      await until(() => a.events.length > 0);
      rt.end(new ConnectError('gone', Code.Unavailable));
      await until(() => a.error() !== undefined);
      assert.equal((a.error() as Error).name, 'EngineUnreachableError');

      const rt2 = new FakeRuntime();
      const b = collect(rt2);
      await until(() => b.events.length > 0);
      rt2.end();
      await until(() => b.error() !== undefined);
      assert.equal((b.error() as Error).name, 'EngineUnreachableError');
    });

    it('falls back to polling resyncs when the runtime has no events (auto)', async () => {
      const rt = new FakeRuntime();
      rt.eventsError = new ConnectError('unknown method GetContainerEvents', Code.Unimplemented);
      const adapter = adapterOf(rt, { pollInterval: 10 });
      const events: EngineEvent[] = [];
      const sub = adapter.events().subscribe((e) => events.push(e));
      await until(() => events.filter((e) => e.type === 'resync').length >= 3);
      sub.unsubscribe();
      assert.deepEqual(events[0], { type: 'live' });
      assert.equal(events[1]?.type === 'diagnostic' && events[1].code, 'no-events-fallback');
      assert.equal(events.filter((e) => e.type === 'live').length, 1);
      // the notice comes once per adapter, not once per (re)subscription
      const again: EngineEvent[] = [];
      const sub2 = adapter.events().subscribe((e) => again.push(e));
      await until(() => again.some((e) => e.type === 'resync'));
      sub2.unsubscribe();
      assert.ok(!again.some((e) => e.type === 'diagnostic'));
      // no timer left behind
      const n = events.length;
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(events.length, n);
    });

    it("fails with WrongEngineError naming cri-o's enable_pod_events when events are required", async () => {
      const rt = new FakeRuntime();
      rt.eventsError = new ConnectError('unknown method', Code.Unimplemented);
      const { sub, error } = collect(rt, { events: 'required' });
      await until(() => error() !== undefined);
      sub.unsubscribe();
      assert.ok(error() instanceof WrongEngineError);
      assert.match((error() as Error).message, /enable_pod_events/);
    });

    it('fails with WrongEngineError when there is no CRI service at all', async () => {
      const rt = new FakeRuntime();
      rt.eventsError = new ConnectError('unknown service', Code.Unimplemented);
      rt.versionError = new ConnectError('unknown service', Code.Unimplemented);
      const { events, sub, error } = collect(rt);
      await until(() => error() !== undefined);
      sub.unsubscribe();
      assert.ok(error() instanceof WrongEngineError);
      assert.deepEqual(events, []);
    });
  });

  describe('list()', () => {
    it('makes only the two list calls; what it never inspected comes without details, the rest with', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      rt.container('c2', 'sb1', 'side', 102);
      rt.sandbox('sb2', 'pod2', 200);
      rt.entities.get('sb2')!.alive = false;
      rt.container('c3', 'sb1', 'exited', 103);
      rt.entities.get('c3')!.alive = false;
      rt.hang.add('c1'); // a hung status call cannot hold up a list that makes none
      const adapter = adapterOf(rt);
      const first = await listAlive(adapter);
      assert.deepEqual(first, [
        { id: 'sb1', paused: false },
        { id: 'c1', paused: false },
        { id: 'c2', paused: false },
      ]);
      assert.deepEqual(rt.calls.sort(), ['listContainers', 'listPodSandbox']);

      // The core inspects them, one status call each (the list told sandbox from container, and the pod).
      rt.hang.delete('c1');
      rt.calls = [];
      for (const id of ['sb1', 'c1', 'c2']) assert.ok(await inspectAlive(adapter, id));
      assert.deepEqual(rt.calls, ['podSandboxStatus sb1', 'containerStatus c1', 'containerStatus c2']);

      rt.calls = [];
      rt.container('c4', 'sb1', 'new', 104);
      const second = await listAlive(adapter);
      assert.deepEqual(rt.calls.sort(), ['listContainers', 'listPodSandbox']);
      assert.deepEqual(
        second.map((s) => [s.id, s.details?.name, s.details?.pid]),
        [
          ['sb1', 'ns/pod1', 100],
          ['c1', 'ns/pod1/main', 101],
          ['c2', 'ns/pod1/side', 102],
          ['c4', undefined, undefined],
        ],
      );
      assert.equal(second.find((s) => s.id === 'c1')?.details?.labels['io.kubernetes.pod.uid'], 'uid-sb1');
    });

    it('forgets what died, and serves nothing stale', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const adapter = adapterOf(rt);
      await listAlive(adapter);
      await inspectAlive(adapter, 'c1');
      assert.ok((await listAlive(adapter)).find((s) => s.id === 'c1')?.details);
      rt.entities.delete('c1');
      assert.deepEqual((await listAlive(adapter)).map((s) => s.id), ['sb1']);
      // c1 comes back under the same ID (cannot happen in CRI, but must not be served stale)
      rt.container('c1', 'sb1', 'main', 999);
      const back = await listAlive(adapter);
      assert.deepEqual(back.find((s) => s.id === 'c1'), { id: 'c1', paused: false });
      assert.equal((await inspectAlive(adapter, 'c1'))?.pid, 999);
    });

    it('maps transport errors', async () => {
      const rt = new FakeRuntime();
      const client = rt.client();
      client.listPodSandbox = (async () => {
        throw new ConnectError('connect ENOENT', Code.Unavailable);
      }) as typeof client.listPodSandbox;
      const adapter = criAdapter(client, '/fake/cri.sock', {}, () => {});
      await assert.rejects(listAlive(adapter), { name: 'EngineUnreachableError' });
    });
  });

  describe('inspect()', () => {
    it('inspects containers and sandboxes, null when gone or not alive', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      rt.container('c2', 'sb1', 'done', 102);
      rt.entities.get('c2')!.alive = false;
      const adapter = adapterOf(rt);
      const c = await inspectAlive(adapter, 'c1');
      assert.equal(c?.name, 'ns/pod1/main');
      assert.equal(c?.labels['io.kubernetes.pod.uid'], 'uid-sb1');
      const sb = await inspectAlive(adapter, 'sb1');
      assert.equal(sb?.name, 'ns/pod1');
      assert.equal(sb?.labels['io.kubernetes.sandbox'], '');
      assert.equal(await inspectAlive(adapter, 'c2'), null);
      assert.equal(await inspectAlive(adapter, 'nope'), null);
    });

    /** An adapter whose event stream is live, with a way to push STARTED/STOPPED events of the fake's entities. */
    async function liveAdapter(rt: FakeRuntime) {
      rt.sendHeaders = true;
      const adapter = adapterOf(rt);
      const events: EngineEvent[] = [];
      const sub = adapter.events().subscribe((e) => events.push(e));
      await until(() => events.length > 0);
      const push = async (id: string, type: ContainerEventType, withStatuses = true) => {
        const n = events.length;
        rt.push({ containerId: id, containerEventType: type, createdAt: ns(Date.now() + 1), ...(withStatuses ? rt.statusesFor(id) : {}) });
        await until(() => events.length > n);
      };
      rt.calls = [];
      return { adapter, events, sub, push };
    }

    it('after a STARTED with its pod, costs exactly one verbose status call (container or sandbox)', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const { adapter, sub, push } = await liveAdapter(rt);
      await push('sb1', ContainerEventType.CONTAINER_STARTED_EVENT);
      await push('c1', ContainerEventType.CONTAINER_STARTED_EVENT);
      const sb = await inspectAlive(adapter, 'sb1');
      const c = await inspectAlive(adapter, 'c1');
      sub.unsubscribe();
      assert.deepEqual(rt.calls, ['podSandboxStatus sb1', 'containerStatus c1']);
      assert.equal(sb?.name, 'ns/pod1');
      assert.equal(sb?.pid, 100);
      assert.equal(c?.name, 'ns/pod1/main');
      assert.equal(c?.pid, 101);
      assert.equal(c?.labels['io.kubernetes.pod.uid'], 'uid-sb1');
      assert.equal(c?.labels['io.kubernetes.annotation/a'], 'c1');
    });

    it('without a hint (a STARTED without statuses), falls back to finding out what the ID is', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const { adapter, sub, push } = await liveAdapter(rt);
      await push('c1', ContainerEventType.CONTAINER_STARTED_EVENT, false);
      await push('sb1', ContainerEventType.CONTAINER_STARTED_EVENT, false);
      assert.equal((await inspectAlive(adapter, 'c1'))?.name, 'ns/pod1/main');
      assert.equal((await inspectAlive(adapter, 'sb1'))?.name, 'ns/pod1');
      sub.unsubscribe();
      assert.deepEqual(rt.calls, [
        'containerStatus c1',
        'podSandboxStatus sb1 (not verbose)',
        'containerStatus sb1',
        'podSandboxStatus sb1',
      ]);
    });

    it('drops a hint on STOPPED, and once it was used', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      rt.container('c2', 'sb1', 'side', 102);
      const { adapter, sub, push } = await liveAdapter(rt);
      await push('c1', ContainerEventType.CONTAINER_STARTED_EVENT);
      await push('c1', ContainerEventType.CONTAINER_STOPPED_EVENT);
      await push('c2', ContainerEventType.CONTAINER_STARTED_EVENT);
      await inspectAlive(adapter, 'c1');
      assert.deepEqual(rt.calls, ['containerStatus c1', 'podSandboxStatus sb1 (not verbose)'], 'c1: no hint left');
      rt.calls = [];
      await inspectAlive(adapter, 'c2');
      await inspectAlive(adapter, 'c2');
      sub.unsubscribe();
      assert.deepEqual(rt.calls, ['containerStatus c2', 'containerStatus c2', 'podSandboxStatus sb1 (not verbose)'], 'c2: the hint served once');
    });

    it('keeps at most 10,000 hints, dropping the oldest', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      const { adapter, events, sub } = await liveAdapter(rt);
      const { podSandboxStatus } = rt.statusesFor('sb1');
      const now = Date.now() + 1;
      for (let i = 0; i <= 10_000; i++) {
        const id = `c${i}`;
        rt.container(id, 'sb1', id, 1000 + i);
        const containersStatuses = [create(ContainerStatusSchema, { id, metadata: { name: id } })];
        rt.push({ containerId: id, containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(now), podSandboxStatus, containersStatuses });
      }
      await until(() => events.length >= 10_002, 10_000);
      await inspectAlive(adapter, 'c1');
      assert.deepEqual(rt.calls, ['containerStatus c1'], 'c1 kept its hint');
      rt.calls = [];
      await inspectAlive(adapter, 'c0');
      sub.unsubscribe();
      assert.deepEqual(rt.calls, ['containerStatus c0', 'podSandboxStatus sb1 (not verbose)'], 'c0, the oldest, lost its hint');
    });

    it('takes a PID over 4,194,304 for unreadable: a skip naming the claim', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 4_194_305);
      rt.container('c1', 'sb1', 'main', 4_194_305);
      rt.container('c2', 'sb1', 'ok', 4_194_304);
      const { adapter, events, sub, push } = await liveAdapter(rt);
      await push('c1', ContainerEventType.CONTAINER_STARTED_EVENT);
      const c1 = await firstValueFrom(adapter.inspect('c1'));
      const sb1 = await firstValueFrom(adapter.inspect('sb1'));
      assert.equal((await inspectAlive(adapter, 'c2'))?.pid, 4_194_304);
      sub.unsubscribe();
      assert.deepEqual([c1, sb1].map((a) => a && 'skipped' in a && [a.skipped, a.id]), [
        ['unreadable-status', 'c1'],
        ['unreadable-status', 'sb1'],
      ]);
      assert.match((c1 as { message: string }).message, /claims PID 4194305, outside Linux's range 1\.\.4194304/);
      assert.deepEqual(events.filter((e) => e.type === 'diagnostic'), [], 'nothing on the event stream');
    });
  });

  describe('info()', () => {
    it('tells version text and this host as identity', async () => {
      const rt = new FakeRuntime();
      const info = await firstValueFrom(adapterOf(rt).info());
      assert.equal(info.version, 'fakerd 1.2.3 (CRI v1)');
      assert.equal(info.id, os.hostname());
      assert.equal(info.type, 'k8s.io/cri-api');
      assert.equal(info.pid, undefined);
    });

    it("reads the engine host's name through /proc/<pid>/root when the PID is known", async () => {
      const rt = new FakeRuntime();
      const info = await firstValueFrom(adapterOf(rt, { pid: process.pid }).info());
      assert.equal(info.pid, process.pid);
      assert.ok(info.id.length > 0);
    });
  });

  it('close() releases the connection once', async () => {
    let released = 0;
    const adapter = criAdapter(new FakeRuntime().client(), '/fake/cri.sock', {}, () => void released++);
    await adapter.close();
    await adapter.close();
    assert.equal(released, 1);
  });
});

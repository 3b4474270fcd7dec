import assert from 'node:assert/strict';
import * as os from 'node:os';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
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
      podSandboxStatus: async (req: { podSandboxId: string; verbose?: boolean }) => {
        this.calls.push(`podSandboxStatus ${req.podSandboxId}`);
        const e = find(req.podSandboxId, 'sandbox');
        return { status: this.podStatus(e), info: req.verbose ? info(e) : {} };
      },
      containerStatus: async (req: { containerId: string; verbose?: boolean }) => {
        this.calls.push(`containerStatus ${req.containerId}`);
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

    it('drops stale events, reports starts with details and stops, ignores created/deleted', async () => {
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
      assert.ok(sb?.type === 'started' && sb.id === 'sb1');
      assert.equal(sb.at?.getTime(), now);
      assert.equal(sb.details?.name, 'ns/pod1');
      assert.equal(sb.details?.pid, 100);
      assert.ok(c?.type === 'started' && c.id === 'c1');
      assert.equal(c.details?.name, 'ns/pod1/main');
      assert.equal(c.details?.pid, 101);
      assert.equal(c.details?.labels['io.kubernetes.annotation/a'], 'c1');
      assert.deepEqual(died, { type: 'died', id: 'c1', at: new Date(now + 2) });
      assert.deepEqual(rest, []);
    });

    it('reports a start without details when the container is already gone', async () => {
      const rt = new FakeRuntime();
      rt.sendHeaders = true;
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const statuses = rt.statusesFor('c1');
      rt.entities.delete('c1');
      const { events, sub } = collect(rt);
      await until(() => events.length > 0);
      rt.push({ containerId: 'c1', containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: ns(Date.now() + 1), ...statuses });
      await until(() => events.length >= 2);
      sub.unsubscribe();
      assert.equal(events[1]?.type, 'started');
      assert.ok(events[1]?.type === 'started' && events[1].details === undefined);
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
    it('lists ready sandboxes and running containers with details, fetching each status once', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      rt.container('c2', 'sb1', 'side', 102);
      rt.sandbox('sb2', 'pod2', 200);
      rt.entities.get('sb2')!.alive = false;
      rt.container('c3', 'sb1', 'exited', 103);
      rt.entities.get('c3')!.alive = false;
      const adapter = adapterOf(rt);
      const first = await lastValueFrom(adapter.list());
      assert.deepEqual(
        first.map((s) => [s.id, s.details?.name, s.details?.pid]).sort(),
        [
          ['c1', 'ns/pod1/main', 101],
          ['c2', 'ns/pod1/side', 102],
          ['sb1', 'ns/pod1', 100],
        ],
      );
      assert.ok(first.every((s) => s.paused === false));

      rt.calls = [];
      rt.container('c4', 'sb1', 'new', 104);
      const second = await lastValueFrom(adapter.list());
      assert.equal(second.length, 4);
      assert.deepEqual(rt.calls.sort(), ['containerStatus c4', 'listContainers', 'listPodSandbox']);
    });

    it('forgets what died, and skips what dies during the list', async () => {
      const rt = new FakeRuntime();
      rt.sandbox('sb1', 'pod1', 100);
      rt.container('c1', 'sb1', 'main', 101);
      const adapter = adapterOf(rt);
      await lastValueFrom(adapter.list());
      rt.entities.delete('c1');
      assert.deepEqual((await lastValueFrom(adapter.list())).map((s) => s.id), ['sb1']);
      // c1 comes back under the same ID (cannot happen in CRI, but must not be served stale)
      rt.container('c1', 'sb1', 'main', 999);
      assert.equal((await lastValueFrom(adapter.list())).find((s) => s.id === 'c1')?.details?.pid, 999);
    });

    it('maps transport errors', async () => {
      const rt = new FakeRuntime();
      const client = rt.client();
      client.listPodSandbox = (async () => {
        throw new ConnectError('connect ENOENT', Code.Unavailable);
      }) as typeof client.listPodSandbox;
      const adapter = criAdapter(client, '/fake/cri.sock', {}, () => {});
      await assert.rejects(lastValueFrom(adapter.list()), { name: 'EngineUnreachableError' });
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
      const c = await firstValueFrom(adapter.inspect('c1'));
      assert.equal(c?.name, 'ns/pod1/main');
      assert.equal(c?.labels['io.kubernetes.pod.uid'], 'uid-sb1');
      const sb = await firstValueFrom(adapter.inspect('sb1'));
      assert.equal(sb?.name, 'ns/pod1');
      assert.equal(sb?.labels['io.kubernetes.sandbox'], '');
      assert.equal(await firstValueFrom(adapter.inspect('c2')), null);
      assert.equal(await firstValueFrom(adapter.inspect('nope')), null);
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

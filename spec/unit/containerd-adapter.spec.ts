/**
 * The containerd adapter against an in-process fake containerd (Connect gRPC server on a unix
 * socket): the live proof, list/inspect/info composition, error mapping, and resource release.
 * The real-engine suites are in spec/engines/containerd*.spec.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { anyPack, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { firstValueFrom, lastValueFrom, take, toArray, type Subscription } from 'rxjs';
import type { EngineAdapter, EngineEvent } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from '../../lib/errors.js';
import { createContainerdAdapter } from '../../engines/containerd/index.js';
import { watch } from '../../lib/watch.js';
import { TaskExitSchema, TaskPausedSchema, TaskStartSchema } from '../../protos/gen/containerd/events/task_pb.js';
import { Containers, type Container } from '../../protos/gen/containerd/services/containers/v1/containers_pb.js';
import { EnvelopeSchema, Events, type Envelope } from '../../protos/gen/containerd/services/events/v1/events_pb.js';
import { Introspection } from '../../protos/gen/containerd/services/introspection/v1/introspection_pb.js';
import { Namespaces } from '../../protos/gen/containerd/services/namespaces/v1/namespace_pb.js';
import { Tasks } from '../../protos/gen/containerd/services/tasks/v1/tasks_pb.js';
import { Version } from '../../protos/gen/containerd/services/version/v1/version_pb.js';
import { ProcessSchema, Status, type Process } from '../../protos/gen/containerd/types/task_pb.js';
import { activeResources } from '../support/reliability-helpers.js';
import { inspectAlive, listAlive } from '../support/answers.js';

interface FakeNamespace {
  containers: Container[];
  tasks: Process[];
}

/** A tiny containerd: enough of its API for the adapter, with call accounting. */
class FakeContainerd {
  readonly namespaces = new Map<string, FakeNamespace>();
  readonly calls: string[] = [];
  /** Subscriptions register only after this many ms (a real server races the same way). */
  subscribeLag = 60;
  private readonly subscribers = new Set<(e: Envelope) => void>();
  openStreams = 0;
  server!: http2.Http2Server;

  constructor(readonly socket: string) {}

  add(namespace: string, id: string, labels: Record<string, string>, task?: { pid: number; status: Status }): void {
    let ns = this.namespaces.get(namespace);
    if (!ns) this.namespaces.set(namespace, (ns = { containers: [], tasks: [] }));
    ns.containers.push({ $typeName: 'containerd.services.containers.v1.Container', id, labels, image: 'busybox' });
    if (task) ns.tasks.push(create(ProcessSchema, { containerId: id, id, pid: task.pid, status: task.status }));
  }

  emit(namespace: string, topic: string, event: Envelope['event']): void {
    const envelope = create(EnvelopeSchema, { namespace, topic, timestamp: timestampNow(), event });
    for (const s of this.subscribers) s(envelope);
  }

  private ns(ctx: HandlerContext): FakeNamespace {
    const name = ctx.requestHeader.get('containerd-namespace');
    if (!name) throw new ConnectError('namespace is required', Code.FailedPrecondition);
    return this.namespaces.get(name) ?? { containers: [], tasks: [] };
  }

  routes = (router: ConnectRouter): void => {
    router.service(Events, {
      publish: (req, ctx) => {
        this.calls.push(`Events/Publish ${ctx.requestHeader.get('containerd-namespace')}`);
        this.ns(ctx);
        this.emit(ctx.requestHeader.get('containerd-namespace')!, req.topic, req.event);
        return {};
      },
      subscribe: (req, ctx) => {
        this.calls.push('Events/Subscribe');
        const topics = req.filters.map((f) => JSON.parse(f.slice('topic=='.length)) as string);
        const subscribers = this.subscribers;
        const lag = this.subscribeLag;
        this.openStreams++;
        const self = this;
        return (async function* () {
          const queue: Envelope[] = [];
          let wake: (() => void) | undefined;
          const push = (e: Envelope) => {
            if (!topics.includes(e.topic)) return;
            queue.push(e);
            wake?.();
          };
          const aborted = new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
          let lagTimer: NodeJS.Timeout | undefined;
          await Promise.race([new Promise((r) => (lagTimer = setTimeout(r, lag))), aborted]);
          clearTimeout(lagTimer); // an aborted call leaves no timer behind
          subscribers.add(push);
          try {
            while (!ctx.signal.aborted) {
              while (queue.length) yield queue.shift()!;
              await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
            }
          } finally {
            subscribers.delete(push);
            self.openStreams--;
          }
        })();
      },
    });
    router.service(Namespaces, {
      list: () => {
        this.calls.push('Namespaces/List');
        return { namespaces: [...this.namespaces.keys()].map((name) => ({ name })) };
      },
    });
    router.service(Tasks, {
      list: (_req, ctx) => {
        this.calls.push(`Tasks/List ${ctx.requestHeader.get('containerd-namespace')}`);
        return { tasks: this.ns(ctx).tasks };
      },
      get: (req, ctx) => {
        this.calls.push('Tasks/Get');
        const task = this.ns(ctx).tasks.find((t) => t.containerId === req.containerId);
        if (!task) throw new ConnectError(`task ${req.containerId} not found`, Code.NotFound);
        return { process: task };
      },
    });
    router.service(Containers, {
      list: (_req, ctx) => {
        this.calls.push(`Containers/List ${ctx.requestHeader.get('containerd-namespace')}`);
        return { containers: this.ns(ctx).containers };
      },
      get: (req, ctx) => {
        this.calls.push('Containers/Get');
        const container = this.ns(ctx).containers.find((c) => c.id === req.id);
        if (!container) throw new ConnectError(`container ${req.id} not found`, Code.NotFound);
        return { container };
      },
    });
    router.service(Introspection, { server: () => ({ uuid: 'c0ffee', pid: 4242n, pidns: 1n }) });
    router.service(Version, { version: () => ({ version: '1.7.24', revision: 'abc' }) });
  };

  async start(routes = this.routes): Promise<void> {
    this.server = http2.createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => this.server.listen(this.socket, resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}


/** Runs fn until it stops throwing, or fails after the deadline. */
async function eventually(fn: () => void, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe('containerd adapter (fake engine)', function () {
  let dir: string;
  let fake: FakeContainerd;
  let adapter: EngineAdapter;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'whalewatcher-ctrd-'));
    fake = new FakeContainerd(join(dir, 'containerd.sock'));
    await fake.start();
    adapter = createContainerdAdapter(fake.socket);
  });

  afterEach(async () => {
    await adapter.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('events()', () => {
    it('emits live only once its own marker came back, then maps events', async () => {
      const seen: EngineEvent[] = [];
      const sub = adapter.events().subscribe((e) => seen.push(e));
      try {
        await eventually(() => assert.deepEqual(seen, [{ type: 'live' }]));
        // The subscription registered late: the first marker was lost, so the adapter republished.
        assert.ok(fake.calls.filter((c) => c.startsWith('Events/Publish')).length >= 2, fake.calls.join());
        assert.ok(fake.calls.includes('Events/Publish default'));
        fake.emit('prod', '/tasks/start', withBareTypeUrl(anyPack(TaskStartSchema, create(TaskStartSchema, { containerId: 'c1', pid: 7 }))));
        fake.emit('moby', '/tasks/start', withBareTypeUrl(anyPack(TaskStartSchema, create(TaskStartSchema, { containerId: 'd1', pid: 8 }))));
        fake.emit('prod', '/tasks/exit', withBareTypeUrl(anyPack(TaskExitSchema, create(TaskExitSchema, { containerId: 'c1', id: 'x', pid: 9 }))));
        fake.emit('prod', '/tasks/exit', withBareTypeUrl(anyPack(TaskExitSchema, create(TaskExitSchema, { containerId: 'c1', id: 'c1', pid: 7 }))));
        await eventually(() => assert.equal(seen.length, 4));
        assert.deepEqual(seen.slice(1).map((e) => [e.type, 'id' in e ? e.id : undefined]), [
          ['started', 'prod/c1'],
          ['diagnostic', 'prod/c1'],
          ['died', 'prod/c1'],
        ]);
      } finally {
        sub.unsubscribe();
      }
    });

    it('aborts the server stream on unsubscribe', async () => {
      const sub: Subscription = adapter.events().subscribe();
      await eventually(() => assert.equal(fake.openStreams, 1));
      sub.unsubscribe();
      await eventually(() => assert.equal(fake.openStreams, 0));
    });

    it('a subscription that never proves live fails the watch at callTimeout (the pipeline bounds the wait)', async () => {
      fake.subscribeLag = 60_000;
      const w = watch(createContainerdAdapter(fake.socket), { callTimeout: 300, backoff: false });
      try {
        await assert.rejects(w.ready(), (err: unknown) => {
          assert.ok(err instanceof EngineUnreachableError, String(err));
          assert.match(err.message, /the event subscription timed out after 300 ms/);
          return true;
        });
      } finally {
        await w.close();
      }
    });
  });

  describe('list()', () => {
    it('lists alive tasks of watched namespaces with full details, skipping the rest', async () => {
      fake.add('default', 'c1', { 'nerdctl/name': 'web', 'com.docker.compose.project': 'p1' }, { pid: 11, status: Status.RUNNING });
      fake.add('default', 'c2', {}, { pid: 12, status: Status.PAUSED });
      fake.add('default', 'c3', {}, { pid: 13, status: Status.PAUSING });
      fake.add('default', 'c4', {}, { pid: 0, status: Status.CREATED });
      fake.add('default', 'c5', {}, { pid: 15, status: Status.STOPPED });
      fake.add('default', 'notask', {});
      fake.add('prod', 'c1', { 'nerdctl/name': 'db' }, { pid: 21, status: Status.RUNNING });
      fake.add('idle', 'c9', {});
      fake.add('moby', 'm1', {}, { pid: 31, status: Status.RUNNING });
      fake.add('k8s.io', 'k1', {}, { pid: 41, status: Status.RUNNING });
      const summaries = await listAlive(adapter);
      const byId = new Map(summaries.map((s) => [s.id, s]));
      assert.deepEqual([...byId.keys()].sort(), ['c1', 'c2', 'c3', 'prod/c1']);
      assert.deepEqual(
        { ...byId.get('prod/c1')!.details, raw: undefined },
        { id: 'prod/c1', name: 'prod/db', labels: { 'nerdctl/name': 'db' }, pid: 21, paused: false, raw: undefined },
      );
      assert.equal(byId.get('c1')!.details!.name, 'web');
      assert.equal(byId.get('c2')!.paused, true);
      assert.equal(byId.get('c3')!.details!.paused, true);
      assert.deepEqual(
        [...fake.calls].sort(),
        ['Containers/List default', 'Containers/List prod', 'Namespaces/List', 'Tasks/List default', 'Tasks/List idle', 'Tasks/List prod'],
      );
    });
  });

  describe('list() with a namespaces allow-list', () => {
    it('lists the allowed namespaces beside Namespaces/List and keeps only those that exist', async () => {
      fake.add('prod', 'c1', {}, { pid: 21, status: Status.RUNNING });
      fake.add('other', 'c2', {}, { pid: 22, status: Status.RUNNING });
      const allowed = createContainerdAdapter(fake.socket, { namespaces: ['prod', 'ghost', 'moby'] });
      try {
        assert.deepEqual((await listAlive(allowed)).map((s) => s.id), ['prod/c1']);
        assert.deepEqual(
          [...fake.calls].sort(),
          ['Containers/List prod', 'Namespaces/List', 'Tasks/List ghost', 'Tasks/List prod'],
          'ghost was asked before Namespaces/List said it does not exist; moby is ignored; other is not allowed',
        );
      } finally {
        await allowed.close();
      }
    });
  });

  describe("PIDs past Linux's maximum", () => {
    it('leave the container out of lists and inspections, skipped as unreadable-pid', async () => {
      fake.add('default', 'ok', {}, { pid: 4_194_304, status: Status.RUNNING });
      fake.add('default', 'huge', {}, { pid: 4_194_305, status: Status.RUNNING });
      const seen: EngineEvent[] = [];
      const sub = adapter.events().subscribe((e) => seen.push(e));
      try {
        await eventually(() => assert.deepEqual(seen, [{ type: 'live' }]));
        const { containers, skipped } = await lastValueFrom(adapter.list());
        assert.deepEqual(containers.map((s) => [s.id, s.details?.pid]), [['ok', 4_194_304]]);
        assert.deepEqual(skipped.map((s) => [s.skipped, s.id]), [['unreadable-pid', 'huge']]);
        assert.match(skipped[0]!.message, /PID 4194305, outside Linux's range 1\.\.4194304/);
        assert.deepEqual(await lastValueFrom(adapter.inspect('huge')), skipped[0]);
        assert.equal((await inspectAlive(adapter, 'ok'))?.pid, 4_194_304);
        assert.deepEqual(seen, [{ type: 'live' }], 'nothing on the event stream');
      } finally {
        sub.unsubscribe();
      }
    });
  });

  describe('maxResponseBytes', () => {
    it('fails a list whose answer is over it with a ProtocolError naming the call and the limit', async () => {
      fake.add('default', 'c1', { big: 'x'.repeat(4096) }, { pid: 11, status: Status.RUNNING });
      const bounded = createContainerdAdapter(fake.socket, { maxResponseBytes: 1024 });
      try {
        await assert.rejects(listAlive(bounded), (err: unknown) => {
          assert.ok(err instanceof ProtocolError, String(err));
          assert.equal(err.endpoint, fake.socket);
          assert.equal(err.field, 'containerd.services.containers.v1.Containers/List answer');
          assert.match(err.message, /maxResponseBytes \(1024 bytes\)/);
          return true;
        });
        assert.equal((await listAlive(adapter)).length, 1, 'the default limit lets it through');
      } finally {
        await bounded.close();
      }
    });
  });

  describe('inspect()', () => {
    it('answers details for an alive container and null otherwise', async () => {
      fake.add('prod', 'c1', { 'nerdctl/name': 'db' }, { pid: 21, status: Status.PAUSED });
      fake.add('prod', 'c2', {});
      fake.add('prod', 'c3', {}, { pid: 23, status: Status.STOPPED });
      const details = await inspectAlive(adapter, 'prod/c1');
      assert.equal(details?.name, 'prod/db');
      assert.equal(details?.pid, 21);
      assert.equal(details?.paused, true);
      const raw = details?.raw as { namespace: string; container: Container; task: Process };
      assert.equal(raw.namespace, 'prod');
      assert.equal(raw.container.id, 'c1');
      assert.equal(raw.task.pid, 21);
      assert.equal(await inspectAlive(adapter, 'prod/c2'), null);
      assert.equal(await inspectAlive(adapter, 'prod/c3'), null);
      assert.equal(await inspectAlive(adapter, 'nope'), null);
      assert.equal(await inspectAlive(adapter, 'moby/c1'), null);
    });
  });

  describe('inspect() after /tasks/start (PID hints)', () => {
    const start = (namespace: string, containerId: string, pid: number) =>
      fake.emit(namespace, '/tasks/start', withBareTypeUrl(anyPack(TaskStartSchema, create(TaskStartSchema, { containerId, pid }))));
    const exit = (namespace: string, containerId: string, id: string, pid: number) =>
      fake.emit(namespace, '/tasks/exit', withBareTypeUrl(anyPack(TaskExitSchema, create(TaskExitSchema, { containerId, id, pid }))));
    const lookups = () => fake.calls.filter((c) => c === 'Containers/Get' || c === 'Tasks/Get');
    let seen: EngineEvent[];
    let sub: Subscription;

    beforeEach(async () => {
      seen = [];
      sub = adapter.events().subscribe((e) => seen.push(e));
      await eventually(() => assert.deepEqual(seen, [{ type: 'live' }]));
    });
    afterEach(() => sub.unsubscribe());

    it('makes only Containers/Get, with the PID the event told and the task running', async () => {
      fake.add('prod', 'c1', { 'nerdctl/name': 'db' }, { pid: 99, status: Status.PAUSED }); // Tasks/Get would say otherwise
      start('prod', 'c1', 21);
      await eventually(() => assert.equal(seen.length, 2));
      const details = await inspectAlive(adapter, 'prod/c1');
      assert.deepEqual(lookups(), ['Containers/Get']);
      assert.deepEqual({ ...details, raw: undefined }, { id: 'prod/c1', name: 'prod/db', labels: { 'nerdctl/name': 'db' }, pid: 21, paused: false, raw: undefined });
      const raw = details?.raw as { namespace: string; container: Container; task: Process };
      assert.deepEqual([raw.namespace, raw.container.id, raw.task.containerId, raw.task.pid, raw.task.status], ['prod', 'c1', 'c1', 21, Status.RUNNING]);
      fake.calls.length = 0;
      await inspectAlive(adapter, 'prod/c1');
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get'], 'the hint was taken by the first inspection');
    });

    it('makes both calls without a hint', async () => {
      fake.add('default', 'c1', {}, { pid: 11, status: Status.RUNNING });
      assert.equal((await inspectAlive(adapter, 'c1'))?.pid, 11);
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get']);
    });

    it('answers null for a hinted container that is gone', async () => {
      start('default', 'gone', 31);
      await eventually(() => assert.equal(seen.length, 2));
      assert.equal(await inspectAlive(adapter, 'gone'), null);
      assert.deepEqual(lookups(), ['Containers/Get']);
    });

    it("forgets the hint on the container's exit and pause, not on an exec'd process's exit", async () => {
      fake.add('default', 'c1', {}, { pid: 11, status: Status.RUNNING });
      fake.add('default', 'c2', {}, { pid: 12, status: Status.PAUSED });
      start('default', 'c1', 11);
      exit('default', 'c1', 'exec-1', 500);
      start('default', 'c2', 12);
      fake.emit('default', '/tasks/paused', withBareTypeUrl(anyPack(TaskPausedSchema, create(TaskPausedSchema, { containerId: 'c2' }))));
      start('default', 'c3', 13);
      exit('default', 'c3', 'c3', 13);
      await eventually(() => assert.equal(seen.length, 7));
      await inspectAlive(adapter, 'c1');
      assert.deepEqual(lookups(), ['Containers/Get'], 'an exec exit leaves the hint');
      fake.calls.length = 0;
      assert.equal((await inspectAlive(adapter, 'c2'))?.paused, true, 'asked the task after the pause');
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get']);
      fake.calls.length = 0;
      assert.equal(await inspectAlive(adapter, 'c3'), null);
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get']);
    });

    it('ignores a start with an unreadable PID: the engine is asked and tells why', async () => {
      fake.add('default', 'huge', {}, { pid: 4_194_305, status: Status.RUNNING });
      start('default', 'huge', 4_194_305);
      await eventually(() => assert.equal(seen.length, 2));
      const answer = await lastValueFrom(adapter.inspect('huge'));
      assert.deepEqual(answer && 'skipped' in answer && answer.skipped, 'unreadable-pid');
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get']);
    });

    it('a list drops the hints of containers it does not show, and keeps those it shows', async () => {
      fake.add('default', 'alive', {}, { pid: 11, status: Status.RUNNING });
      start('default', 'alive', 11);
      start('default', 'vanished', 12);
      await eventually(() => assert.equal(seen.length, 3));
      await listAlive(adapter);
      fake.add('default', 'vanished', {}, { pid: 12, status: Status.STOPPED }); // its record, but no running task
      fake.calls.length = 0;
      assert.equal(await inspectAlive(adapter, 'vanished'), null);
      assert.deepEqual(lookups().sort(), ['Containers/Get', 'Tasks/Get']);
      fake.calls.length = 0;
      assert.equal((await inspectAlive(adapter, 'alive'))?.pid, 11);
      assert.deepEqual(lookups(), ['Containers/Get']);
    });
  });

  describe('info()', () => {
    it('tells the server UUID, PID and version', async () => {
      assert.deepEqual(await lastValueFrom(adapter.info()), {
        id: 'c0ffee', pid: 4242, version: 'containerd 1.7.24 abc', type: 'containerd.io',
      });
    });
  });

  describe('errors', () => {
    it('reports a missing socket as unreachable', async () => {
      const a = createContainerdAdapter(join(dir, 'missing.sock'));
      try {
        await assert.rejects(lastValueFrom(a.info()), (err: unknown) => err instanceof EngineUnreachableError && /no such socket/.test(err.message));
      } finally {
        await a.close();
      }
    });

    it('reports an HTTP/1.1 server (e.g. Docker) as a wrong engine', async () => {
      const socket = join(dir, 'docker.sock');
      const server = http.createServer((_req, res) => res.writeHead(404).end('{"message":"page not found"}'));
      await new Promise<void>((r) => server.listen(socket, r));
      const a = createContainerdAdapter(socket);
      try {
        await assert.rejects(listAlive(a), (err: unknown) => err instanceof WrongEngineError);
      } finally {
        await a.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it('reports a gRPC server without the containerd services as a wrong engine', async () => {
      const other = new FakeContainerd(join(dir, 'other.sock'));
      await other.start(() => {});
      const a = createContainerdAdapter(other.socket);
      try {
        await assert.rejects(lastValueFrom(a.info()), (err: unknown) => err instanceof WrongEngineError);
      } finally {
        await a.close();
        await other.stop();
      }
    });

    it('reports a plain file as unreachable (refused)', async () => {
      const path = join(dir, 'plain');
      writeFileSync(path, '');
      const a = createContainerdAdapter(path);
      try {
        await assert.rejects(lastValueFrom(a.info()), (err: unknown) => err instanceof EngineUnreachableError);
      } finally {
        await a.close();
      }
    });
  });

  describe('close()', () => {
    it('releases the connection and open streams', async () => {
      const before = activeResources().filter((r: string) => r === 'PipeWrap').length;
      const a = createContainerdAdapter(fake.socket);
      const events = a.events().pipe(take(1), toArray());
      const live = firstValueFrom(events);
      await live;
      const sub = a.events().subscribe({ error: () => {} });
      await eventually(() => assert.equal(fake.openStreams, 1));
      await a.close();
      sub.unsubscribe();
      await eventually(() => assert.equal(fake.openStreams, 0));
      await eventually(() =>
        assert.ok(activeResources().filter((r: string) => r === 'PipeWrap').length <= before, activeResources().join()),
      );
    });
  });
});

/** containerd's type URLs are bare full names. */
function withBareTypeUrl<T extends { typeUrl: string }>(any: T): T {
  any.typeUrl = any.typeUrl.slice(any.typeUrl.lastIndexOf('/') + 1);
  return any;
}

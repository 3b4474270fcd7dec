/**
 * Hostile input for the gRPC watchers (containerd's native API and CRI), no real engine: fake
 * runtimes (connect-node routers on unix sockets) send payloads of unknown Any types, unknown
 * enum values, unparsable payloads, non-JSON verbose info, broken streams, or nothing at all.
 * What cannot be understood is skipped (with a diagnostic where the adapter tells one); what
 * breaks the connection ends in an exported error class naming the endpoint; nothing crashes
 * or hangs, and a fault in mid-watch keeps every container the watcher knew.
 */
import { expect } from 'chai';
import { Code, ConnectError } from '@connectrpc/connect';
import { containerdWatcher } from '../../engines/containerd/index.js';
import { criWatcher } from '../../engines/cri/index.js';
import { EngineUnreachableError, ProtocolError, WhalewatcherError, WrongEngineError } from '../../lib/errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../lib/options.js';
import type { Watcher } from '../../lib/watcher.js';
import { Status } from '../../protos/gen/containerd/types/task_pb.js';
import { ContainerEventType } from '../../protos/gen/runtime/v1/api_pb.js';
import { waitFor } from '../support/engines.js';
import { FakeContainerdServer, FakeCriServer, emptyGrpcServer, oversizedGrpcServer } from '../support/reliability-grpc-fakes.js';
import { ProcessGuard, Recorder, assertEngineError, portfolioLines, recordFigure, silentServer, sleep, writeFigures } from '../support/reliability-helpers.js';

after(() => writeFigures());

const CALL_TIMEOUT = 400;
const FAST = { initialDelay: 50, maxDelay: 200, jitter: 0 } as const;
const outcomes: string[] = [];

async function rejection(w: Watcher, within: number): Promise<Error> {
  return Promise.race([
    w.ready().then(
      () => new Error('ready() resolved'),
      (e: unknown) => e as Error,
    ),
    sleep(within).then(() => new Error(`ready() neither resolved nor rejected within ${within} ms`)),
  ]);
}

describe('reliability: hostile gRPC engines (fake containerd and CRI)', function () {
  this.timeout(20_000);
  const guard = new ProcessGuard();
  let w: Watcher | undefined;
  let rec: Recorder | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(() => guard.install());
  afterEach(async () => {
    rec?.stop();
    rec = undefined;
    await w?.close();
    w = undefined;
    for (const c of cleanups.splice(0)) await c();
    await sleep(20);
    guard.uninstall();
    guard.check();
  });
  after(() => recordFigure('hostile input, gRPC (containerd, CRI)', outcomes.join('; ')));

  describe('containerd', () => {
    let fake: FakeContainerdServer;
    beforeEach(async () => {
      fake = await new FakeContainerdServer().start();
      cleanups.push(() => fake.close());
      fake.add('c1', 101, Status.RUNNING, { 'nerdctl/name': 'one' });
      fake.add('c2', 102, Status.PAUSED);
    });

    async function watching(): Promise<Watcher> {
      w = containerdWatcher(fake.socket, { backoff: FAST, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(5_000) });
      return w;
    }

    it('an event of an unknown Any type is skipped with a diagnostic', async () => {
      await watching();
      const before = portfolioLines(w!.portfolio);
      fake.emit('/tasks/start', { $typeName: 'google.protobuf.Any', typeUrl: 'containerd.events.TaskTeleported', value: new Uint8Array([8, 1, 18, 3, 97, 98, 99]) });
      fake.emit('/tasks/exit', { $typeName: 'google.protobuf.Any', typeUrl: 'containerd.events.TaskExit', value: new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x12]) });
      await waitFor(() => rec!.diagnostics.filter((d) => d.startsWith('unknown-event')).length >= 2, { timeoutMs: 3_000, what: 'two diagnostics' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(before);
      expect(rec!.state).to.equal('synced');
      outcomes.push('containerd unknown Any type / unparsable payload: skipped with diagnostic');
    });

    it('a task with an unknown status enum value is skipped as not alive, with a diagnostic', async () => {
      fake.add('c3', 103, 99 as Status);
      await watching();
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['c1 101 running', 'c2 102 paused']);
      const listed = rec!.diagnostics.filter((d) => d.startsWith('unknown-status'));
      expect(listed, 'the list skipped c3 with a diagnostic').to.have.length(1);
      expect(listed[0]).to.contain('skipped c3:').and.contain('status 99');
      // A start event without a PID: the lookup cannot take the event's word and asks Tasks/Get.
      fake.emit('/tasks/start', FakeContainerdServer.taskStart('c3', 0));
      await waitFor(() => rec!.diagnostics.filter((d) => d.startsWith('unknown-status')).length === 2, {
        timeoutMs: 3_000,
        what: 'a second unknown-status diagnostic, from the inspection after the start event',
      });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['c1 101 running', 'c2 102 paused']);
      expect(rec!.state).to.equal('synced');
      outcomes.push('containerd unknown task status enum: skipped as not alive, with diagnostic');
    });

    it('a lookup that hangs after a start delays no exit and costs only its container', async () => {
      w = containerdWatcher(fake.socket, { backoff: FAST, callTimeout: 2_000, resyncInterval: 0 });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(5_000) });
      fake.add('c9', 109, Status.RUNNING);
      fake.hang.add('c9');
      fake.emit('/tasks/start', FakeContainerdServer.taskStart('c9', 109));
      const t0 = Date.now();
      fake.emit('/tasks/exit', FakeContainerdServer.taskExit('c1', 101));
      await waitFor(() => portfolioLines(w!.portfolio).join() === 'c2 102 paused', { timeoutMs: 1_500, intervalMs: 5, what: 'c1 gone' });
      const ms = Date.now() - t0;
      await waitFor(() => rec!.diagnostics.some((d) => d.startsWith('lookup-failed') && d.includes('c9')), { timeoutMs: 5_000, what: 'the failed lookup of c9' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['c2 102 paused']);
      expect(rec!.stateNames()).to.not.include('reconnecting');
      outcomes.push(`containerd lookup (Containers/Get) hangs: a later exit applied after ${ms} ms; the container left out with a diagnostic at callTimeout, no reconnect`);
    });

    it('the event stream failing in mid-watch: reconnecting with the error class, synced, portfolio kept', async () => {
      await watching();
      const before = portfolioLines(w!.portfolio);
      const mark = rec!.states.length;
      fake.events.fail(new ConnectError('stream reset by a hostile engine', Code.Internal));
      await waitFor(() => rec!.stateNames(mark).includes('reconnecting'), { timeoutMs: 3_000, what: 'reconnecting' });
      const err = rec!.errors(mark)[0]!;
      await waitFor(() => rec!.stateNames(mark).includes('synced'), { timeoutMs: 5_000, what: 'synced again' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(before);
      expect(rec!.events.slice(2), 'no lifecycle events from a fault').to.deep.equal([]);
      assertEngineError(err, fake.socket, [EngineUnreachableError, ProtocolError]);
      outcomes.push(`containerd stream fails (INTERNAL): ${err.constructor.name}, kept`);
    });

    it('the event stream ending in mid-watch: reconnecting, synced, portfolio kept', async () => {
      await watching();
      const before = portfolioLines(w!.portfolio);
      const mark = rec!.states.length;
      fake.events.fail();
      await waitFor(() => rec!.stateNames(mark).includes('reconnecting'), { timeoutMs: 3_000, what: 'reconnecting' });
      const err = rec!.errors(mark)[0]!;
      assertEngineError(err, fake.socket, [EngineUnreachableError]);
      await waitFor(() => rec!.stateNames(mark).includes('synced'), { timeoutMs: 5_000, what: 'synced again' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(before);
      outcomes.push(`containerd stream ends: ${err.constructor.name}, kept`);
    });

    it('an answer over maxResponseBytes is a ProtocolError naming the call and the limit', async () => {
      fake.add('c3', 103, Status.RUNNING, { big: 'x'.repeat(4096) });
      w = containerdWatcher(fake.socket, { backoff: false, callTimeout: CALL_TIMEOUT, maxResponseBytes: 1024 });
      const err = await rejection(w, 3_000);
      assertEngineError(err, fake.socket, [ProtocolError]);
      expect(err.message).to.contain('containerd.services.containers.v1.Containers/List answer').and.contain('maxResponseBytes (1024 bytes)');
      outcomes.push(`containerd answer over maxResponseBytes: ${err.constructor.name}`);
    });

    it('an empty server identity is a ProtocolError', async () => {
      fake.uuid = '';
      w = containerdWatcher(fake.socket, { backoff: false, callTimeout: CALL_TIMEOUT });
      const err = await rejection(w, 3_000);
      assertEngineError(err, fake.socket, [ProtocolError]);
      outcomes.push(`containerd empty uuid: ${err.constructor.name}`);
    });

    it('a gRPC server without containerd services is the wrong engine', async () => {
      const empty = await emptyGrpcServer();
      cleanups.push(() => empty.close());
      w = containerdWatcher(empty.socket, { backoff: false, callTimeout: CALL_TIMEOUT });
      const err = await rejection(w, 3_000);
      assertEngineError(err, empty.socket, [WrongEngineError]);
      outcomes.push(`gRPC server without containerd: ${err.constructor.name}`);
    });

    it('a socket that accepts and never answers times out', async () => {
      const silent = await silentServer();
      cleanups.push(() => silent.close());
      const socket = silent.api.replace('unix://', '');
      w = containerdWatcher(socket, { backoff: false, callTimeout: CALL_TIMEOUT });
      const t0 = Date.now();
      const err = await rejection(w, 3_000);
      assertEngineError(err, socket, [EngineUnreachableError]);
      expect(Date.now() - t0).to.be.lessThan(CALL_TIMEOUT * 4);
      await w.close();
      await waitFor(() => silent.connections() === 0, { timeoutMs: 2_000, what: 'sockets closed after close()' });
      outcomes.push(`containerd socket never answers: ${err.constructor.name} (${err.message.replace(/.*: /, '')})`);
    });
  });

  describe('CRI', () => {
    let fake: FakeCriServer;
    beforeEach(async () => {
      fake = await new FakeCriServer().start();
      cleanups.push(() => fake.close());
      fake.sandbox('sb1', 'pod1', 200);
      fake.container('k1', 'sb1', 'main', 201);
    });

    async function watching(): Promise<Watcher> {
      w = criWatcher(fake.socket, { backoff: FAST, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(5_000) });
      return w;
    }

    it('non-JSON verbose info: the container is skipped as not alive, with a diagnostic', async () => {
      fake.container('k2', 'sb1', 'garbled', 202, { info: '<html>not json</html>' });
      await watching();
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['k1 201 running', 'sb1 200 running']);
      const unreadable = () => rec!.diagnostics.filter((d) => d.startsWith('unreadable-status'));
      expect(unreadable(), 'the list skipped k2 with a diagnostic').to.have.length(1);
      expect(unreadable()[0]).to.contain('k2').and.contain('not JSON').and.contain('<html>');
      fake.container('k3', 'sb1', 'garbled2', 203, { info: '{"pid": "NaN", truncated' });
      fake.emit('k3', ContainerEventType.CONTAINER_STARTED_EVENT);
      await waitFor(() => unreadable().some((d) => d.includes('k3')), { timeoutMs: 3_000, what: 'the diagnostic of k3' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['k1 201 running', 'sb1 200 running']);
      expect(rec!.state).to.equal('synced');
      outcomes.push('CRI non-JSON verbose info: container skipped as not alive, with diagnostic');
    });

    it('an unknown event type enum value is skipped with a diagnostic', async () => {
      await watching();
      fake.emit('k1', 42);
      await waitFor(() => rec!.diagnostics.some((d) => d.startsWith('unknown-event')), { timeoutMs: 3_000, what: 'diagnostic' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['k1 201 running', 'sb1 200 running']);
      outcomes.push('CRI unknown event type 42: skipped with diagnostic');
    });

    it('an unknown container state enum value is not taken for running', async () => {
      fake.container('k4', 'sb1', 'weird', 204, { state: 77 });
      await watching();
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['k1 201 running', 'sb1 200 running']);
      outcomes.push('CRI unknown container state 77: treated as not running');
    });

    it('the event stream failing in mid-watch: reconnecting with the error class, synced, portfolio kept', async () => {
      await watching();
      const before = portfolioLines(w!.portfolio);
      const mark = rec!.states.length;
      fake.events.fail(new ConnectError('hostile reset', Code.Internal));
      await waitFor(() => rec!.stateNames(mark).includes('reconnecting'), { timeoutMs: 3_000, what: 'reconnecting' });
      const err = rec!.errors(mark)[0]!;
      await waitFor(() => rec!.stateNames(mark).includes('synced'), { timeoutMs: 5_000, what: 'synced again' });
      expect(portfolioLines(w!.portfolio)).to.deep.equal(before);
      assertEngineError(err, fake.socket, [EngineUnreachableError, ProtocolError]);
      outcomes.push(`CRI stream fails (INTERNAL): ${err.constructor.name}, kept`);
    });

    it('an answer over maxResponseBytes is a ProtocolError naming the call and the limit', async () => {
      fake.container('k2', 'sb1', 'big', 202, { labels: { big: 'x'.repeat(4096) } });
      w = criWatcher(fake.socket, { backoff: false, callTimeout: CALL_TIMEOUT, maxResponseBytes: 1024 });
      const err = await rejection(w, 3_000);
      assertEngineError(err, fake.socket, [ProtocolError]);
      expect(err.message)
        .to.contain('runtime.v1.RuntimeService/ListContainers answer')
        .and.contain('larger than maxResponseBytes (1024 bytes)');
      outcomes.push(`CRI answer over maxResponseBytes: ${err.constructor.name} (${err.message.replace(/.*: /, '')})`);
    });

    it('with the default bound, an answer announced at 4 GiB fails at its length prefix, reading next to nothing', async () => {
      const huge = await oversizedGrpcServer();
      cleanups.push(() => huge.close());
      w = criWatcher(huge.socket, { backoff: false, callTimeout: 5_000 });
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = Date.now();
      const err = await rejection(w, 5_000);
      const ms = Date.now() - t0;
      const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
      assertEngineError(err, huge.socket, [ProtocolError]);
      expect(err.message).to.contain(`larger than maxResponseBytes (${DEFAULT_MAX_RESPONSE_BYTES} bytes)`).and.contain('runtime.v1.RuntimeService/');
      expect(huge.written(), 'bytes the server got to hand over').to.be.lessThan(DEFAULT_MAX_RESPONSE_BYTES / 16);
      expect(ms).to.be.lessThan(2_000);
      const figure = `${err.constructor.name} after ${ms} ms; server handed over ${(huge.written() / 2 ** 10).toFixed(0)} KiB of the 4 GiB announced; heap ${heapMiB >= 0 ? '+' : ''}${heapMiB.toFixed(1)} MiB`;
      console.log(`      ${figure}`);
      recordFigure('gRPC answer announced at 4 GiB (default maxResponseBytes 64 MiB)', figure);
      outcomes.push(`CRI answer announced at 4 GiB: ${err.constructor.name} at the length prefix`);
    });

    it('a STARTED costs one status call, and a status call that hangs delays no later event', async () => {
      w = criWatcher(fake.socket, { backoff: FAST, callTimeout: 10_000, resyncInterval: 0 });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(5_000) });
      fake.statusCalls.splice(0);
      fake.container('k5', 'sb1', 'fresh', 205);
      fake.emitWithStatuses('k5', ContainerEventType.CONTAINER_STARTED_EVENT);
      await waitFor(() => portfolioLines(w!.portfolio).includes('k5 205 running'), { timeoutMs: 3_000, what: 'k5 shown' });
      expect(fake.statusCalls).to.deep.equal(['containerStatus k5']);

      fake.container('k9', 'sb1', 'hung', 209);
      fake.hang.add('k9');
      fake.emitWithStatuses('k9', ContainerEventType.CONTAINER_STARTED_EVENT);
      await waitFor(() => fake.statusCalls.includes('containerStatus k9'), { timeoutMs: 3_000, what: 'the lookup of k9 went out' });
      const t0 = Date.now();
      fake.entities.delete('k1');
      fake.emitWithStatuses('k5', ContainerEventType.CONTAINER_STOPPED_EVENT);
      fake.emit('k1', ContainerEventType.CONTAINER_STOPPED_EVENT);
      await waitFor(() => portfolioLines(w!.portfolio).join() === 'sb1 200 running', { timeoutMs: 3_000, intervalMs: 5, what: 'k1 and k5 gone' });
      const ms = Date.now() - t0;
      expect(ms, 'the exits did not wait for the hung status call').to.be.lessThan(1_000);
      expect(rec.state).to.equal('synced');
      expect(fake.statusCalls).to.deep.equal(['containerStatus k5', 'containerStatus k9'], 'one status call per STARTED');
      outcomes.push(`CRI hung ContainerStatus: later exits applied after ${ms} ms, one status call per STARTED`);
    });

    it('a status call that hangs during the first sync costs only its container, never the list or the session', async () => {
      fake.container('k9', 'sb1', 'hung', 209);
      fake.hang.add('k9');
      const t0 = Date.now();
      await watching();
      const ms = Date.now() - t0;
      expect(portfolioLines(w!.portfolio)).to.deep.equal(['k1 201 running', 'sb1 200 running']);
      expect(rec!.stateNames()).to.not.include('reconnecting');
      expect(rec!.diagnostics.filter((d) => d.includes('k9'))).to.have.length(1);
      expect(ms, 'synced within about one callTimeout').to.be.lessThan(CALL_TIMEOUT * 4);
      expect(fake.statusCalls.filter((c) => c === 'containerStatus k9')).to.have.length(1);
      outcomes.push(`CRI ContainerStatus hangs at first sync: synced after ${ms} ms without it, no reconnect`);
    });

    it('a gRPC server without the CRI service is the wrong engine', async () => {
      const empty = await emptyGrpcServer();
      cleanups.push(() => empty.close());
      w = criWatcher(empty.socket, { backoff: false, callTimeout: CALL_TIMEOUT });
      const err = await rejection(w, 3_000);
      assertEngineError(err, empty.socket, [WrongEngineError]);
      outcomes.push(`gRPC server without CRI: ${err.constructor.name}`);
    });

    it('a socket that accepts and never answers times out', async () => {
      const silent = await silentServer();
      cleanups.push(() => silent.close());
      const socket = silent.api.replace('unix://', '');
      w = criWatcher(socket, { backoff: false, callTimeout: CALL_TIMEOUT });
      const err = await rejection(w, 3_000);
      assertEngineError(err, socket, [EngineUnreachableError]);
      expect(err).to.be.instanceOf(WhalewatcherError);
      outcomes.push(`CRI socket never answers: ${err.constructor.name}`);
    });
  });
});

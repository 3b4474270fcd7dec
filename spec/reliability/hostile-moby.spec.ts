/**
 * Hostile input for the Docker/Podman watcher (no real engine): fake Docker API servers on unix
 * sockets answer garbage, HTML, wrong API versions, broken event streams, or nothing at all.
 * Each fault ends in an exported error class naming the endpoint (`ready()` with retries off,
 * `state$` reconnecting with them on), never in a crash or a hang, and a fault in mid-watch
 * keeps every container the watcher knew.
 */
import { expect } from 'chai';
import type * as http from 'node:http';
import { mobyWatcher } from '../../engines/moby/index.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from '../../lib/errors.js';
import type { Portfolio } from '../../lib/model.js';
import type { Diagnostic, Watcher } from '../../lib/watcher.js';
import { type FakeDocker, inspection, startFakeDocker } from '../unit/moby-fakeserver.js';
import { waitFor } from '../support/engines.js';
import { ProcessGuard, Recorder, assertEngineError, recordFigure, silentServer, sleep, writeFigures } from '../support/reliability-helpers.js';

after(() => writeFigures());

const CALL_TIMEOUT = 400;
const FAST = { initialDelay: 50, maxDelay: 200, jitter: 0 } as const;
const outcomes: string[] = [];

describe('reliability: hostile Docker API servers (fake engines)', function () {
  this.timeout(20_000);
  const guard = new ProcessGuard();
  let fake: FakeDocker;
  let w: Watcher | undefined;

  beforeEach(async () => {
    guard.install();
    fake = await startFakeDocker();
  });
  afterEach(async () => {
    await w?.close();
    w = undefined;
    await fake.close();
    await sleep(20); // late socket errors would surface now
    guard.uninstall();
    guard.check();
  });
  after(() => recordFigure('hostile input, Docker API', outcomes.join('; ')));

  /** ready() with retries off must reject with one of `kinds`, naming the endpoint, in time. */
  async function rejectsReady(label: string, kinds: Parameters<typeof assertEngineError>[2], api = fake.api, within = 5_000): Promise<Error> {
    w = mobyWatcher(api, { backoff: false, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
    const t0 = Date.now();
    const err = await Promise.race([
      w.ready().then(
        () => new Error('ready() resolved'),
        (e: unknown) => e as Error,
      ),
      sleep(within).then(() => new Error(`ready() neither resolved nor rejected within ${within} ms`)),
    ]);
    assertEngineError(err, api, kinds);
    outcomes.push(`${label}: ${err.constructor.name}`);
    console.log(`      ${label} → ${err.constructor.name} after ${Date.now() - t0} ms: ${err.message}`);
    return err;
  }

  const answerAll = (status: number, type: string, body: string | Buffer) => {
    fake.intercept = (_req, res) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
      return true;
    };
  };

  describe('first connection, retries off: ready() rejects with the error class', () => {
    it('garbage instead of JSON', async () => {
      answerAll(200, 'application/json', '}{\u0000\u00ff not json at all');
      await rejectsReady('garbage JSON', [WrongEngineError, ProtocolError]);
    });

    it('an HTML page instead of JSON (200)', async () => {
      answerAll(200, 'text/html', '<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>');
      await rejectsReady('HTML 200', [WrongEngineError, ProtocolError]);
    });

    it('an HTML error page (404)', async () => {
      answerAll(404, 'text/html', '<html><body>Not Found</body></html>');
      await rejectsReady('HTML 404', [WrongEngineError]);
    });

    it('a daemon that refuses our API version (400 "client version is too new")', async () => {
      answerAll(400, 'application/json', JSON.stringify({ message: 'client version 1.41 is too new. Maximum supported API version is 1.24' }));
      const err = await rejectsReady('wrong API version (400)', [WrongEngineError, ProtocolError]);
      expect(err.message).to.match(/1\.24|too new|400/);
    });

    it('a version answer of the wrong shape (Version is a number)', async () => {
      fake.version = { Version: 42, ApiVersion: 1.12 };
      fake.info = () => ({ ServerVersion: 42 });
      await rejectsReady('version of wrong shape', [ProtocolError, WrongEngineError]);
    });

    it('a container list that is not an array', async () => {
      fake.intercept = (req, res) => {
        if (!/\/containers\/json/.test(req.url ?? '')) return false;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"containers":"nope"}');
        return true;
      };
      const err = await rejectsReady('list not an array', [ProtocolError]);
      expect((err as ProtocolError).field).to.equal('container list');
    });

    it('an inspection with a malformed PID: that container is skipped with a diagnostic, the rest syncs', async () => {
      fake.containers.set('c1', inspection('c1', 'one', 77, { State: { Pid: 'abc' } }));
      fake.containers.set('c2', inspection('c2', 'two', 78));
      fake.intercept = (req, res) => {
        if (!/\/containers\/json/.test(req.url ?? '')) return false;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify([{ Id: 'c1', State: 'running' }, { Id: 'c2', State: 'running' }]));
        return true;
      };
      w = mobyWatcher(fake.api, { backoff: false, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
      const diagnostics: Diagnostic[] = [];
      w.diagnostics$.subscribe((d) => diagnostics.push(d));
      const portfolio = await w.ready({ signal: AbortSignal.timeout(5_000) });
      expect(portfolio.containers().map((c) => c.name)).to.deep.equal(['two']);
      expect(diagnostics.map((d) => [d.code, d.id])).to.deep.equal([['unreadable-inspection', 'c1']]);
      expect(diagnostics[0]!.message).to.contain('State.Pid').and.contain('"abc"');
      outcomes.push('inspection with a malformed PID: that container skipped with a diagnostic naming State.Pid');
    });

    it('a daemon that accepts and never answers: every call times out', async () => {
      const silent = await silentServer();
      try {
        const t0 = Date.now();
        const err = await rejectsReady('accepts, never answers', [EngineUnreachableError], silent.api, 3_000);
        expect(err.message).to.match(/timed out/);
        expect(Date.now() - t0).to.be.lessThan(CALL_TIMEOUT * 4);
        await w!.close();
        await waitFor(() => silent.connections() === 0, { timeoutMs: 2_000, what: 'client sockets closed after close()' });
      } finally {
        await silent.close();
      }
    });

    it('a daemon that answers /info but never sends the /events response headers', async () => {
      fake.intercept = (req) => /\/events/.test(req.url ?? ''); // swallowed: no headers, ever
      const err = await rejectsReady('event headers never come', [EngineUnreachableError], fake.api, CALL_TIMEOUT * 10);
      expect(err.message).to.match(/timed out|live/);
    });

    it('the same faults with retries on: state$ reconnecting with the error class, never a crash', async () => {
      answerAll(200, 'text/html', '<html>nope</html>');
      w = mobyWatcher(fake.api, { backoff: FAST, callTimeout: CALL_TIMEOUT });
      const rec = new Recorder(w);
      try {
        await waitFor(() => rec.states.filter((s) => s.state === 'reconnecting' || s.state === 'failed').length >= 1, {
          timeoutMs: 5_000,
          what: 'reconnecting or failed',
        });
        const err = rec.errors()[0]!;
        assertEngineError(err, fake.api, [WrongEngineError, ProtocolError]);
        // WrongEngineError is final (no retries); anything else keeps retrying.
        if (!(err instanceof WrongEngineError)) {
          await waitFor(() => rec.errors().length >= 3, { timeoutMs: 5_000, what: 'three attempts' });
        }
        outcomes.push(`HTML with retries: ${rec.state} (${err.constructor.name})`);
      } finally {
        rec.stop();
      }
    });
  });

  describe('one stuck container never blinds the watcher', () => {
    /** Inspections of `stuck` IDs are swallowed: dockerd holding a container's lock does that. */
    const hangInspections = (stuck: Set<string>) => {
      fake.intercept = (req) => [...stuck].some((id) => (req.url ?? '').includes(`/containers/${id}/json`));
    };

    it('one of 50 inspections never answers: synced with the 49 and a diagnostic naming it, no reconnect', async () => {
      for (let i = 0; i < 50; i++) fake.containers.set(`c${i}`, inspection(`c${i}`, `n${i}`, 100 + i));
      hangInspections(new Set(['c17']));
      w = mobyWatcher(fake.api, { backoff: FAST, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
      const rec = new Recorder(w);
      try {
        const t0 = Date.now();
        const p = await w.ready({ signal: AbortSignal.timeout(5_000) });
        const ms = Date.now() - t0;
        expect(p.containerTotal).to.equal(49);
        expect(p.container('n17')).to.equal(undefined);
        expect(rec.diagnostics.filter((d) => d.startsWith('lookup-failed'))).to.have.length(1);
        expect(rec.diagnostics.find((d) => d.startsWith('lookup-failed'))).to.contain('c17').and.contain('timed out');
        expect(rec.stateNames()).to.not.include('reconnecting');
        expect(fake.eventStreams).to.have.length(1);
        outcomes.push(`one of 50 inspections hangs: synced with 49 after ${ms} ms (callTimeout ${CALL_TIMEOUT} ms), one diagnostic, no reconnect`);
        recordFigure('Docker, one of 50 inspections hangs', `synced with 49 after ${ms} ms (callTimeout ${CALL_TIMEOUT} ms); 1 lookup-failed diagnostic; 1 event stream (no reconnect)`);
      } finally {
        rec.stop();
      }
    });

    it('after the sync, a newcomer whose inspection hangs stays out; the exit of another applies at once', async () => {
      fake.containers.set('a', inspection('a', 'alpha', 201));
      fake.containers.set('b', inspection('b', 'beta', 202));
      const stuck = new Set<string>();
      hangInspections(stuck);
      w = mobyWatcher(fake.api, { backoff: FAST, callTimeout: 10_000, resyncInterval: 0 });
      const rec = new Recorder(w);
      try {
        await w.ready({ signal: AbortSignal.timeout(5_000) });
        const stream = await fake.nextEventStream(1);
        const time = Math.floor(Date.now() / 1000);
        const event = (Action: string, id: string) => JSON.stringify({ Type: 'container', Action, id, Actor: { ID: id, Attributes: {} }, time }) + '\n';
        stuck.add('x');
        fake.containers.set('x', inspection('x', 'xray', 203));
        stream.write(event('start', 'x'));
        await waitFor(() => fake.requests.some((u) => u.includes('/containers/x/json')), { timeoutMs: 2_000, intervalMs: 5, what: 'the inspection of x' });
        const t0 = Date.now();
        fake.containers.delete('a');
        stream.write(event('die', 'a'));
        await waitFor(() => !w!.portfolio.container('alpha'), { timeoutMs: 2_000, intervalMs: 2, what: 'alpha gone' });
        const ms = Date.now() - t0;
        expect(ms).to.be.lessThan(1_000);
        expect(w.portfolio.containers().map((c) => c.name)).to.deep.equal(['beta']);
        expect(rec.stateNames()).to.deep.equal(['idle', 'connecting', 'synced']);
        outcomes.push(`a newcomer's inspection hangs after the sync: another's exit applied after ${ms} ms, still synced`);
      } finally {
        rec.stop();
      }
    });
  });

  describe('faults in mid-watch, retries on: reconnecting, then synced, portfolio kept', () => {
    let rec: Recorder;
    let seen: Portfolio[];

    async function watching(): Promise<http.ServerResponse> {
      fake.containers.set('c1', inspection('c1', 'one', 77));
      fake.containers.set('c2', inspection('c2', 'two', 78, { Config: { Labels: { 'com.docker.compose.project': 'p' } } }));
      w = mobyWatcher(fake.api, { backoff: FAST, callTimeout: CALL_TIMEOUT, resyncInterval: 0 });
      rec = new Recorder(w);
      seen = [];
      const stream = fake.nextEventStream(1);
      await w.ready({ signal: AbortSignal.timeout(5_000) });
      w.portfolio$.subscribe((p) => seen.push(p));
      return stream;
    }

    async function faultThenRecovery(label: string, kinds: Parameters<typeof assertEngineError>[2], fault: (res: http.ServerResponse) => void): Promise<void> {
      const res = await watching();
      const mark = rec.states.length;
      const known = w!.portfolio;
      fault(res);
      await waitFor(() => rec.stateNames(mark).includes('reconnecting'), { timeoutMs: 5_000, what: 'reconnecting' });
      const err = rec.errors(mark)[0]!;
      assertEngineError(err, fake.api, kinds);
      await waitFor(() => rec.stateNames(mark).includes('synced'), { timeoutMs: 5_000, what: 'synced again' });
      expect(rec.stateNames(mark).indexOf('reconnecting')).to.be.lessThan(rec.stateNames(mark).lastIndexOf('synced'));
      for (const p of [...seen, w!.portfolio]) {
        expect(p.containers().map((c) => `${c.id} ${c.pid}`)).to.deep.equal(['c1 77', 'c2 78']);
      }
      expect(w!.portfolio.container('c1')).to.equal(known.container('c1'), 'unchanged containers keep their identity');
      expect(rec.events.filter((e) => e.type !== 'started' || rec.events.indexOf(e) >= 2)).to.deep.equal([], 'no lifecycle event from a fault');
      outcomes.push(`${label}: ${err.constructor.name}, kept`);
      console.log(`      ${label} → reconnecting (${err.constructor.name}: ${err.message}), synced again, portfolio kept`);
      rec.stop();
    }

    it('garbage on the event stream', () =>
      faultThenRecovery('garbage event line', [ProtocolError], (res) => res.write('{"Type":"container"}\nGARBAGE<html>\n')));

    it('an event with a wrong field type', () =>
      faultThenRecovery('event with numeric Actor.ID', [ProtocolError], (res) =>
        res.write(JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 12345 } }) + '\n'),
      ));

    it('a truncated event line, then the stream ends', () =>
      faultThenRecovery('truncated event, stream ends', [ProtocolError, EngineUnreachableError], (res) => {
        res.write('{"Type":"container","Action":"die","Actor":{"ID":"c1"');
        setTimeout(() => res.end(), 20);
      }));

    it('an oversized event line (over 1 MiB without end)', () =>
      faultThenRecovery('oversized event (>1 MiB)', [ProtocolError], (res) => {
        res.write('{"Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"x":"');
        res.write('x'.repeat(1_100_000));
      }));

    it('the event stream closing mid-event (connection dropped)', () =>
      faultThenRecovery('stream drops mid-event', [EngineUnreachableError, ProtocolError], (res) => {
        res.write('{"Type":"container","Action":"pau');
        setTimeout(() => res.socket?.destroy(), 20);
      }));

    it('an idle but healthy event stream is not a stall', async () => {
      await watching();
      const mark = rec.states.length;
      await sleep(CALL_TIMEOUT * 5);
      expect(rec.stateNames(mark), 'no state change while idle').to.deep.equal([]);
      expect(rec.state).to.equal('synced');
      outcomes.push(`idle stream ${CALL_TIMEOUT * 5} ms (5× callTimeout): stays synced`);
      rec.stop();
    });
  });
});

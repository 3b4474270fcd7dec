import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, type Subscription } from 'rxjs';
import { PRIVILEGED_LABEL, createMobyAdapter } from '../../engines/moby/adapter.js';
import type { EngineAdapter, EngineEvent } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from '../../lib/errors.js';
import { watch } from '../../lib/watch.js';
import { waitFor } from '../support/engines.js';
import { activeResources } from '../support/reliability-helpers.js';
import { type FakeDocker, inspection, startFakeDocker } from './moby-fakeserver.js';
import { inspectAlive, listAlive } from '../support/answers.js';


/** Collects what an events() subscription delivers. */
function collect(adapter: EngineAdapter) {
  const events: EngineEvent[] = [];
  const errors: unknown[] = [];
  const sub: Subscription = adapter.events().subscribe({ next: (e) => events.push(e), error: (e) => errors.push(e) });
  return { events, errors, sub };
}

const ev = (action: string, id: string, attrs: Record<string, string> = {}, timeNano = 1_700_000_000_000_000_000) =>
  JSON.stringify({ status: action, id, Type: 'container', Action: action, Actor: { ID: id, Attributes: attrs }, scope: 'local', time: Math.floor(timeNano / 1e9), timeNano });

describe('moby adapter (fake engine on a unix socket)', () => {
  let fake: FakeDocker;
  let adapter: EngineAdapter;

  beforeEach(async () => {
    fake = await startFakeDocker();
    adapter = createMobyAdapter(fake.api);
  });
  afterEach(async () => {
    await adapter.close();
    await fake.close();
  });

  describe('info', () => {
    it('reports Docker identity and version', async () => {
      expect(await firstValueFrom(adapter.info())).to.deep.equal({ id: 'AAAA:BBBB', version: 'Docker Engine 20.10.24', type: 'docker.com' });
    });

    it('detects Podman and derives a stable ID although /info makes up a new one per call', async () => {
      fake.version = { Version: '4.3.1', Components: [{ Name: 'Podman Engine', Version: '4.3.1' }], Platform: { Name: 'linux/amd64/debian-12' } };
      let n = 0;
      fake.info = () => ({ ID: `random-${n++}`, Name: 'host', DockerRootDir: '/var/lib/containers/storage', SystemTime: new Date().toISOString() });
      const a = await firstValueFrom(adapter.info());
      const b = await firstValueFrom(adapter.info());
      expect(a.type).to.equal('podman.io');
      expect(a.version).to.equal('Podman Engine 4.3.1');
      expect(a.id).to.equal(b.id).and.match(/^[0-9a-f-]{36}$/);
    });

    it('lets the type option override the detection', async () => {
      const typed = createMobyAdapter(fake.api, { type: 'example.org' });
      expect(typed.type).to.equal('example.org');
      expect((await firstValueFrom(typed.info())).type).to.equal('example.org');
      await typed.close();
    });
  });

  describe('list and inspect', () => {
    beforeEach(() => {
      fake.containers.set('c1', inspection('c1', 'web-1', 101, { Config: { Labels: { 'com.docker.compose.project': 'shop' } } }));
      fake.containers.set('c2', inspection('c2', 'db-1', 102, { State: { Pid: 102, Paused: true, Running: true }, HostConfig: { Privileged: true } }));
      fake.containers.set('c3', inspection('c3', 'restarting', 0, { Config: { Labels: null } }));
    });

    it('lists running and paused containers with the status filter', async () => {
      const list = await listAlive(adapter);
      expect(list).to.deep.equal([{ id: 'c1', paused: false }, { id: 'c2', paused: true }]);
      const url = new URL(fake.requests.find((r) => r.startsWith('/containers/json'))!, 'http://x');
      expect(JSON.parse(url.searchParams.get('filters')!)).to.deep.equal({ status: ['running', 'paused'] });
    });

    it('inspects: name without the slash, labels, privileged marker, PID, paused, raw', async () => {
      const c1 = await inspectAlive(adapter, 'c1');
      expect(c1).to.deep.include({ id: 'c1', name: 'web-1', labels: { 'com.docker.compose.project': 'shop' }, pid: 101, paused: false });
      expect(c1!.raw).to.deep.equal(fake.containers.get('c1'));
      const c2 = await inspectAlive(adapter, 'c2');
      expect(c2).to.deep.include({ name: 'db-1', labels: { [PRIVILEGED_LABEL]: '' }, pid: 102, paused: true });
    });

    it('gives null for a container without PID and for a gone one', async () => {
      expect(await inspectAlive(adapter, 'c3')).to.equal(null);
      expect(await inspectAlive(adapter, 'nope')).to.equal(null);
    });

    it('answers a malformed inspection with a skip naming the field', async () => {
      fake.containers.set('bad', inspection('bad', 'bad', 0, { State: { Pid: 'abc' } }));
      const answer = await firstValueFrom(adapter.inspect('bad'));
      expect(answer).to.include({ skipped: 'unreadable-inspection', id: 'bad' });
      expect((answer as { message: string }).message).to.contain('State.Pid').and.contain('"abc"');
    });
  });

  describe('events', () => {
    it('shares one /info request between the identity and the events start that ask at once; later ones ask again', async () => {
      const infos = () => fake.requests.filter((r) => r.startsWith('/info') || /\/v[\d.]+\/info/.test(r)).length;
      const identity = firstValueFrom(adapter.info());
      const { sub } = collect(adapter);
      await identity;
      await fake.nextEventStream();
      expect(infos(), '/info requests for identity + since=').to.equal(1);
      await firstValueFrom(adapter.info());
      expect(infos(), '/info after the first one completed').to.equal(2);
      sub.unsubscribe();
    });

    it('subscribes with filters and since=<daemon time>, emits live first, then normalized events', async () => {
      const { events, errors, sub } = collect(adapter);
      const res = await fake.nextEventStream();
      const url = new URL(fake.requests.find((r) => r.startsWith('/events'))!, 'http://x');
      // The daemon's time, made as early as the wait for /info (and 1 ms more), never later.
      const since = Number(url.searchParams.get('since'));
      const daemon = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000 + 0.123456789;
      expect(since).to.be.lessThan(daemon - 0.0009).and.greaterThan(daemon - 1);
      expect(JSON.parse(url.searchParams.get('filters')!)).to.deep.equal({
        type: ['container'],
        event: ['start', 'die', 'died', 'pause', 'unpause', 'rename'],
      });
      await waitFor(() => events.length === 2, { what: 'live', timeoutMs: 3_000, intervalMs: 5 });
      expect(events).to.deep.equal([{ type: 'subscribed' }, { type: 'live' }]);
      res.write(`${ev('start', 'c1')}\n${ev('exec_start: sh', 'c1')}\n${ev('rename', 'c1', { name: 'new' })}\n`);
      await waitFor(() => events.length === 4, { what: 'events', timeoutMs: 3_000, intervalMs: 5 });
      expect(events.slice(2)).to.deep.equal([
        { type: 'started', id: 'c1', at: new Date(1_700_000_000_000) },
        { type: 'updated', id: 'c1', name: 'new', at: new Date(1_700_000_000_000) },
      ]);
      expect(errors).to.deep.equal([]);
      sub.unsubscribe();
    });

    const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    const hostile: [string, (s: Buffer) => Uint8Array[]][] = [
      ['byte by byte', (b) => [...b].map((x) => new Uint8Array([x]))],
      ['all in one chunk, no newlines', (b) => [u8(Buffer.from(b.toString('utf8').replace(/\n/g, ''), 'utf8'))]],
      ['split in the middle of events and UTF-8 characters', (b) => {
        const cut = b.indexOf('🐋') + 2;
        return [b.subarray(0, 7), b.subarray(7, cut), b.subarray(cut, cut + 1), b.subarray(cut + 1)].map(u8);
      }],
    ];
    for (const [name, chunk] of hostile) {
      it(`frames a hostile chunking: ${name}`, async () => {
        const { events, errors, sub } = collect(adapter);
        const res = await fake.nextEventStream();
        const body = `${ev('start', 'c1', { name: 'wal-🐋' })}\n${ev('pause', 'c1')}\n${ev('unpause', 'c1')}\n${ev('die', 'c1')}\n`;
        for (const part of chunk(Buffer.from(body, 'utf8'))) {
          res.write(part);
          await new Promise((r) => setImmediate(r));
        }
        await waitFor(() => events.length === 6 || errors.length > 0, { what: 'events', timeoutMs: 3_000, intervalMs: 5 });
        expect(errors).to.deep.equal([]);
        expect(events.map((e) => e.type)).to.deep.equal(['subscribed', 'live', 'started', 'paused', 'unpaused', 'died']);
        sub.unsubscribe();
      });
    }

    it('errors with ProtocolError on a garbage line, and EngineUnreachableError when the stream ends', async () => {
      const first = collect(adapter);
      (await fake.nextEventStream(1)).write(`${ev('start', 'c1')}\nthis is not JSON\n`);
      await waitFor(() => first.errors.length > 0, { what: 'error', timeoutMs: 3_000, intervalMs: 5 });
      expect(first.events.map((e) => e.type)).to.deep.equal(['subscribed', 'live', 'started']);
      expect(first.errors[0]).to.be.instanceOf(ProtocolError).and.include({ field: 'events stream' });

      const second = collect(adapter);
      (await fake.nextEventStream(2)).end(`${ev('die', 'c1')}\n`);
      await waitFor(() => second.errors.length > 0, { what: 'error', timeoutMs: 3_000, intervalMs: 5 });
      expect(second.events.map((e) => e.type)).to.deep.equal(['subscribed', 'live', 'died']);
      expect(second.errors[0]).to.be.instanceOf(EngineUnreachableError);
    });

    it('errors with ProtocolError naming a missing event field', async () => {
      const { errors } = collect(adapter);
      (await fake.nextEventStream()).write('{"Type":"container","Action":"start","Actor":{}}\n');
      await waitFor(() => errors.length > 0, { what: 'error', timeoutMs: 3_000, intervalMs: 5 });
      expect(errors[0]).to.be.instanceOf(ProtocolError).and.include({ field: 'event Actor.ID' });
    });

    it('aborts the HTTP request on unsubscribe: no connection remains', async () => {
      const { sub } = collect(adapter);
      const res = await fake.nextEventStream();
      const socket = res.req.socket;
      const closed = new Promise((r) => socket.on('close', r));
      sub.unsubscribe();
      await closed;
      // Only the keep-alive connection of the short requests is left (closed by close()).
      expect(fake.connections()).to.equal(1);
      await adapter.close();
      await waitFor(() => fake.connections() === 0, { what: 'no connections', timeoutMs: 3_000, intervalMs: 5 });
    });

  });

  describe('close', () => {
    it('releases every socket and timer', async () => {
      await new Promise((r) => setImmediate(r)); // mocha arms its test timer after the test starts
      const before = activeResources().sort();
      fake.containers.set('c1', inspection('c1', 'web-1', 101));
      const a = createMobyAdapter(fake.api);
      const { sub } = collect(a);
      await fake.nextEventStream();
      await listAlive(a);
      await inspectAlive(a, 'c1');
      await firstValueFrom(a.info());
      expect(fake.connections()).to.be.greaterThan(0);
      await a.close();
      sub.unsubscribe();
      await waitFor(() => fake.connections() === 0, { what: 'no connections', timeoutMs: 3_000, intervalMs: 5 });
      await new Promise((r) => setImmediate(r));
      expect(activeResources().sort()).to.deep.equal(before);
    });

    it('aborts an in-flight request', async () => {
      fake.intercept = (req) => req.url!.startsWith('/containers/json'); // never answers
      const pending = listAlive(adapter).catch((e: unknown) => e);
      await waitFor(() => fake.connections() > 0, { what: 'request', timeoutMs: 3_000, intervalMs: 5 });
      await adapter.close();
      expect((await pending) as Error).to.have.property('name', 'WatcherAbortedError');
      await waitFor(() => fake.connections() === 0, { what: 'no connections', timeoutMs: 3_000, intervalMs: 5 });
    });
  });

  describe('errors', () => {
    for (const [call, path] of [['info', '/version'], ['the event subscription', '/events']] as const) {
      it(`leaves the time of a call to the watch pipeline: ${call} unanswered fails the watch at callTimeout, the request aborted`, async () => {
        fake.intercept = (req) => req.url!.startsWith(path);
        const w = watch(createMobyAdapter(fake.api), { callTimeout: 100, backoff: false });
        const err = await w.ready().catch((e: unknown) => e);
        expect(err).to.be.instanceOf(EngineUnreachableError);
        expect((err as EngineUnreachableError).reason).to.contain(`${call} timed out after 100 ms`);
        await w.close();
        await waitFor(() => fake.connections() === 0, { what: 'no connections', timeoutMs: 3_000, intervalMs: 5 });
      });
    }

    it('reports an HTTP server without the Docker API as WrongEngineError', async () => {
      fake.intercept = (_req, res) => {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
        return true;
      };
      expect(await firstValueFrom(adapter.info()).catch((e: unknown) => e)).to.be.instanceOf(WrongEngineError);
      expect(await listAlive(adapter).catch((e: unknown) => e)).to.be.instanceOf(WrongEngineError);
    });

    it('reports a non-JSON answer as ProtocolError or WrongEngineError', async () => {
      fake.intercept = (_req, res) => {
        res.end('<html>hello</html>');
        return true;
      };
      expect(await listAlive(adapter).catch((e: unknown) => e)).to.be.instanceOf(ProtocolError);
      expect(await firstValueFrom(adapter.info()).catch((e: unknown) => e)).to.be.instanceOf(WrongEngineError);
    });
  });
});

describe('moby adapter: unreachable and wrong engines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-moby-'));

  it('no such socket → EngineUnreachableError', async () => {
    const a = createMobyAdapter(`unix://${join(dir, 'missing.sock')}`);
    const err = await listAlive(a).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(EngineUnreachableError).and.include({ reason: 'no such socket', endpoint: `unix://${join(dir, 'missing.sock')}` });
    const events = await lastValueFrom(a.events()).catch((e: unknown) => e);
    expect(events).to.be.instanceOf(EngineUnreachableError);
    await a.close();
  });

  it('refused (a file that is no listening socket) → EngineUnreachableError', async () => {
    const file = join(dir, 'stale.sock');
    writeFileSync(file, '');
    const a = createMobyAdapter(`unix://${file}`);
    const err = await firstValueFrom(a.info()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(EngineUnreachableError).and.include({ reason: 'connection refused' });
    await a.close();
  });

  it('a gRPC/HTTP2 server (like containerd) → WrongEngineError', async () => {
    const sock = join(dir, 'h2.sock');
    const server = http2.createServer();
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (s) => sessions.add(s));
    await new Promise<void>((r) => server.listen(sock, r));
    const a = createMobyAdapter(`unix://${sock}`);
    try {
      const err = await firstValueFrom(a.info()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(WrongEngineError);
    } finally {
      await a.close();
      for (const s of sessions) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('a server that answers with no HTTP at all → WrongEngineError', async () => {
    const sock = join(dir, 'raw.sock');
    const server = net.createServer((s) => s.resume().end('\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage'));
    await new Promise<void>((r) => server.listen(sock, r));
    const a = createMobyAdapter(`unix://${sock}`);
    try {
      expect(await listAlive(a).catch((e: unknown) => e)).to.be.instanceOf(WrongEngineError);
    } finally {
      await a.close();
      await new Promise((r) => server.close(r));
    }
  });

  it('an unusable host → error on subscribe, not on creation', async () => {
    const a = createMobyAdapter('ftp://me@somewhere');
    expect(a.api).to.equal('ftp://me@somewhere');
    const err = await listAlive(a).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(WrongEngineError).and.have.property('endpoint', 'ftp://me@somewhere');
    await a.close();
  });
});

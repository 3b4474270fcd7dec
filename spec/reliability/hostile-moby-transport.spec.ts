/**
 * Hostile answers for the Docker adapter's own HTTP transport (no real engine): fake Docker API
 * servers redirect, answer 204, send answers larger than `maxResponseBytes` or without end,
 * follow an error status with an endless body, or break the connection in mid-answer. Each ends
 * in an exported error class naming the endpoint and the call, at once (not at `callTimeout`),
 * never in a crash, a request to another host, or memory beyond the answer-size bound (the
 * memory and crash cases run in a child process and measure its peak RSS).
 */
import { expect } from 'chai';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createMobyAdapter, mobyWatcher } from '../../engines/moby/index.js';
import type { EngineAdapter } from '../../lib/adapter.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from '../../lib/errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../lib/options.js';
import type { Watcher } from '../../lib/watcher.js';
import { REPO_ROOT, exec, waitFor } from '../support/engines.js';
import { ProcessGuard, assertEngineError, recordFigure, tick, writeFigures } from '../support/reliability-helpers.js';
import { type FakeDocker, inspection, startFakeDocker } from '../unit/moby-fakeserver.js';
import { inspectAlive, listAlive } from '../support/answers.js';

after(() => writeFigures());

/** Long enough that an error noticed only at the call timeout fails the "at once" checks. */
const CALL_TIMEOUT = 10_000;
const AT_ONCE = 2_000;
const MB = 1024 * 1024;
const outcomes: string[] = [];

/** An HTTP server on 127.0.0.1 that counts the connections and requests it ever got. */
async function tcpServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, s) => s.end('{}')) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    connections: () => connections,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (taken, then given back). */
async function refusedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Writes `prefix`, then `chunk` over and over (minding backpressure) until `total` bytes, or
 * forever; stops when the client goes. Resolves with the bytes handed to the socket.
 */
function pump(res: http.ServerResponse, chunk: Buffer, total = Infinity, prefix = ''): Promise<number> {
  const u8 = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let sent = 0;
  return new Promise((resolve) => {
    res.on('close', () => resolve(sent));
    res.on('error', () => undefined);
    if (prefix) {
      res.write(prefix);
      sent += prefix.length;
    }
    const more = () => {
      while (!res.destroyed && sent < total) {
        const piece = total - sent < u8.length ? u8.subarray(0, total - sent) : u8;
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', more);
          return;
        }
      }
      if (sent >= total) res.end();
    };
    more();
  });
}

/** One list entry, repeated to make a list answer as long as wanted. */
const LIST_ENTRY = Buffer.from(`${JSON.stringify({ Id: 'c'.repeat(64), Names: ['/x'], State: 'running', Labels: {} })},`.repeat(256));

describe('reliability: the Docker transport against hostile answers (fake engines)', function () {
  this.timeout(20_000);
  const guard = new ProcessGuard();
  let fake: FakeDocker;
  let w: Watcher | undefined;
  let adapter: EngineAdapter | undefined;

  beforeEach(async () => {
    guard.install();
    fake = await startFakeDocker();
  });
  afterEach(async () => {
    await w?.close();
    await adapter?.close();
    w = undefined;
    adapter = undefined;
    // Every client socket closed: nothing of the adapter is left to fail later.
    await waitFor(() => fake.connections() === 0, { timeoutMs: 5_000, intervalMs: 10, what: 'client connections closed' });
    await fake.close();
    await tick();
    guard.uninstall();
    guard.check();
  });
  after(() => recordFigure('hostile transport, Docker API', outcomes.join('; ')));

  /** ready() with retries off rejects with one of `kinds`, naming the endpoint; returns it and how long it took. */
  async function rejectsReady(
    label: string,
    kinds: Parameters<typeof assertEngineError>[2],
    options: { maxResponseBytes?: number } = {},
  ): Promise<{ err: Error; ms: number }> {
    w = mobyWatcher(fake.api, { backoff: false, callTimeout: CALL_TIMEOUT, resyncInterval: 0, ...options });
    const t0 = Date.now();
    const err = await w.ready({ signal: AbortSignal.timeout(CALL_TIMEOUT + 5_000) }).then(
      () => new Error('ready() resolved'),
      (e: unknown) => e as Error,
    );
    const ms = Date.now() - t0;
    assertEngineError(err, fake.api, kinds);
    outcomes.push(`${label}: ${err.constructor.name} after ${ms} ms`);
    console.log(`      ${label} → ${err.constructor.name} after ${ms} ms: ${err.message}`);
    return { err, ms };
  }

  const route = (pattern: RegExp, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) => {
    fake.intercept = (req, res) => {
      if (!pattern.test(req.url ?? '')) return false;
      answer(req, res);
      return true;
    };
  };
  const redirect = (status: number, location: (req: http.IncomingMessage) => string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { Location: location(req), 'Content-Type': 'text/plain' });
    res.end('moved');
  };

  describe('redirects are never followed: a 3xx is a WrongEngineError naming the Location', () => {
    it('a 3xx whose Location refuses connections', async () => {
      const location = `http://127.0.0.1:${await refusedPort()}/info`;
      route(/./, redirect(302, () => location));
      const { err } = await rejectsReady('302 to a refused target', [WrongEngineError]);
      expect(err.message).to.contain('redirect').and.contain(location);
    });

    it('a 3xx whose Location is not HTTP (on the list)', async () => {
      const location = 'ftp://127.0.0.1/containers/json';
      route(/^\/containers\/json/, redirect(301, () => location));
      const { err } = await rejectsReady('301 to ftp:// (list)', [WrongEngineError]);
      expect(err.message).to.contain(location).and.contain('for list');
    });

    for (const [what, pattern] of [
      ['every call', /./],
      ['the event stream', /^\/events/],
    ] as const) {
      it(`a 3xx to another host (${what}): no request reaches that host`, async () => {
        const other = await tcpServer();
        try {
          route(pattern, redirect(307, (req) => `http://127.0.0.1:${other.port}${req.url}`));
          const { err } = await rejectsReady(`307 to another host (${what})`, [WrongEngineError]);
          expect(err.message).to.contain(`127.0.0.1:${other.port}`);
          if (what === 'the event stream') expect(err.message).to.contain('for events');
          expect(other.connections(), 'connections to the other host').to.equal(0);
          expect(other.requests, 'requests to the other host').to.deep.equal([]);
        } finally {
          await other.close();
        }
      });
    }
  });

  describe('204 and other unexpected statuses are typed, naming the call', () => {
    for (const [call, pattern] of [
      ['info', /^\/info/],
      ['list', /^\/containers\/json/],
    ] as const) {
      it(`204 on ${call}`, async () => {
        route(pattern, (_req, res) => {
          res.writeHead(204);
          res.end();
        });
        const { err } = await rejectsReady(`204 on ${call}`, [ProtocolError]);
        expect((err as ProtocolError).field).to.equal(call);
        expect(err.message).to.contain('204');
      });
    }
  });

  describe('answer size: maxResponseBytes bounds every answer, and memory with it', () => {
    for (const declared of [false, true]) {
      it(`a list answer larger than a small maxResponseBytes (${declared ? 'declared by Content-Length' : 'chunked'}): ProtocolError naming the limit and the call`, async () => {
        const limit = 64 * 1024;
        const total = 1 * MB;
        let served: Promise<number> | undefined;
        route(/^\/containers\/json/, (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/json', ...(declared && { 'Content-Length': String(total) }) });
          served = pump(res, LIST_ENTRY, total, '[');
        });
        const { err, ms } = await rejectsReady(`list of 1 MiB, limit 64 KiB${declared ? ', declared' : ''}`, [ProtocolError], {
          maxResponseBytes: limit,
        });
        expect((err as ProtocolError).field).to.equal('list');
        expect(err.message).to.contain('maxResponseBytes').and.contain(String(limit)).and.contain('/containers/json');
        expect(ms).to.be.lessThan(AT_ONCE);
        expect(await served, 'the server could not send the whole answer').to.be.lessThan(total);
      });
    }

    it('an answer within the limit is read whole', async () => {
      fake.containers.set('c1', inspection('c1', 'one', 77));
      adapter = createMobyAdapter(fake.api, { maxResponseBytes: 4096 });
      expect(await listAlive(adapter)).to.deep.equal([{ id: 'c1', paused: false }]);
    });

    it('an endless list answer at the default limit: a watcher in a child process grows by at most 2 × limit + 100 MiB of RSS, however many attempts', async function () {
      this.timeout(40_000);
      let requests = 0;
      route(/^\/containers\/json/, (_req, res) => {
        requests++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        void pump(res, LIST_ENTRY, Infinity, '[');
      });
      const seconds = 4;
      const t0 = Date.now();
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'spec/support/moby-body-child.ts', 'watch', fake.api, String(seconds * 1000)], {
        cwd: REPO_ROOT,
        timeoutMs: 30_000,
      });
      const report = childReport(stdout);
      const attempts = report.outcomes.length;
      expect(attempts, 'list attempts that failed').to.be.at.least(2);
      for (const o of report.outcomes) {
        expect(o, JSON.stringify(o)).to.include({ error: 'ProtocolError', field: 'list' });
        expect(o.message).to.contain(String(DEFAULT_MAX_RESPONSE_BYTES));
      }
      // The child starts at about 90 MiB (Node, tsx, the library). What it grows by is bounded by
      // the answer-size limit: the answer being read (at most the limit) plus what the allocator
      // keeps of the given-up ones (their 64 KiB socket chunks are freed, but glibc rarely gives
      // such memory back; even a full GC every 20 ms left about 150 MiB of growth). It stays
      // there however many attempts run (163-188 MiB here, in runs of 7 to 31 attempts); the
      // docker-modem client it replaces reached 1.66 GB in these 4 s, with no error yet.
      const bound = 2 * DEFAULT_MAX_RESPONSE_BYTES + 100 * MB;
      const growth = report.peakRss - report.baseRss;
      const figure = `a watcher (default limit, 64 MiB, retries every 10-50 ms) against an endless list answer for ${seconds} s in a child: ${attempts} attempts (${requests} list requests served), each a ProtocolError at the limit (the first after ${report.outcomes[0]!.ms} ms); peak RSS ${mb(report.peakRss)}, ${mb(growth)} above its ${mb(report.baseRss)} at start (bound: 2 × limit + 100 MiB = ${mb(bound)}); the child exited by itself with 0 after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      recordFigure('endless answer, Docker API', figure);
      expect(growth, figure).to.be.lessThan(bound);
    });

    it('a body over 512 MiB: a typed error in a child process, which lives on and exits by itself', async function () {
      this.timeout(40_000);
      const total = 600 * MB;
      let requests = 0;
      route(/^\/containers\/json/, (_req, res) => {
        requests++;
        // The third request declares its length; the others are chunked, read until the limit.
        res.writeHead(200, { 'Content-Type': 'application/json', ...(requests === 3 && { 'Content-Length': String(total) }) });
        void pump(res, LIST_ENTRY, total, '[');
      });
      const t0 = Date.now();
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'spec/support/moby-body-child.ts', 'list', fake.api, String(MB), 'default', 'default'], {
        cwd: REPO_ROOT,
        timeoutMs: 30_000,
      });
      const report = childReport(stdout);
      expect(report.outcomes.map((o) => [o.error, o.field, o.limit])).to.deep.equal([
        ['ProtocolError', 'list', MB],
        ['ProtocolError', 'list', DEFAULT_MAX_RESPONSE_BYTES],
        ['ProtocolError', 'list', DEFAULT_MAX_RESPONSE_BYTES],
      ]);
      for (const o of report.outcomes) expect(o.message).to.contain(String(o.limit));
      expect(report.outcomes[2]!.message).to.contain(`declares ${total} bytes`);
      const figure = `600 MiB list answers in a child: limit 1 MiB → ProtocolError after ${report.outcomes[0]!.ms} ms; default limit (64 MiB) → ProtocolError after ${report.outcomes[1]!.ms} ms; declared by Content-Length → ProtocolError after ${report.outcomes[2]!.ms} ms; peak RSS ${mb(report.peakRss)} (${mb(report.baseRss)} at start); the child exited by itself with 0 after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      recordFigure('answer over 512 MiB, Docker API', figure);
      expect(report.peakRss - report.baseRss, figure).to.be.lessThan(DEFAULT_MAX_RESPONSE_BYTES + 150 * MB);
    });

    it('an error status on /events followed by an endless body: a typed error at once', async () => {
      let closed = false;
      route(/^\/events/, (_req, res) => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        void pump(res, Buffer.alloc(64 * 1024, 'e'), Infinity, '{"message":"').then(() => (closed = true));
      });
      const { err, ms } = await rejectsReady('500 with an endless body on /events', [ProtocolError]);
      expect((err as ProtocolError).field).to.equal('events');
      expect(err.message).to.contain('HTTP 500').and.contain('cut short');
      expect(ms).to.be.lessThan(AT_ONCE);
      await waitFor(() => closed, { timeoutMs: AT_ONCE, intervalMs: 10, what: 'the endless error body given up' });
      recordFigure('error status with an endless body on /events, Docker API', `ProtocolError (HTTP 500, body cut at 64 KiB) after ${ms} ms`);
    });
  });

  describe(`a connection broken in mid-answer fails that call at once (callTimeout ${CALL_TIMEOUT / 1000} s)`, () => {
    const BODY = 1 * MB;
    /** Answers 200 with a declared 1 MiB body, sends 64 KiB of it, then breaks the connection. */
    const breakMidBody = (how: 'close' | 'reset') => (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(BODY) });
      res.write(LIST_ENTRY.subarray(0, 64 * 1024).toString('latin1'), () => {
        if (how === 'reset') req.socket.resetAndDestroy();
        else req.socket.destroy();
      });
    };
    const times: string[] = [];
    after(() => recordFigure('connection broken in mid-answer, Docker API', times.join('; ')));

    it('on the list, through the watcher (unix socket closed)', async () => {
      route(/^\/containers\/json/, breakMidBody('close'));
      const { err, ms } = await rejectsReady('list connection closed mid-body', [EngineUnreachableError]);
      expect(err.message).to.contain('list').and.contain('middle of the answer');
      expect(ms).to.be.lessThan(AT_ONCE);
      times.push(`list (watcher, unix, closed): ${ms} ms`);
    });

    it('on an inspection, through the adapter (unix socket closed)', async () => {
      route(/^\/containers\/c1\/json/, breakMidBody('close'));
      adapter = createMobyAdapter(fake.api);
      const t0 = Date.now();
      const err = await inspectAlive(adapter, 'c1').then(
        () => new Error('inspect() answered'),
        (e: unknown) => e as Error,
      );
      const ms = Date.now() - t0;
      assertEngineError(err, fake.api, [EngineUnreachableError]);
      expect(err.message).to.contain('inspect').and.contain('middle of the answer');
      expect(ms).to.be.lessThan(AT_ONCE);
      times.push(`inspect (adapter, unix, closed): ${ms} ms`);
    });

    for (const call of ['list', 'inspect'] as const) {
      it(`on the ${call === 'list' ? 'list' : 'inspection'}, through the adapter (TCP connection reset)`, async () => {
        const engine = await tcpServer(breakMidBody('reset'));
        const api = `tcp://127.0.0.1:${engine.port}`;
        const tcp = createMobyAdapter(api, { tls: false });
        try {
          const t0 = Date.now();
          const answer = call === 'list' ? listAlive(tcp) : inspectAlive(tcp, 'c1');
          const err = await answer.then(
            () => new Error(`${call}() answered`),
            (e: unknown) => e as Error,
          );
          const ms = Date.now() - t0;
          assertEngineError(err, api, [EngineUnreachableError]);
          expect(err.message).to.contain(call);
          expect(ms).to.be.lessThan(AT_ONCE);
          times.push(`${call} (adapter, tcp, reset): ${ms} ms`);
        } finally {
          await tcp.close();
          await waitFor(() => engine.open() === 0, { timeoutMs: 2_000, intervalMs: 10, what: 'client connections closed' });
          await engine.close();
        }
      });
    }
  });
});

interface ChildReport {
  baseRss: number;
  peakRss: number;
  outcomes: { limit: number; error: string; field?: string; message: string; ms: number }[];
}

function childReport(stdout: string): ChildReport {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MiB`;
}

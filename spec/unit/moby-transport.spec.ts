import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { createMobyAdapter } from '../../engines/moby/adapter.js';
import { mobyError } from '../../engines/moby/errors.js';
import { waitFor } from '../support/engines.js';
import { parseDockerHost } from '../../engines/moby/host.js';
import { decodeJson } from '../../engines/moby/parse.js';
import { HttpStatusError, MobyTransport, requestTarget } from '../../engines/moby/transport.js';
import { EngineUnreachableError, ProtocolError, WrongEngineError } from '../../lib/errors.js';
import { listenOnUnixSocket } from '../support/unix-socket-server.js';


const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );

describe('moby transport (its own HTTP client, on a unix socket)', () => {
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let server: Awaited<ReturnType<typeof listenOnUnixSocket>>;
  let agent: http.Agent;
  let transport: MobyTransport;
  const api = 'unix:///test.sock';
  const make = (maxResponseBytes = 1024, maxErrorBytes = 256, a: http.Agent = agent) =>
    new MobyTransport({ api, target: { protocol: 'http', connect: { socketPath: server.path } }, agent: a, maxResponseBytes, maxErrorBytes });

  beforeEach(async () => {
    handler = (_req, res) => res.end('{}');
    server = await listenOnUnixSocket(
      http.createServer((req, res) => handler(req, res)),
      'transport',
    );
    agent = new http.Agent({ keepAlive: true });
    transport = make();
  });
  afterEach(async () => {
    agent.destroy();
    await server.close();
  });

  it('reads a 200 answer whole, with its headers, and keeps the connection for the next request', async () => {
    handler = (req, res) => {
      res.setHeader('Date', 'Tue, 02 Jan 2024 03:04:05 GMT');
      res.end(JSON.stringify({ url: req.url }));
    };
    const first = await transport.get('/info?x=1', 'info', new AbortController().signal);
    expect(JSON.parse(first.body.toString())).to.deep.equal({ url: '/info?x=1' });
    expect(first.headers.date).to.equal('Tue, 02 Jan 2024 03:04:05 GMT');
    await transport.get('/info', 'info', new AbortController().signal);
    expect(server.connections()).to.equal(1);
  });

  it('takes any agent: one that makes its own connections (as an SSH agent does) carries the requests', async () => {
    let made = 0;
    const own = Object.assign(new http.Agent({ keepAlive: false }), {
      createConnection: (): net.Socket => {
        made++;
        return net.connect(server.path);
      },
    });
    const t = new MobyTransport({ api: 'ssh://me@host', target: { protocol: 'http', connect: { host: 'docker' } }, agent: own, maxResponseBytes: 1024 });
    expect(JSON.parse((await t.get('/version', 'version', new AbortController().signal)).body.toString())).to.deep.equal({});
    expect(made).to.equal(1);
    own.destroy();
  });

  it('fails an answer longer than maxResponseBytes with a ProtocolError naming the endpoint, the call and the limit', async () => {
    handler = (_req, res) => {
      res.write('x'.repeat(1000));
      res.end('x'.repeat(1000));
    };
    const err = await rejection(transport.get('/containers/json?filters=%7B%7D', 'list', new AbortController().signal));
    expect(err).to.be.instanceOf(ProtocolError).and.include({ endpoint: api, field: 'list' });
    expect((err as Error).message).to.contain('1024').and.contain('GET /containers/json').and.not.contain('filters');
    const exact = make(2000);
    expect((await exact.get('/x', 'list', new AbortController().signal)).body.length).to.equal(2000);
  });

  it('reads an error answer up to its own bound, then reports the status at once', async () => {
    handler = (_req, res) => {
      res.writeHead(500);
      res.write(JSON.stringify({ message: 'boom' }));
      res.write('y'.repeat(10_000)); // and never ends
    };
    const err = (await rejection(transport.get('/info', 'info', new AbortController().signal))) as HttpStatusError;
    expect(err).to.be.instanceOf(HttpStatusError).and.include({ statusCode: 500, truncated: true });
    expect(err.body.length).to.equal(256);
    await waitFor(() => server.connections() === 0, { what: 'the connection given up', timeoutMs: 3_000, intervalMs: 5 });
  });

  it('never follows a redirect and never reads its body', async () => {
    let requests = 0;
    handler = (_req, res) => {
      requests++;
      res.writeHead(302, { Location: 'http://elsewhere.invalid/info' });
      res.write('z'.repeat(10_000));
    };
    const err = (await rejection(transport.get('/info', 'info', new AbortController().signal))) as HttpStatusError;
    expect(err).to.be.instanceOf(HttpStatusError).and.include({ statusCode: 302, location: 'http://elsewhere.invalid/info', body: '' });
    expect(requests).to.equal(1);
  });

  it('rejects with the signal reason on abort, and destroys request and response', async () => {
    handler = (_req, res) => res.write('['); // an answer that never ends
    const ac = new AbortController();
    const pending = rejection(transport.get('/containers/json', 'list', ac.signal));
    await waitFor(() => server.connections() === 1, { what: 'the request', timeoutMs: 3_000, intervalMs: 5 });
    const reason = new Error('stop');
    ac.abort(reason);
    expect(await pending).to.equal(reason);
    await waitFor(() => server.connections() === 0, { what: 'the connection closed', timeoutMs: 3_000, intervalMs: 5 });
    expect(await rejection(transport.get('/x', 'list', ac.signal)), 'an aborted signal').to.equal(reason);
  });

  it('tells a connection broken in mid-answer at once, as EngineUnreachableError naming the call', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('[', () => req.socket.destroy());
    };
    const err = await rejection(transport.get('/containers/c1/json', 'inspect', new AbortController().signal));
    expect(err).to.be.instanceOf(EngineUnreachableError);
    expect((err as Error).message).to.contain('inspect').and.contain('middle of the answer');
  });

  it('ends a call answered with 101 Switching Protocols at once, as EngineUnreachableError', async () => {
    const raw = await listenOnUnixSocket(
      net.createServer((s) => {
        s.on('error', () => undefined);
        s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nhello'));
      }),
      'upgrade',
    );
    try {
      const t = new MobyTransport({ api, target: { protocol: 'http', connect: { socketPath: raw.path } }, agent, maxResponseBytes: 1024 });
      const err = await rejection(t.get('/info', 'info', new AbortController().signal));
      expect(err).to.be.instanceOf(EngineUnreachableError);
      expect((err as Error).message).to.contain('info');
    } finally {
      await raw.close();
    }
  });

  it('streams: headers first, then chunks; resolves on the end; a sink that throws ends it with what it threw', async () => {
    handler = (_req, res) => {
      res.write('a');
      setImmediate(() => res.end('b'));
    };
    const seen: string[] = [];
    await transport.stream('/events', 'events', new AbortController().signal, {
      headers: () => seen.push('headers'),
      data: (chunk) => seen.push(chunk.toString()),
    });
    expect(seen).to.deep.equal(['headers', 'a', 'b']);

    handler = (_req, res) => res.write('data');
    const thrown = new Error('bad data');
    const err = await rejection(
      transport.stream('/events', 'events', new AbortController().signal, {
        headers: () => undefined,
        data: () => {
          throw thrown;
        },
      }),
    );
    expect(err).to.equal(thrown);
    await waitFor(() => server.connections() <= 1, { what: 'the stream closed', timeoutMs: 3_000, intervalMs: 5 });
  });

  it('maps statuses to the exported classes, naming endpoint and call', () => {
    const status = (code: number, extra: Partial<{ body: string; json: unknown; location: string }> = {}) =>
      mobyError(api, new HttpStatusError(code, 'Reason', extra.body ?? '', extra.json, extra.location, false), 'list');
    expect(status(204)).to.be.instanceOf(ProtocolError).and.include({ field: 'list' });
    expect(status(201)).to.be.instanceOf(ProtocolError);
    const moved = status(301, { location: 'ftp://x/' });
    expect(moved).to.be.instanceOf(WrongEngineError);
    expect(moved.message).to.contain('"ftp://x/"').and.contain('for list');
    expect(status(404)).to.be.instanceOf(WrongEngineError);
    expect(status(500, { json: { message: 'daemon says no' } }).message).to.contain('HTTP 500 Reason: daemon says no');
    expect(status(503, { body: '<html>\n  busy\n</html>' }).message).to.contain('<html> busy </html>');
  });

  it('decodes a body once: JSON, else its text; a body too long for a string is a ProtocolError', () => {
    expect(decodeJson(api, 'list', Buffer.from('[1]'))).to.deep.equal([1]);
    expect(decodeJson(api, 'list', Buffer.from('<html>'))).to.equal('<html>');
    const huge = {
      length: 600 * 1024 * 1024,
      toString() {
        throw Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' });
      },
    } as unknown as Buffer;
    expect(() => decodeJson(api, 'list', huge)).to.throw(ProtocolError, /cannot be decoded/);
  });
});

describe('moby transport over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ww-tls-'));
  let server: https.Server;
  let port: number;
  let cert: Buffer;

  before(async function () {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'));
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/version') res.end(JSON.stringify({ Version: '25.0.0' }));
      else res.end(JSON.stringify({ ID: 'TLS:ID', ServerVersion: '25.0.0' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds the https target from the parsed endpoint, honoring verify: false', () => {
    const target = requestTarget(parseDockerHost(`tcp://127.0.0.1:${port}`, { verify: false, ca: cert }));
    expect(target.protocol).to.equal('https');
    expect(target.connect).to.include({ host: '127.0.0.1', port, rejectUnauthorized: false });
    expect(target.connect.checkServerIdentity).to.be.a('function');
  });

  it('talks to a daemon with a self-signed certificate: trusted by its CA, or with verification off; refused otherwise', async () => {
    for (const tls of [{ ca: cert }, { verify: false }]) {
      const a = createMobyAdapter(`tcp://127.0.0.1:${port}`, { tls });
      expect(await firstValueFrom(a.info())).to.include({ id: 'TLS:ID', version: 'Docker Engine 25.0.0' });
      await a.close();
    }
    const strict = createMobyAdapter(`tcp://127.0.0.1:${port}`, { tls: true });
    expect(await firstValueFrom(strict.info()).catch((e: unknown) => e))
      .to.be.instanceOf(WrongEngineError)
      .and.have.nested.property('cause.code', 'DEPTH_ZERO_SELF_SIGNED_CERT');
    await strict.close();
  });
});

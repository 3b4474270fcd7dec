/**
 * Endpoints that cannot be used: a socket that does not exist, a socket without permission
 * (the watcher runs in a child process as uid 65534 from a world-readable copy of the sources:
 * root would bypass the permission), and the wrong engine on a socket (the private containerd's
 * socket given to the Docker watcher, the private Docker's socket to the containerd and CRI
 * watchers). Each ends in the exported error class naming the endpoint and the problem.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { containerdWatcher } from '../../engines/containerd/index.js';
import { criWatcher } from '../../engines/cri/index.js';
import { mobyWatcher } from '../../engines/moby/index.js';
import { EngineUnreachableError, WrongEngineError } from '../../lib/errors.js';
import type { Watcher } from '../../lib/watcher.js';
import { REPO_ROOT, requireEngine, socketPath, waitFor, skipOrFail } from '../support/engines.js';
import { ProcessGuard, Recorder, assertEngineError, recordFigure, sleep, writeFigures } from '../support/reliability-helpers.js';

after(() => writeFigures());

const outcomes: string[] = [];
type Kind = 'moby' | 'containerd' | 'cri';

function make(kind: Kind, endpoint: string, options: { backoff?: false | { initialDelay: number; maxDelay: number } } = {}): Watcher {
  const common = { backoff: options.backoff ?? false, callTimeout: 2_000 } as const;
  switch (kind) {
    case 'moby':
      return mobyWatcher(endpoint.startsWith('unix://') ? endpoint : `unix://${endpoint}`, common);
    case 'containerd':
      return containerdWatcher(socketPath(endpoint), common);
    case 'cri':
      return criWatcher(socketPath(endpoint), common);
  }
}

async function readyError(w: Watcher, within = 8_000): Promise<Error> {
  return Promise.race([
    w.ready().then(
      () => new Error('ready() resolved'),
      (e: unknown) => e as Error,
    ),
    sleep(within).then(() => new Error(`ready() neither resolved nor rejected within ${within} ms`)),
  ]);
}

describe('reliability: unusable endpoints', function () {
  this.timeout(30_000);
  const guard = new ProcessGuard();
  beforeEach(() => guard.install());
  afterEach(async () => {
    await sleep(20);
    guard.uninstall();
    guard.check();
  });
  after(() => recordFigure('unusable endpoints', outcomes.join('; ')));

  describe('a socket that does not exist', () => {
    for (const kind of ['moby', 'containerd', 'cri'] as const) {
      it(`${kind}: ready() rejects with EngineUnreachableError (no such socket); with retries, state$ reconnects`, async () => {
        const sock = path.join(tmpdir(), `ww-rel-missing-${process.pid}-${kind}.sock`);
        const endpoint = kind === 'moby' ? `unix://${sock}` : sock;
        const w = make(kind, endpoint);
        try {
          const err = await readyError(w);
          assertEngineError(err, endpoint, [EngineUnreachableError]);
          expect((err as EngineUnreachableError).reason).to.equal('no such socket');
        } finally {
          await w.close();
        }
        const retrying = make(kind, endpoint, { backoff: { initialDelay: 50, maxDelay: 100 } });
        const rec = new Recorder(retrying);
        try {
          await waitFor(() => rec.errors().length >= 2, { timeoutMs: 5_000, what: 'two reconnect attempts' });
          for (const e of rec.errors()) assertEngineError(e, endpoint, [EngineUnreachableError]);
          expect(rec.stateNames()).to.include('reconnecting');
        } finally {
          rec.stop();
          await retrying.close();
        }
        outcomes.push(`missing socket (${kind}): EngineUnreachableError "no such socket", retried`);
      });
    }
  });

  describe('a socket without permission (watcher as uid 65534)', () => {
    let dir: string | undefined;
    let server: net.Server | undefined;
    let sock: string;

    before(async function () {
      if (process.getuid?.() !== 0) {
        skipOrFail(this, 'not root, cannot run a child as uid 65534');
      }
      const modules = path.join(REPO_ROOT, 'node_modules');
      if ((statSync(modules).mode & 0o005) !== 0o005) {
        skipOrFail(this, 'node_modules is not world-readable');
      }
      // A world-readable copy of the sources, with the dependencies linked in.
      dir = mkdtempSync(path.join(tmpdir(), 'ww-rel-perm-'));
      chmodSync(dir, 0o755);
      for (const part of ['lib', 'engines', 'protos/gen', 'package.json']) {
        cpSync(path.join(REPO_ROOT, part), path.join(dir, part), { recursive: true });
      }
      symlinkSync(modules, path.join(dir, 'node_modules'));
      writeFileSync(
        path.join(dir, 'probe.ts'),
        [
          "import { mobyWatcher } from './engines/moby/index.js';",
          "import { containerdWatcher } from './engines/containerd/index.js';",
          "import { criWatcher } from './engines/cri/index.js';",
          'const [kind, endpoint] = process.argv.slice(2);',
          "const options = { backoff: false as const, callTimeout: 2000 };",
          "const w = kind === 'moby' ? mobyWatcher(endpoint, options) : kind === 'containerd' ? containerdWatcher(endpoint!, options) : criWatcher(endpoint!, options);",
          'try {',
          '  await w.ready();',
          "  console.log(JSON.stringify({ ok: true }));",
          '} catch (e) {',
          '  const err = e as Error & { endpoint?: string; reason?: string };',
          '  console.log(JSON.stringify({ name: err.constructor.name, endpoint: err.endpoint, reason: err.reason, message: err.message }));',
          '} finally {',
          '  await w.close();',
          '}',
        ].join('\n'),
      );
      // A root-owned socket with mode 0600, in a folder anyone may traverse.
      const sockDir = path.join(dir, 'sock');
      mkdirSync(sockDir, { mode: 0o755 });
      chmodSync(sockDir, 0o755);
      sock = path.join(sockDir, 'engine.sock');
      server = net.createServer((s) => s.destroy());
      await new Promise<void>((r) => server!.listen(sock, r));
      chmodSync(sock, 0o600);
    });

    after(async () => {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const kind of ['moby', 'containerd', 'cri'] as const) {
      it(`${kind}: EngineUnreachableError (permission denied), in a child process as uid 65534`, async () => {
        const endpoint = kind === 'moby' ? `unix://${sock}` : sock;
        const result = await runAsNobody(dir!, [kind, endpoint]);
        expect(result, JSON.stringify(result)).to.include({ name: 'EngineUnreachableError', endpoint, reason: 'permission denied' });
        expect(result['message']).to.include(endpoint);
        outcomes.push(`socket without permission (${kind}, uid 65534): EngineUnreachableError "permission denied"`);
      });
    }
  });

  describe('the wrong engine on a socket (real private engines)', () => {
    let docker: string;
    let containerd: string;
    before(async function () {
      docker = await requireEngine(this, 'docker');
      containerd = await requireEngine(this, 'containerd');
    });

    const cases: Array<[string, Kind, () => string]> = [
      ["containerd's socket to the Docker watcher", 'moby', () => `unix://${socketPath(containerd)}`],
      ["Docker's socket to the containerd watcher", 'containerd', () => socketPath(docker)],
      ["Docker's socket to the CRI watcher", 'cri', () => socketPath(docker)],
    ];
    for (const [title, kind, endpoint] of cases) {
      it(`${title}: WrongEngineError; with retries on it fails for good`, async () => {
        const w = make(kind, endpoint());
        try {
          const err = await readyError(w);
          assertEngineError(err, endpoint(), [WrongEngineError]);
          console.log(`      → ${err.message}`);
        } finally {
          await w.close();
        }
        const retrying = make(kind, endpoint(), { backoff: { initialDelay: 50, maxDelay: 100 } });
        const rec = new Recorder(retrying);
        try {
          await waitFor(() => rec.state === 'failed', { timeoutMs: 8_000, what: 'failed' });
          assertEngineError(rec.errors().at(-1), endpoint(), [WrongEngineError]);
        } finally {
          rec.stop();
          await retrying.close();
        }
        outcomes.push(`${title}: WrongEngineError, final`);
      });
    }
  });
});

/** Runs probe.ts of `dir` with tsx as uid/gid 65534; resolves with its JSON line. */
function runAsNobody(dir: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(dir, 'probe.ts'), ...args], {
      cwd: dir,
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`child exited with ${code}: ${out}${err}`));
      }
    });
  });
}

/**
 * The `whalewatcher` command as a subprocess (`node --import tsx cli/main.ts`, as `npx tsx`
 * runs it) against the real private Docker and containerd: its answers equal the engines' own,
 * `--events` follows a container's life, the no-engine error, and escaped untrusted names.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { DEFAULT_PLACES } from '../../cli/discover.js';
import { docker, requireEngine, testEngines, uniqueName, skipOrFail } from '../support/engines.js';
import { CtrContainers } from './containerd-support.js';
import { Running, containerdAnswer, runCli, tsxArgs } from './cli-support.js';
import { type Seen, engineAnswer, removeTestContainers, run } from './moby-helpers.js';

const ns = 'ww-test';

interface CliContainer extends Seen {
  engine: { type: string; api: string };
  startedAt?: string;
}

/**
 * The CLI's containers of one engine must equal the engine's own answer. Other suites may
 * change the shared engines meanwhile, so the comparison covers the containers the engine
 * reported unchanged before AND after the CLI ran (all of them, field by field), and the CLI
 * may not show a container the engine never reported.
 */
function expectEqualAnswers(cli: readonly CliContainer[], before: readonly Seen[], after: readonly Seen[], what: string): void {
  const key = (c: Seen) => `${c.id} ${c.pid} ${c.paused}`;
  const later = new Set(after.map(key));
  const stable = before.filter((c) => later.has(key(c)));
  const shown = new Map(cli.map((c) => [c.id, c]));
  for (const c of stable) {
    const got = shown.get(c.id);
    expect(got, `${what}: ${c.name} missing`).to.exist;
    // The engine's start time is the watcher's extra (the CLIs' answers here do not carry it).
    const { engine: _engine, startedAt, ...rest } = got!;
    if (startedAt !== undefined) expect(Number.isNaN(Date.parse(startedAt)), `${what}: ${c.name} startedAt`).to.equal(false);
    expect({ ...rest, labels: { ...rest.labels } }, `${what}: ${c.name}`).to.deep.equal(c);
  }
  // A container the engine never reported: ours must not be; another suite's (or session's)
  // may have started and gone again between the engine's two answers.
  const known = new Set([...before, ...after].map((c) => c.id));
  for (const c of cli.filter((x) => !known.has(x.id))) {
    expect(c.name.includes('ww-cli'), `${what}: ${c.name} shown but never reported by the engine`).to.equal(false);
    console.log(`      (${what}: ${c.name} came and went during the run)`);
  }
}

describe('whalewatcher CLI (subprocess)', function () {
  this.timeout(120_000);
  let dockerApi: string;
  let containerdApi: string;
  const ctrContainers = new CtrContainers();

  before(async function () {
    dockerApi = await requireEngine(this, 'docker');
    containerdApi = await requireEngine(this, 'containerd');
  });

  after(async () => {
    await ctrContainers.removeAll();
    if (dockerApi) await removeTestContainers(dockerApi).catch(() => undefined);
  });

  it('--once --json equals the engines\' own answers', async () => {
    const image = testEngines().images.docker;
    const web = await run(dockerApi, image, { project: 'ww-cli-a', cmd: ['sleep', '300'] });
    await run(dockerApi, image, { project: 'ww-cli-b', cmd: ['sleep', '300'] });
    const paused = await run(dockerApi, image, { cmd: ['sleep', '300'] });
    await docker(dockerApi, 'pause', paused);
    const cid = uniqueName('cli');
    await ctrContainers.run(ns, cid, { 'nerdctl/name': `${cid}-n`, 'com.docker.compose.project': 'ww-cli-c' });

    const [dBefore, cBefore] = await Promise.all([engineAnswer(dockerApi), containerdAnswer()]);
    const r = await runCli(['--docker', dockerApi, '--containerd', containerdApi, '--once', '--json']);
    const [dAfter, cAfter] = await Promise.all([engineAnswer(dockerApi), containerdAnswer()]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(1);
    const snapshot = JSON.parse(lines[0]!) as {
      kind: string;
      engines: Array<{ type: string; api: string; state: string; id?: string; version?: string }>;
      containers: CliContainer[];
    };
    expect(snapshot.kind).to.equal('snapshot');
    expect(snapshot.engines.map((e) => [e.type, e.api, e.state])).to.deep.equal([
      ['docker.com', dockerApi, 'synced'],
      ['containerd.io', containerdApi, 'synced'],
    ]);
    expect(snapshot.engines[0]!.version).to.match(/^Docker/);
    expect(snapshot.engines[1]!.version).to.match(/^containerd/);
    const ofEngine = (type: string) => snapshot.containers.filter((c) => c.engine.type === type);
    expectEqualAnswers(ofEngine('docker.com'), dBefore, dAfter, 'Docker');
    expectEqualAnswers(ofEngine('containerd.io'), cBefore, cAfter, 'containerd');
    // Our own containers are there for sure, as set up.
    const byId = new Map(snapshot.containers.map((c) => [c.id, c]));
    expect(byId.get(web)?.project).to.equal('ww-cli-a');
    expect(byId.get(paused)?.paused).to.equal(true);
    expect(byId.get(`${ns}/${cid}`)?.name).to.equal(`${ns}/${cid}-n`);
    expect(byId.get(`${ns}/${cid}`)?.engine).to.deep.equal({ type: 'containerd.io', api: containerdApi });
    expect(r.ms).to.be.below(30_000);
  });

  it('--events shows a container started and killed during the run', async () => {
    const image = testEngines().images.docker;
    const marker = await run(dockerApi, image, { cmd: ['sleep', '300'] });
    const cli = new Running([...tsxArgs('cli/main.ts'), '--docker', dockerApi, '--events']);
    try {
      type Ev = { kind: string; type: string; container: { id: string; name: string; pid: number; engine: { type: string } } };
      const events = () => cli.lines().map((l) => JSON.parse(l) as Ev);
      const seen = (type: string, id: string) => events().some((e) => e.type === type && e.container.id === id);
      // The first sync announces every alive container, the marker among them.
      await cli.until(() => seen('started', marker), 'started event of the marker container');
      const name = uniqueName('cli-ev');
      const id = await run(dockerApi, image, { name, cmd: ['sleep', '300'] });
      await cli.until(() => seen('started', id), 'started event of the new container');
      await docker(dockerApi, 'kill', id);
      await cli.until(() => seen('exited', id), 'exited event of the killed container');
      const mine = events().filter((e) => e.container.id === id);
      expect(mine.map((e) => e.type)).to.deep.equal(['started', 'exited']);
      expect(mine[0]!.container.name).to.equal(name);
      expect(mine[0]!.container.pid).to.be.above(0);
      expect(mine[0]!.container.engine.type).to.equal('docker.com');
      for (const e of events()) expect(e.kind).to.equal('event');
    } finally {
      const code = await cli.stop('SIGINT');
      expect(code, cli.stderr).to.equal(0);
    }
  });

  it('--json follows changes with one NDJSON snapshot per change; the live view redraws', async () => {
    const image = testEngines().images.docker;
    const json = new Running([...tsxArgs('cli/main.ts'), '--docker', dockerApi, '--json', '--interval', '50']);
    const view = new Running([...tsxArgs('cli/main.ts'), '--docker', dockerApi, '--interval', '50']);
    try {
      type Snap = { kind: string; engines: Array<{ state: string }>; containers: Array<{ id: string; paused: boolean }> };
      const snaps = () => json.lines().map((l) => JSON.parse(l) as Snap);
      const last = () => snaps().at(-1);
      await json.until(() => last()?.engines[0]?.state === 'synced', 'a synced snapshot');
      await view.until(() => view.stdout.includes('synced ·'), 'the first frame');
      const name = uniqueName('cli-json');
      const id = await run(dockerApi, image, { name, project: 'ww-cli-json', cmd: ['sleep', '300'] });
      await json.until(() => last()?.containers.some((c) => c.id === id && !c.paused), 'the new container in a snapshot');
      await docker(dockerApi, 'pause', id);
      await json.until(() => last()?.containers.some((c) => c.id === id && c.paused), 'the container paused in a snapshot');
      await view.until(() => new RegExp(`${name}\\s+${id.slice(0, 12)}\\s+\\d+\\s+paused`).test(view.stdout), 'the paused container in a frame');
      expect(view.stdout).to.include('project ww-cli-json');
      await docker(dockerApi, 'kill', id);
      await json.until(() => snaps().length > 2 && !last()?.containers.some((c) => c.id === id), 'the container gone from the snapshots');
      for (const s of snaps()) expect(s.kind).to.equal('snapshot');
    } finally {
      expect(await json.stop('SIGINT'), json.stderr).to.equal(0);
      expect(await view.stop('SIGTERM'), view.stderr).to.equal(0);
    }
  });

  it('no engine reachable: a clear message naming what was tried, exit code 1, within seconds', async () => {
    for (const mode of [['--once'], []]) {
      const r = await runCli(['--docker', 'unix:///nonexistent/ww/docker.sock', '--containerd', '/nonexistent/ww/containerd.sock', ...mode], {
        timeoutMs: 30_000,
      });
      expect(r.code, mode.join()).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.include('no container engine reachable');
      expect(r.stderr).to.include('--docker unix:///nonexistent/ww/docker.sock');
      expect(r.stderr).to.include('--containerd /nonexistent/ww/containerd.sock');
      expect(r.stderr).to.match(/no such socket|unreachable/);
      expect(r.stderr).to.include('npm run engines:up');
      expect(r.ms, 'exit within seconds').to.be.below(15_000);
    }
  });

  it('without engine flags and no default socket: names the places it looked at', async function () {
    const anyDefault = Object.values(DEFAULT_PLACES).flat().some((p) => existsSync(p.replace(/^unix:\/\//, '')));
    if (anyDefault) skipOrFail(this, 'an engine at a usual place: discovery would find it');
    const r = await runCli([], { timeoutMs: 30_000, env: { DOCKER_HOST: 'unix:///nonexistent/ww/docker.sock' } });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('DOCKER_HOST=unix:///nonexistent/ww/docker.sock (no such socket)');
    expect(r.stderr).to.include('containerd /run/containerd/containerd.sock (no such socket)');
  });

  it('bad usage exits 2; --help explains the options and exits 0', async () => {
    const bad = await runCli(['--no-such-flag']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--help');
    const help = await runCli(['--help']);
    expect(help.code).to.equal(0);
    for (const flag of ['--docker', '--containerd', '--cri', '--once', '--json', '--events']) expect(help.stdout).to.include(flag);
  });

  it('escapes terminal control characters of a containerd name label in the human output', async () => {
    const cid = uniqueName('esc');
    const evil = `${cid}\x1b]0;pwned\x07\x1b[2J\x9bX`;
    await ctrContainers.run(ns, cid, { 'nerdctl/name': evil, 'com.docker.compose.project': 'ww-cli-esc' });
    const r = await runCli(['--containerd', containerdApi, '--once']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`${ns}/${cid}\\e]0;pwned\\x07\\e[2J\\x9bX`);
    expect(r.stdout).to.include('project ww-cli-esc');
    // Nothing raw reaches the terminal: no C0 control but newlines, no C1 control.
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).to.not.match(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});

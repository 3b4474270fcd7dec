/**
 * Every example in examples/ runs with tsx against the private engines (endpoints from the
 * environment, as a user would give them) and shows what the engines report. examples/moby.ts
 * has its own suite (moby-example.spec.ts).
 */
import { expect } from 'chai';
import { docker, requireEngine, testEngines, uniqueName } from '../support/engines.js';
import { Running, tsxArgs } from './cli-support.js';
import { CtrContainers } from './containerd-support.js';
import { removeTestContainers, run } from './moby-helpers.js';

describe('examples/ (run with tsx against the private engines)', function () {
  this.timeout(120_000);
  let dockerApi: string;
  let containerdApi: string;
  const ctrContainers = new CtrContainers();
  const running: Running[] = [];

  before(async function () {
    dockerApi = await requireEngine(this, 'docker');
    containerdApi = await requireEngine(this, 'containerd');
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop('SIGKILL');
  });

  after(async () => {
    await ctrContainers.removeAll();
    if (dockerApi) await removeTestContainers(dockerApi).catch(() => undefined);
  });

  /** Starts an example; it is stopped (SIGINT, exit code checked) by the test or killed after it. */
  function start(file: string, env: Record<string, string>, args: string[] = []): Running {
    const r = new Running([...tsxArgs(file), ...args], env);
    running.push(r);
    return r;
  }

  async function stop(r: Running): Promise<void> {
    const code = await r.stop('SIGINT');
    expect(code, `exit code; stderr: ${r.stderr}`).to.equal(0);
  }

  it('follow-project.ts prints the project whenever it changes, and only it', async () => {
    const project = uniqueName('proj');
    const ex = start('examples/follow-project.ts', { DOCKER_HOST: dockerApi }, [project]);
    const lines = () => ex.lines().filter((l) => l.startsWith(`project "${project}"`));
    await ex.until(() => lines().includes(`project "${project}": no alive container`), 'the empty project');
    const image = testEngines().images.docker;
    const name = uniqueName('follow');
    const id = await run(dockerApi, image, { name, project, cmd: ['sleep', '300'] });
    await ex.until(() => lines().some((l) => l.includes(`${name} pid `)), 'the container in the project');
    await run(dockerApi, image, { cmd: ['sleep', '300'] }); // elsewhere: must not wake the example
    await docker(dockerApi, 'pause', id);
    await ex.until(() => lines().some((l) => l.includes(`${name} (paused)`)), 'the paused container');
    await docker(dockerApi, 'kill', id);
    await ex.until(() => lines().filter((l) => l.endsWith('no alive container')).length === 2, 'the project empty again');
    expect(lines()).to.have.length(4);
    await stop(ex);
  });

  it('events.ts prints started, paused, unpaused and exited', async () => {
    const ex = start('examples/events.ts', { DOCKER_HOST: dockerApi });
    await ex.until(() => ex.stderr.includes('[engine] synced'), 'synced');
    const name = uniqueName('events');
    const id = await run(dockerApi, testEngines().images.docker, { name, project: 'ww-ex', cmd: ['sleep', '300'] });
    await docker(dockerApi, 'pause', id);
    await docker(dockerApi, 'unpause', id);
    await docker(dockerApi, 'kill', id);
    const mine = () => ex.lines().filter((l) => l.includes(` ${name} [ww-ex] pid `)).map((l) => l.split(/\s+/)[1]);
    await ex.until(() => mine().includes('exited'), 'the exited event');
    expect(mine()).to.deep.equal(['started', 'paused', 'unpaused', 'exited']);
    await stop(ex);
  });

  it('fleet.ts lists the containers of Docker and containerd with their engines, then exits', async () => {
    const dname = uniqueName('fleet-d');
    await run(dockerApi, testEngines().images.docker, { name: dname, project: 'ww-ex-fleet', cmd: ['sleep', '300'] });
    const cid = uniqueName('fleet-c');
    await ctrContainers.run('ww-test', cid, { 'nerdctl/name': `${cid}-n` });
    const ex = start('examples/fleet.ts', { DOCKER_HOST: dockerApi, CONTAINERD_ADDRESS: containerdApi });
    const code = await Promise.race([ex.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
    expect(code, ex.stderr).to.equal(0);
    const out = ex.stdout;
    expect(out).to.match(/^\d+ containers on 2 engines$/m);
    expect(out).to.include(`docker.com at ${dockerApi}:`).and.include(`containerd.io at ${containerdApi}:`);
    const dockerPart = out.slice(out.indexOf('docker.com at'), out.indexOf('containerd.io at'));
    const containerdPart = out.slice(out.indexOf('containerd.io at'));
    expect(dockerPart).to.include(`  ${dname} project="ww-ex-fleet" pid=`);
    expect(containerdPart).to.include(`  ww-test/${cid}-n project="" pid=`);
    expect(out).to.match(/^first by name: \S+ on (docker\.com|containerd\.io)$/m);
  });

  it('containerd.ts prints the engine and its projects, then follows until Ctrl-C', async () => {
    const cid = uniqueName('ctrex');
    await ctrContainers.run('ww-test', cid, { 'nerdctl/name': `${cid}-n`, 'com.docker.compose.project': 'ww-ex-ctr' });
    const ex = start('examples/containerd.ts', {}, [containerdApi]);
    await ex.until(() => ex.lines().some((l) => l.startsWith('ww-ex-ctr: ') && l.includes(`ww-test/${cid}-n`)), 'the project line');
    expect(ex.lines().some((l) => /^containerd \S+ \(containerd 1\./.test(l))).to.equal(true);
    await stop(ex);
  });
});

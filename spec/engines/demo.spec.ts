/**
 * `npm run demo` (scripts/demo.ts) on a short timeline against the running private engines:
 * it shows the live view, goes through every step of its workload, and leaves nothing behind.
 */
import { expect } from 'chai';
import { CriTestClient } from '../support/cri-client.js';
import { ctr, docker, requireEngine } from '../support/engines.js';
import { Running, tsxArgs } from './cli-support.js';

describe('npm run demo (short timeline)', function () {
  this.timeout(180_000);
  let dockerApi: string;
  let criApi: string;

  before(async function () {
    dockerApi = await requireEngine(this, 'docker');
    await requireEngine(this, 'containerd');
    criApi = await requireEngine(this, 'cri');
  });

  it('runs the workload under the live view and cleans up', async () => {
    const demo = new Running([...tsxArgs('scripts/demo.ts'), '--seconds', '10']);
    const code = await Promise.race([demo.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref())]);
    if (code === 'timeout') await demo.stop('SIGINT', 30_000);
    expect(code, demo.stderr).to.equal(0);
    expect(demo.stdout).to.include('whalewatcher · 3 engines');
    expect(demo.stdout).to.include('project shop').and.include('project blog').and.include('project batch');
    expect(demo.stdout).to.include('ww-demo/web/server');
    expect(demo.stdout).to.include('What the demo did');
    expect(demo.stdout).to.not.include('FAILED');
    for (const step of ['started shop-web-1', 'pause shop-db-1', 'kill blog-app-1', 'stopped pod ww-demo/web', 'pause shop-web-1']) {
      expect(demo.stdout).to.include(step);
    }
    // Nothing left behind.
    expect(await docker(dockerApi, 'ps', '-a', '-q', '--filter', 'label=whalewatcher.demo=1')).to.equal('');
    expect(await ctr('default', 'containers', 'ls', '-q')).to.not.include('ww-demo-');
    const cri = new CriTestClient(criApi);
    try {
      const { items } = await cri.client.listPodSandbox({}, { timeoutMs: 10_000 });
      expect(items.filter((p) => p.metadata?.namespace === 'ww-demo')).to.deep.equal([]);
    } finally {
      await cri.close();
    }
  });
});

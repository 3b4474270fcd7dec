/**
 * The moby watcher at scale on real Docker and Podman: a resync of an unchanged engine is ONE
 * list call, and the initial sync of 200 containers inspects them concurrently (timed next to
 * `docker inspect $(docker ps -q)`). Prints the numbers for the closing note.
 * `WHALEWATCHER_MOBY_SCALE` overrides the 200.
 */
import { expect } from 'chai';
import { mobyWatcher } from '../../engines/moby/index.js';
import { describeEngine, docker, dockerWith, waitFor } from '../support/engines.js';
import { MOBY_ENGINES_SCALE, engineAnswer, holdingProxy, portfolioAnswer, removeTestContainers, run } from './moby-helpers.js';

const TOTAL = Number(process.env['WHALEWATCHER_MOBY_SCALE'] || 200);
const RESYNC_SET = Math.min(50, TOTAL);

async function startMany(endpoint: string, image: string, n: number): Promise<void> {
  let left = n;
  const worker = async () => {
    while (left > 0) {
      left--;
      await run(endpoint, image, { project: `scale-${left % 5}` });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

for (const engine of MOBY_ENGINES_SCALE) {
  describeEngine(engine.key, `moby watcher on ${engine.title}: scale`, (endpoint) => {
    before(async function () {
      this.timeout(300_000);
      await removeTestContainers(endpoint());
    });
    after(async function () {
      this.timeout(300_000);
      await removeTestContainers(endpoint());
    });

    it(`resyncs an unchanged engine with ${RESYNC_SET} containers in ONE list call`, async function () {
      this.timeout(300_000);
      await startMany(endpoint(), engine.image(), RESYNC_SET);
      const proxy = await holdingProxy(endpoint(), /^$/, 'request');
      const w = mobyWatcher(proxy.api, { resyncInterval: 500, fullResyncEvery: 0 });
      try {
        await w.ready({ signal: AbortSignal.timeout(120_000) });
        const lists = () => proxy.requests.filter((r) => r.startsWith('GET /containers/json')).length;
        const first = lists();
        await waitFor(() => lists() >= first + 1, { what: 'a resync', timeoutMs: 10_000 });
        const mark = proxy.requests.length;
        await waitFor(() => lists() >= first + 4, { what: 'three more resyncs', timeoutMs: 10_000 });
        const window = proxy.requests.slice(mark);
        const resyncs = window.filter((r) => r.startsWith('GET /containers/json')).length;
        console.log(`      ${engine.title}: ${resyncs} resyncs of ${RESYNC_SET} unchanged containers made ${window.length} API calls (${window.length / resyncs} per resync)`);
        expect(window.every((r) => r.startsWith('GET /containers/json')), window.join('\n')).to.equal(true);
      } finally {
        await w.close();
        await proxy.close();
      }
    });

    it(`syncs ${TOTAL} containers initially with concurrent inspections`, async function () {
      this.timeout(600_000);
      await startMany(endpoint(), engine.image(), TOTAL - RESYNC_SET);
      const answer = await engineAnswer(endpoint());
      expect(answer.length).to.be.at.least(TOTAL);

      let t = performance.now();
      const ids = (await docker(endpoint(), 'ps', '-q')).split('\n').filter(Boolean);
      await dockerWith(endpoint(), ['inspect', ...ids], { timeoutMs: 120_000 });
      const cli = performance.now() - t;

      const proxy = await holdingProxy(endpoint(), /^$/, 'request');
      const w = mobyWatcher(proxy.api, { resyncInterval: 0 });
      try {
        t = performance.now();
        await w.ready({ signal: AbortSignal.timeout(120_000) });
        const sync = performance.now() - t;
        const inspections = proxy.requests.filter((r) => /^GET \/containers\/[^/]+\/json/.test(r)).length;
        console.log(
          `      ${engine.title}: initial sync of ${w.portfolio.containerTotal} containers took ${sync.toFixed(0)} ms ` +
            `(${inspections} inspections, ${proxy.requests.length} API calls); ` +
            `docker inspect $(docker ps -q) of ${ids.length} took ${cli.toFixed(0)} ms`,
        );
        expect(w.portfolio.containerTotal).to.be.at.least(TOTAL);
        expect(portfolioAnswer(w.portfolio)).to.deep.equal(await engineAnswer(endpoint()));
      } finally {
        await w.close();
        await proxy.close();
      }
    });
  });
}

/**
 * Churn on the private engines (Docker, containerd): four concurrent workers start, pause,
 * unpause and kill short-lived containers for a minute (`npm test`: one run per engine; soak:
 * ten). At quiescence the portfolio equals the engine's truth, from
 * events alone (the resync is left at its 60 s default, longer than the wait), and each
 * container's event sequence is legal: one `started` per ID+PID, pause toggles, one `exited`.
 */
import { expect } from 'chai';
import type { EngineKey } from '../support/engines.js';
import { requireEngine } from '../support/engines.js';
import { type ChurnStats, type EngineDriver, churn, containerdDriver, converged, mobyDriver } from '../support/reliability-engines.js';
import { ProcessGuard, Recorder, illegalSequences, recordFigure, size, sleep, writeFigures } from '../support/reliability-helpers.js';

const RUNS = size(1, 10);
const SECONDS = 60;
const WORKERS = 4;
/** Well below the 60 s default resync: convergence must come from the events. */
const QUIESCE_MS = 15_000;

const ENGINES: Array<{ key: EngineKey; make: (endpoint: string) => EngineDriver }> = [
  { key: 'docker', make: (e) => mobyDriver('Docker', 'docker', e) },
  { key: 'containerd', make: () => containerdDriver('ww-test') },
];

after(() => writeFigures());

for (const { key, make } of ENGINES) {
  describe(`reliability: ${WORKERS} workers churn containers on ${key} (${RUNS} × ${SECONDS} s)`, function () {
    this.timeout(RUNS * (SECONDS * 1000 + 120_000));
    const guard = new ProcessGuard();
    let driver: EngineDriver;

    before(async function () {
      const endpoint = await requireEngine(this, key);
      driver = make(endpoint);
      await driver.cleanup();
    });
    after(async () => {
      await driver?.cleanup().catch(() => undefined);
      driver?.close?.();
    });
    beforeEach(() => guard.install());
    afterEach(() => {
      guard.uninstall();
      guard.check();
    });

    it(`at quiescence the portfolio equals the truth and every sequence is legal, in ${RUNS} run(s)`, async () => {
      let consistent = 0;
      const totals: ChurnStats = { started: 0, paused: 0, unpaused: 0, killed: 0, failed: 0 };
      let events = 0;
      let slowest = 0;
      for (let run = 1; run <= RUNS; run++) {
        const w = driver.watcher({ backoff: { initialDelay: 200, maxDelay: 2_000 } });
        const rec = new Recorder(w);
        try {
          await w.ready({ signal: AbortSignal.timeout(60_000) });
          const end = Date.now() + SECONDS * 1000;
          const stats = await churn(driver, WORKERS, () => Date.now() >= end);
          for (const k of Object.keys(totals) as (keyof ChurnStats)[]) totals[k] += stats[k];
          const took = await converged(w, driver, QUIESCE_MS, `run ${run}: portfolio equals the engine's truth at quiescence`);
          slowest = Math.max(slowest, took);
          expect(illegalSequences(rec.events), `run ${run}: legal event sequences`).to.deep.equal([]);
          expect(rec.stateNames().filter((s) => s === 'reconnecting'), `run ${run}: no reconnect`).to.deep.equal([]);
          expect(stats.started, `run ${run}: the workers did start containers`).to.be.greaterThan(10);
          events += rec.events.length;
          consistent++;
          guard.check();
        } finally {
          rec.stop();
          await w.close();
          await driver.cleanup().catch(() => undefined);
        }
        await sleep(200);
      }
      recordFigure(
        `churn, ${driver.title}`,
        `${consistent}/${RUNS} runs of ${SECONDS} s with ${WORKERS} workers consistent at quiescence (slowest ${(slowest / 1000).toFixed(1)} s, from events alone); ` +
          `${totals.started} started, ${totals.paused} paused, ${totals.unpaused} unpaused, ${totals.killed} killed; ${events} lifecycle events, all legal`,
      );
    });
  });
}

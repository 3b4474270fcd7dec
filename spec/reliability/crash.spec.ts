/**
 * Engine crashes with churn, on the private engines (Docker, Podman, containerd): while workers
 * start, pause, unpause and kill short-lived containers, the engine's daemon is SIGKILLed at a
 * random moment and restarted (3 cycles per engine in `npm test`, 10 in soak). After every
 * recovery: `state$` went reconnecting then synced; the portfolio equals the engine's truth
 * within the backoff plus one resync; each container that died during the outage got exactly
 * one `exited`; no survivor got a second `started`; no error escaped to the process; every
 * container's event sequence is legal. Also: the socket removed and recreated while watching,
 * and an engine that is not up yet when the watcher starts (it waits, then syncs).
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { EngineUnreachableError } from '../../lib/errors.js';
import type { Watcher } from '../../lib/watcher.js';
import { type EngineKey, crashEngine, engineAnswers, isProvisioned, requireEngine, restartEngine, socketPath, waitFor, skipOrFail } from '../support/engines.js';
import { type ChurnStats, type EngineDriver, churn, containerdDriver, criDriver, converged, mobyDriver, portfolioTruth } from '../support/reliability-engines.js';
import { ProcessGuard, Recorder, illegalSequences, recordFigure, size, sleep, writeFigures } from '../support/reliability-helpers.js';

const CYCLES = size(3, 10);
const BACKOFF = { initialDelay: 200, maxDelay: 2_000 } as const;
const RESYNC = 5_000;
/** Backoff plus one resync, plus room for the engine's CLI answers and inspections. */
const CONVERGE_MS = BACKOFF.maxDelay + RESYNC + 8_000;

const ENGINES: Array<{ key: EngineKey; make: (endpoint: string) => EngineDriver }> = [
  { key: 'docker', make: (e) => mobyDriver('Docker', 'docker', e) },
  { key: 'containerd', make: () => containerdDriver('ww-test') },
  { key: 'podman', make: (e) => mobyDriver('Podman', 'podman', e) },
  { key: 'cri', make: (e) => criDriver(e, 'ww-rel-cri') },
];

after(() => writeFigures());

/** The largest of some durations in ms, in seconds with one decimal. */
const seconds = (ms: number[]) => (Math.max(...ms) / 1000).toFixed(1);

for (const { key, make } of ENGINES) {
  describe(`reliability: ${key} crashed ${CYCLES}× while containers churn`, function () {
    this.timeout(600_000);
    const guard = new ProcessGuard();
    let driver: EngineDriver;
    let w: Watcher | undefined;
    let rec: Recorder | undefined;
    let endpoint: string;

    before(async function () {
      endpoint = await requireEngine(this, key);
      if (!isProvisioned(key, endpoint)) {
        skipOrFail(this, `${endpoint} is not the provisioning's own ${key}; never crash it`);
      }
      driver = make(endpoint);
      await driver.cleanup();
    });
    after(() => driver?.close?.());
    beforeEach(() => guard.install());
    afterEach(async () => {
      rec?.stop();
      rec = undefined;
      await w?.close();
      w = undefined;
      guard.uninstall();
      // Whatever happened, leave the engine up (and clean) for the next suites.
      if (!(await engineAnswers(key, endpoint))) await restartEngine(driver.engine).catch(() => undefined);
      await driver.cleanup().catch(() => undefined);
      guard.check();
    });

    it(`recovers after each of ${CYCLES} crashes: truth, one exited per death, no second started`, async () => {
      w = driver.watcher({ backoff: BACKOFF, resyncInterval: RESYNC, callTimeout: 10_000 });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(60_000) });
      await driver.start(600); // one long-lived container besides the churn
      let stop = false;
      let hold = false;
      const stats: ChurnStats[] = [];
      const churning = churn(driver, 3, () => stop || hold).then((s) => stats.push(s));
      let workers = churning;
      const toSynced: number[] = []; // from the restart to `synced`
      const toTruth: number[] = []; // from the churn's settling to portfolio = truth
      let deaths = 0;
      let survivors = 0;
      try {
        for (let cycle = 1; cycle <= CYCLES; cycle++) {
          await sleep(500 + Math.random() * 2_500);
          const sMark = rec.states.length;
          const eMark = rec.events.length;
          const before = new Map(portfolioTruth(w.portfolio).map((l) => l.split(' ') as [string, string, string]).map(([id, pid]) => [id, pid]));
          await crashEngine(driver.engine);
          // During the outage, one container dies behind the engine's back.
          const victim = [...w.portfolio.containers()].filter((c) => c.pid > 0 && !c.paused).at(-1);
          if (victim) {
            try {
              process.kill(victim.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          await sleep(300 + Math.random() * 1_200);
          await restartEngine(driver.engine);
          const t0 = Date.now();
          await waitFor(() => {
            const names = rec!.stateNames(sMark);
            const r = names.indexOf('reconnecting');
            return r >= 0 && names.indexOf('synced', r) > r;
          }, { timeoutMs: CONVERGE_MS, what: `cycle ${cycle}: reconnecting, then synced` });
          toSynced.push(Date.now() - t0);
          // Quiesce the workers for the comparison (short-lived containers still end by themselves).
          // A worker's engine command can take long after a restart; that wait is the churn's, not the watcher's.
          hold = true;
          await workers;
          const t1 = Date.now();
          await converged(w, driver, CONVERGE_MS, `cycle ${cycle}: portfolio equals the engine's truth`);
          toTruth.push(Date.now() - t1);
          const now = new Map(portfolioTruth(w.portfolio).map((l) => l.split(' ') as [string, string, string]).map(([id, pid]) => [id, pid]));
          const since = rec.events.slice(eMark);
          for (const [id, pid] of before) {
            const exited = since.filter((e) => e.type === 'exited' && e.container.id === id).length;
            const started = since.filter((e) => e.type === 'started' && e.container.id === id).length;
            if (!now.has(id)) {
              deaths++;
              expect(exited, `cycle ${cycle}: ${id} died: exactly one exited`).to.equal(1);
            } else if (now.get(id) === pid) {
              survivors++;
              expect(started, `cycle ${cycle}: survivor ${id}: no second started`).to.equal(0);
              expect(exited, `cycle ${cycle}: survivor ${id}: no exited`).to.equal(0);
            } else {
              expect([exited, started], `cycle ${cycle}: ${id} restarted unseen: exited, then started`).to.deep.equal([1, 1]);
            }
          }
          for (const e of rec.errors(sMark)) expect(e, 'reconnect errors are WhalewatcherErrors').to.be.instanceOf(Error).and.have.property('endpoint');
          guard.check();
          hold = false;
          workers = churn(driver, 3, () => stop || hold).then((s) => stats.push(s));
        }
      } finally {
        stop = true;
        await workers;
      }
      expect(illegalSequences(rec.events), 'legal event sequences').to.deep.equal([]);
      const total = stats.reduce((a, s) => ({ started: a.started + s.started, paused: a.paused + s.paused, killed: a.killed + s.killed }), { started: 0, paused: 0, killed: 0 });
      recordFigure(
        `crashes with churn, ${driver.title}`,
        `${CYCLES}/${CYCLES} SIGKILL+restart cycles recovered, portfolio = truth after each (slowest: synced ${seconds(toSynced)} s after the restart, truth ${seconds(toTruth)} s after the churn settled); ` +
          `${deaths} containers gone across outages each got exactly one exited, ${survivors} survivors no second started; churn ${total.started} started, ${total.paused} paused, ${total.killed} killed; ${rec.events.length} events, all legal`,
      );
    });

    it('the socket removed and recreated while watching: no such socket, then synced', async () => {
      w = driver.watcher({ backoff: BACKOFF, resyncInterval: RESYNC });
      rec = new Recorder(w);
      await w.ready({ signal: AbortSignal.timeout(60_000) });
      await driver.start(600);
      await converged(w, driver, CONVERGE_MS, 'before');
      const sMark = rec.states.length;
      await crashEngine(driver.engine);
      rmSync(socketPath(endpoint), { force: true });
      await waitFor(() => rec!.errors(sMark).some((e) => e instanceof EngineUnreachableError && e.reason === 'no such socket'), {
        timeoutMs: 15_000,
        what: 'reconnecting with "no such socket"',
      });
      await restartEngine(driver.engine);
      await waitFor(() => rec!.stateNames(sMark).includes('synced'), { timeoutMs: CONVERGE_MS, what: 'synced again' });
      await converged(w, driver, CONVERGE_MS, 'after the socket came back');
      expect(illegalSequences(rec.events)).to.deep.equal([]);
      recordFigure(`socket removed and recreated, ${driver.title}`, 'reconnecting ("no such socket"), then synced, portfolio = truth');
    });

    it('an engine that is not up yet when the watcher starts: it waits, then syncs', async () => {
      await driver.start(600);
      await crashEngine(driver.engine);
      w = driver.watcher({ backoff: BACKOFF, resyncInterval: RESYNC });
      rec = new Recorder(w);
      const ready = w.ready({ signal: AbortSignal.timeout(180_000) });
      await waitFor(() => rec!.errors().length >= 2, { timeoutMs: 15_000, what: 'two failed attempts' });
      for (const e of rec.errors()) expect(e).to.be.instanceOf(EngineUnreachableError);
      expect(w.portfolio.containerTotal, 'nothing known before the first sync').to.equal(0);
      await restartEngine(driver.engine);
      await ready;
      await converged(w, driver, CONVERGE_MS, 'after the engine came up');
      recordFigure(`engine not up yet at start, ${driver.title}`, `waited (${rec.errors().length} failed attempts, EngineUnreachableError), then synced, portfolio = truth`);
    });
  });
}

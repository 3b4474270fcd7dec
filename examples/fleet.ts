/**
 * One view over several engines: Docker (DOCKER_HOST) and containerd (CONTAINERD_ADDRESS) as a
 * fleet. Prints every alive container with the engine it runs on, then exits.
 *
 *   DOCKER_HOST=unix:///var/run/docker.sock CONTAINERD_ADDRESS=/run/containerd/containerd.sock \
 *     npx tsx examples/fleet.ts
 */
import { containerdWatcher } from '../engines/containerd/index.js';
import { mobyWatcher } from '../engines/moby/index.js';
import { fleet } from '../lib/index.js';

const all = fleet(
  mobyWatcher(process.env['DOCKER_HOST'], { backoff: false }),
  containerdWatcher(process.env['CONTAINERD_ADDRESS'], { backoff: false }),
);
try {
  // Resolves once every engine is synced (rejects if one cannot be reached: no retries here).
  const portfolio = await all.ready({ signal: AbortSignal.timeout(30_000) });
  console.log(`${portfolio.containerTotal} containers on ${portfolio.engines().length} engines`);
  for (const engine of portfolio.engines()) {
    const p = portfolio.engine(engine)!;
    console.log(`${engine.type} at ${engine.api}: ${p.containerTotal} containers`);
    for (const c of p.containers()) {
      console.log(`  ${c.name} project=${JSON.stringify(c.project)} pid=${c.pid}${c.paused ? ' paused' : ''}`);
    }
  }
  // Containers carry their engine, also in the merged lists and lookups.
  const first = portfolio.containers()[0];
  if (first) console.log(`first by name: ${first.name} on ${first.engine?.type}`);
} finally {
  await all.close();
}

/**
 * Watches a containerd engine and prints its projects and lifecycle events until Ctrl-C.
 *
 * @example
 * npx tsx examples/containerd.ts /run/containerd/containerd.sock
 */
import { containerdWatcher } from '../engines/containerd/index.js';

const w = containerdWatcher(process.argv[2], { resyncInterval: 30_000 });
w.state$.subscribe((s) => console.error(`[state] ${s.state}${'error' in s ? `: ${s.error.message}` : ''}`));
w.events$.subscribe((e) => console.log(`${e.at.toISOString()} ${e.type} ${e.container.name} (pid ${e.container.pid})`));
const portfolio = await w.ready();
console.log(`containerd ${await w.id()} (${await w.version()}), pid ${w.pid}`);
for (const name of ['', ...portfolio.names()]) {
  const project = portfolio.project(name);
  if (project) console.log(`${name || '(standalone)'}: ${project.containerNames().join(', ')}`);
}
process.once('SIGINT', () => void w.close());

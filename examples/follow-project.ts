/**
 * Follows ONE compose project as a stream: prints the project's containers whenever they change
 * (and only then: changes elsewhere on the engine do not wake it), until Ctrl-C.
 *
 *   DOCKER_HOST=unix:///var/run/docker.sock npx tsx examples/follow-project.ts shop
 */
import { mobyWatcher } from '../engines/moby/index.js';
import { selectProject } from '../lib/index.js';

const projectName = process.argv[2] ?? 'shop';
const watcher = mobyWatcher(process.env['DOCKER_HOST']);

const subscription = watcher.portfolio$.pipe(selectProject(projectName)).subscribe((project) => {
  if (!project) {
    console.log(`project ${JSON.stringify(projectName)}: no alive container`);
    return;
  }
  const shown = project.containers().map((c) => `${c.name}${c.paused ? ' (paused)' : ''} pid ${c.pid}`);
  console.log(`project ${JSON.stringify(projectName)}: ${shown.join(', ')}`);
});

// Ctrl-C (or SIGTERM) ends it: unsubscribe, then release the engine connection.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    subscription.unsubscribe();
    void watcher.close();
  });
}

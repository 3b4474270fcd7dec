/**
 * Prints the lifecycle events of a Docker (or Podman) engine as they happen: `started` (the
 * first sync announces every alive container), `paused`, `unpaused`, `exited`; until Ctrl-C.
 *
 *   DOCKER_HOST=unix:///var/run/docker.sock npx tsx examples/events.ts
 */
import { mobyWatcher } from '../engines/moby/index.js';

const watcher = mobyWatcher(process.env['DOCKER_HOST']);

watcher.state$.subscribe((s) => {
  if (s.state === 'reconnecting') console.error(`[engine] reconnecting in ${s.delay} ms: ${s.error.message}`);
  else console.error(`[engine] ${s.state}`);
});
watcher.events$.subscribe((e) => {
  const project = e.container.project ? ` [${e.container.project}]` : '';
  console.log(`${e.at.toISOString()} ${e.type.padEnd(8)} ${e.container.name}${project} pid ${e.container.pid}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void watcher.close());

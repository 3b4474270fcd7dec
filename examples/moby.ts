/**
 * Lists the compose projects of a Docker (or Podman) engine and their alive containers with
 * their PIDs: the TypeScript counterpart of the Go whalewatcher module's README example.
 *
 *   DOCKER_HOST=unix:///var/run/docker.sock npx tsx examples/moby.ts
 */
import { mobyWatcher } from '../engines/moby/index.js';

// Connect to the engine at DOCKER_HOST (default: the default Docker socket); no retries.
const watcher = mobyWatcher(process.env['DOCKER_HOST'], { backoff: false });
try {
  console.log(`watching engine ID: ${await watcher.id()}`);

  // Wait for the first complete picture.
  const portfolio = await watcher.ready({ signal: AbortSignal.timeout(30_000) });

  // The project names, plus the unnamed "" project of the standalone containers.
  for (const name of [...portfolio.names(), ''].sort()) {
    const project = portfolio.project(name);
    if (!project) continue; // no standalone containers
    console.log(`project ${JSON.stringify(name)}:`);
    for (const container of project.containers()) {
      console.log(`  container ${JSON.stringify(container.name)} with PID ${container.pid}`);
    }
    console.log();
  }
} finally {
  await watcher.close();
}

/**
 * examples/moby.ts runs against real Docker and Podman and prints every project with its
 * containers and their PIDs, as the engine itself reports them.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { REPO_ROOT, describeEngine, exec } from '../support/engines.js';
import { MOBY_ENGINES, engineAnswer, removeTestContainers, run } from './moby-helpers.js';

for (const engine of MOBY_ENGINES) {
  describeEngine(engine.key, `examples/moby.ts on ${engine.title}`, (endpoint) => {
    after(async () => removeTestContainers(endpoint()));

    it('lists the projects and their containers with PIDs', async () => {
      await run(endpoint(), engine.image(), { project: 'example-a' });
      await run(endpoint(), engine.image(), { project: 'example-b' });
      await run(endpoint(), engine.image());
      const answer = await engineAnswer(endpoint());
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'examples', 'moby.ts')], {
        cwd: REPO_ROOT,
        env: { DOCKER_HOST: endpoint() },
        timeoutMs: 60_000,
      });
      expect(stdout).to.match(/^watching engine ID: \S+/);
      expect(stdout).to.include('project "example-a":').and.include('project "example-b":').and.include('project "":');
      // Every container the engine reports (others' suites may add more meanwhile) is listed.
      const listed = new Map([...stdout.matchAll(/container "([^"]+)" with PID (\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
      for (const c of answer) expect(listed.get(c.name), c.name).to.equal(c.pid);
    });
  });
}

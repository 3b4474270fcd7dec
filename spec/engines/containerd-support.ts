/**
 * Helpers of the containerd engine suites: containers made with `ctr`, and their removal.
 */
import { ctr, testEngines, waitFor } from '../support/engines.js';

/**
 * Containers a suite created with `ctr`, removed again by {@link CtrContainers.removeAll}.
 *
 * @example
 * const containers = new CtrContainers();
 * await containers.run('ww-test', uniqueName('web'), { 'nerdctl/name': 'web' });
 * await containers.removeAll();
 */
export class CtrContainers {
  private readonly created: Array<{ namespace: string; id: string }> = [];

  /** `ctr run -d` with nerdctl-style labels; the container sleeps 300 s. */
  async run(namespace: string, id: string, labels: Record<string, string> = {}): Promise<void> {
    this.created.push({ namespace, id });
    const flags = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    await ctr(namespace, 'run', '-d', ...flags, testEngines().images.containerd, id, '/bin/sleep', '300');
  }

  /** `ctr containers create`: a container without a task. */
  async create(namespace: string, id: string, labels: Record<string, string> = {}): Promise<void> {
    this.created.push({ namespace, id });
    const flags = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    await ctr(namespace, 'containers', 'create', ...flags, testEngines().images.containerd, id, '/bin/sleep', '300');
  }

  /** SIGKILLs the task and waits until ctr reports it STOPPED. */
  async kill(namespace: string, id: string): Promise<void> {
    await ctr(namespace, 'tasks', 'kill', '-s', 'SIGKILL', id);
    await waitFor(async () => ['STOPPED', undefined].includes(await this.status(namespace, id)), {
      what: `task ${namespace}/${id} stopped`,
    });
  }

  /** The task's PID as ctr lists it (0 without a task). */
  async pid(namespace: string, id: string): Promise<number> {
    return Number((await this.task(namespace, id))?.[1] ?? 0);
  }

  /** The task's status as ctr lists it (RUNNING, PAUSED, STOPPED…), undefined without a task. */
  async status(namespace: string, id: string): Promise<string | undefined> {
    return (await this.task(namespace, id))?.[2];
  }

  private async task(namespace: string, id: string): Promise<string[] | undefined> {
    return (await ctr(namespace, 'tasks', 'ls'))
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find((fields) => fields[0] === id);
  }

  /** Removes every created container: task (forced), then container and snapshot. */
  async removeAll(): Promise<void> {
    for (const { namespace, id } of this.created.splice(0).reverse()) {
      await ctr(namespace, 'tasks', 'rm', '-f', id).catch(() => undefined);
      await ctr(namespace, 'containers', 'rm', id).catch(() => undefined);
    }
  }
}

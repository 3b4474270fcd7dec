/**
 * Section 6: a read burst. Reading the portfolio (a project's containers, a container by name)
 * next to one `listContainers` call on dockerode: what the library saves each reader.
 *
 * @module
 */
import { mobyWatcher } from '../../engines/moby/index.js';
import { dockerClient } from './engines.js';
import { type Row, median, now, say } from './report.js';

export interface ReadOptions {
  readonly endpoint: string;
  readonly lists: number;
  readonly reads: number;
  readonly repetitions: number;
}

export async function benchRead(o: ReadOptions): Promise<Row[]> {
  say(`read: ${o.reads.toLocaleString('en')} portfolio reads × ${o.repetitions} vs ${o.lists} listContainers calls`);
  const w = mobyWatcher(o.endpoint, { resyncInterval: 0 });
  let readNs: number[] = [];
  let lookupNs: number[] = [];
  const listMs: number[] = [];
  let containers = 0;
  try {
    const p = await w.ready({ signal: AbortSignal.timeout(120_000) });
    containers = p.containerTotal;
    const projects = p.names();
    const names = p.containers().map((c) => c.name);
    if (projects.length === 0 || names.length === 0) throw new Error('read: no containers or projects to read');
    let sink = 0;
    const burst = () => {
      const t = now();
      for (let i = 0; i < o.reads; i++) {
        const snapshot = w.portfolio;
        sink += snapshot.project(projects[i % projects.length]!)?.containers().length ?? 0;
      }
      return ((now() - t) * 1e6) / o.reads;
    };
    const lookups = () => {
      const t = now();
      for (let i = 0; i < o.reads; i++) sink += w.portfolio.container(names[i % names.length]!)?.pid ?? 0;
      return ((now() - t) * 1e6) / o.reads;
    };
    burst();
    lookups();
    readNs = Array.from({ length: o.repetitions }, burst);
    lookupNs = Array.from({ length: o.repetitions }, lookups);
    if (sink === 0) throw new Error('read: nothing was read');
    const docker = dockerClient(o.endpoint);
    await docker.listContainers();
    for (let i = 0; i < o.lists; i++) {
      const t = now();
      await docker.listContainers();
      listMs.push(now() - t);
    }
  } finally {
    await w.close();
  }
  const list = median(listMs) * 1e6;
  const read = median(readNs);
  const lookup = median(lookupNs);
  const detail = { containers, readsPerRepetition: o.reads, readNs, lookupNs, listCalls: o.lists, listMsMedian: median(listMs) };
  return [
    {
      key: 'read.projectContainers',
      section: 6,
      figure: `read portfolio.project(x).containers(), ${containers} containers`,
      value: read,
      unit: 'ns',
      baseline: { label: 'dockerode listContainers', value: list, unit: 'ns' },
      ratio: read / list,
      detail,
    },
    {
      key: 'read.containerByName',
      section: 6,
      figure: `read portfolio.container(name)`,
      value: lookup,
      unit: 'ns',
      baseline: { label: 'dockerode listContainers', value: list, unit: 'ns' },
      ratio: lookup / list,
    },
  ];
}

/**
 * Section 2: event latency. A container is started; the reference time is the arrival of its
 * raw `start` event on a separate dockerode event stream. Measured from there: when the
 * watcher's `portfolio$` first emits a snapshot holding the container, and, in the same
 * process, when a minimal hand-written dockerode "event, inspect, update a Map" loop has it.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import { mobyWatcher } from '../../engines/moby/index.js';
import { type DockerFleet, dockerClient } from './engines.js';
import { type Row, atMost, median, now, percentile, say, sleep } from './report.js';

export interface LatencyOptions {
  readonly endpoint: string;
  readonly fleet: DockerFleet;
  readonly samples: number;
}

interface Sample {
  raw?: number;
  watcher?: number;
  baseline?: number;
}

/** A dockerode event stream calling `onEvent` with each decoded event; resolves once the stream is open. */
async function eventStream(docker: Docker, actions: string[], onEvent: (e: { Action?: string; id?: string; Actor?: { ID?: string } }) => void): Promise<IncomingMessage> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: actions } })) as unknown as IncomingMessage;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as { Action?: string; id?: string });
    }
  });
  stream.on('error', () => undefined);
  return stream;
}

export async function benchLatency(o: LatencyOptions): Promise<Row[]> {
  say(`latency: ${o.samples} container starts (plus 3 warm-up)`);
  const samples = new Map<string, Sample>();
  const sample = (id: string) => {
    let s = samples.get(id);
    if (!s) samples.set(id, (s = {}));
    return s;
  };

  // The reference: raw events on a stream of their own.
  const observer = await eventStream(dockerClient(o.endpoint), ['start'], (e) => {
    const id = e.Actor?.ID ?? e.id;
    if (e.Action === 'start' && id) sample(id).raw ??= now();
  });

  // The baseline: event, inspect, update a Map.
  const base = dockerClient(o.endpoint);
  const known = new Map<string, { name: string; labels: Record<string, string>; pid: number }>();
  const baseline = await eventStream(base, ['start', 'die'], (e) => {
    const id = e.Actor?.ID ?? e.id;
    if (!id) return;
    if (e.Action === 'die') {
      known.delete(id);
      return;
    }
    base
      .getContainer(id)
      .inspect()
      .then(
        (c) => {
          if (c.State.Pid > 0) {
            known.set(id, { name: c.Name.replace(/^\//, ''), labels: c.Config.Labels ?? {}, pid: c.State.Pid });
            sample(id).baseline ??= now();
          }
        },
        () => undefined,
      );
  });

  // The watcher.
  const w = mobyWatcher(o.endpoint, { resyncInterval: 0 });
  await w.ready({ signal: AbortSignal.timeout(120_000) });
  const waiting = new Set<string>();
  const sub = w.portfolio$.subscribe((p) => {
    for (const id of waiting) {
      if (p.container(id)) {
        sample(id).watcher ??= now();
        waiting.delete(id);
      }
    }
  });

  const measured: Sample[] = [];
  try {
    await sleep(200);
    for (let i = -3; i < o.samples; i++) {
      const id = await o.fleet.start('bench-latency');
      waiting.add(id);
      const deadline = now() + 30_000;
      let s = sample(id);
      while (!(s.raw !== undefined && s.watcher !== undefined && s.baseline !== undefined) && now() < deadline) {
        await sleep(5);
        s = sample(id);
      }
      if (s.watcher === undefined && w.portfolio.container(id)) s.watcher = now(); // emitted before we were waiting
      if (i >= 0) measured.push({ ...s });
      await o.fleet.remove(id);
      // Let the watcher and the baseline take the container's death before the next start.
      const gone = now() + 10_000;
      while ((w.portfolio.container(id) || known.has(id)) && now() < gone) await sleep(5);
      await sleep(50);
    }
  } finally {
    sub.unsubscribe();
    await w.close();
    observer.destroy();
    baseline.destroy();
  }

  const complete = measured.filter((s) => s.raw !== undefined && s.watcher !== undefined && s.baseline !== undefined);
  const ww = complete.map((s) => s.watcher! - s.raw!);
  const bl = complete.map((s) => s.baseline! - s.raw!);
  const detail = { samples: measured.length, complete: complete.length, watcherMs: ww, baselineMs: bl };
  const medianRatio = median(ww) / median(bl);
  return [
    {
      key: 'latency.median',
      section: 2,
      figure: `event latency, median (${complete.length} starts)`,
      value: median(ww),
      unit: 'ms',
      baseline: { label: 'dockerode event→inspect→Map', value: median(bl), unit: 'ms' },
      ratio: medianRatio,
      target: atMost(medianRatio, 1.2),
      detail,
    },
    {
      key: 'latency.p99',
      section: 2,
      figure: `event latency, p99 (${complete.length} starts)`,
      value: percentile(ww, 99),
      unit: 'ms',
      baseline: { label: 'dockerode event→inspect→Map', value: percentile(bl, 99), unit: 'ms' },
      ratio: percentile(ww, 99) / percentile(bl, 99),
    },
  ];
}

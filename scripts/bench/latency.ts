/**
 * Section 2: event latency. A container is started; the reference time is the arrival of its
 * raw `start` event on a separate dockerode event stream. Measured from there: when the
 * watcher's `portfolio$` first emits a snapshot holding the container, and, in the same
 * process, when a minimal hand-written dockerode "event, inspect, update a Map" loop has it.
 * The same on Podman's Docker-compatible endpoint is section 10 (figures only), timed from the
 * answer to the start request (each Podman event stream tails the engine's events file on its
 * own schedule, so a stream of its own is no reference there).
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import type { Subscription } from 'rxjs';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { Watcher } from '../../lib/watcher.js';
import { type DockerFleet, dockerClient } from './engines.js';
import { type Row, atMost, median, now, percentile, say, sleep } from './report.js';

/**
 * Options of {@link benchLatency}.
 *
 * @example
 * const o: LatencyOptions = { endpoint, fleet: new DockerFleet(endpoint, image), samples: 15 };
 */
export interface LatencyOptions {
  readonly endpoint: string;
  readonly fleet: DockerFleet;
  readonly samples: number;
  /**
   * `'Docker'` (default): section 2, with its target. `'Podman'`: the same measurement on
   * Podman's Docker-compatible endpoint, as section 10, figures only (no target).
   */
  readonly engine?: 'Docker' | 'Podman';
}

interface Sample {
  raw?: number;
  watcher?: number;
  baseline?: number;
  /** (Podman) when the raw `start` event arrived on a stream of its own. */
  stream?: number;
}

/**
 * A dockerode event stream calling `onEvent` with each decoded event of `actions`; resolves once
 * the stream is open. `inCode`: ask for all container events and pick `actions` here (Podman's
 * service applies only the first of several `event` filters).
 */
async function eventStream(
  docker: Docker,
  actions: string[],
  onEvent: (e: { Action?: string; id?: string; Actor?: { ID?: string } }) => void,
  inCode = false,
): Promise<IncomingMessage> {
  const filters = inCode ? { type: ['container' as const] } : { type: ['container' as const], event: actions };
  const stream = (await docker.getEvents({ filters })) as unknown as IncomingMessage;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (!line) continue;
      const e = JSON.parse(line) as { Action?: string; id?: string };
      if (!inCode || actions.includes(e.Action ?? '')) onEvent(e);
    }
  });
  stream.on('error', () => undefined);
  return stream;
}

/**
 * Event latency (section 2; section 10 for Podman): `samples` container starts (plus 3
 * warm-up), each timed from its raw `start` event on a stream of its own (Podman: from the answer
 * to its start request) to the watcher's `portfolio$` holding it and to the dockerode baseline's
 * Map holding it.
 *
 * @example
 * rows.push(...(await benchLatency({ endpoint, fleet, samples: 50 })));
 */
export async function benchLatency(o: LatencyOptions): Promise<Row[]> {
  const podman = o.engine === 'Podman';
  say(`${podman ? 'Podman ' : ''}latency: ${o.samples} container starts (plus 3 warm-up)`);
  const samples = new Map<string, Sample>();
  const sample = (id: string) => {
    let s = samples.get(id);
    if (!s) samples.set(id, (s = {}));
    return s;
  };

  // The reference: raw events on a stream of their own. Podman's service tails its events file
  // once per stream, each on its own schedule (two streams differ by tens of ms, either way), so
  // there the reference is the answer to the start request instead, and the raw stream's
  // arrival is only recorded.
  const observer = await eventStream(
    dockerClient(o.endpoint),
    ['start'],
    (e) => {
      const id = e.Actor?.ID ?? e.id;
      if (e.Action !== 'start' || !id) return;
      if (podman) sample(id).stream ??= now();
      else sample(id).raw ??= now();
    },
    podman,
  );

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
  }, podman);

  // The watcher.
  const w = mobyWatcher(o.endpoint, { resyncInterval: 0 });
  await w.ready({ signal: AbortSignal.timeout(120_000) });
  const { waiting, subscription: sub } = stampArrivals(w, (id) => (sample(id).watcher ??= now()));

  const measured: Sample[] = [];
  try {
    await sleep(200);
    for (let i = -3; i < o.samples; i++) {
      const id = await o.fleet.start('bench-latency', {}, (created) => waiting.add(created));
      if (podman) sample(id).raw ??= now();
      waiting.add(id);
      const s = await stamped(() => sample(id));
      if (s.watcher === undefined && w.portfolio.container(id)) s.watcher = now(); // emitted before we were waiting
      if (i >= 0) measured.push({ ...s });
      await o.fleet.remove(id);
      // Let the watcher and the baseline take the container's death before the next start.
      await forgotten(() => !!w.portfolio.container(id) || known.has(id));
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
  const streamMs = complete.filter((s) => s.stream !== undefined).map((s) => s.stream! - s.raw!);
  const detail = {
    samples: measured.length,
    complete: complete.length,
    watcherMs: ww,
    baselineMs: bl,
    ...(podman && { reference: 'the answer to POST /containers/{id}/start', rawStartOnOwnStreamMs: streamMs, rawStartOnOwnStreamMedianMs: median(streamMs) }),
  };
  const medianRatio = median(ww) / median(bl);
  const label = 'dockerode event→inspect→Map';
  if (podman) {
    return [
      {
        key: 'podman.latency.median',
        section: 10,
        figure: `Podman event latency from the start answer, median (${complete.length} starts)`,
        value: median(ww),
        unit: 'ms',
        baseline: { label, value: median(bl), unit: 'ms' },
        ratio: medianRatio,
        detail,
      },
      {
        key: 'podman.latency.p99',
        section: 10,
        figure: `Podman event latency from the start answer, p99 (${complete.length} starts)`,
        value: percentile(ww, 99),
        unit: 'ms',
        baseline: { label, value: percentile(bl, 99), unit: 'ms' },
        ratio: percentile(ww, 99) / percentile(bl, 99),
      },
    ];
  }
  return [
    {
      key: 'latency.median',
      section: 2,
      figure: `event latency, median (${complete.length} starts)`,
      value: median(ww),
      unit: 'ms',
      baseline: { label, value: median(bl), unit: 'ms' },
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
      baseline: { label, value: percentile(bl, 99), unit: 'ms' },
      ratio: percentile(ww, 99) / percentile(bl, 99),
    },
  ];
}

/**
 * Calls `stamp(id)` when `w.portfolio$` first holds each ID put into `waiting` (a new set unless
 * given; the ID is then taken out): how the latency sections time the watcher.
 *
 * @example
 * const arrivals = stampArrivals(w, (id) => (sample(id).watcher ??= now()));
 * arrivals.waiting.add(id); // … later: arrivals.subscription.unsubscribe();
 */
export function stampArrivals(
  w: Watcher,
  stamp: (id: string) => void,
  waiting = new Set<string>(),
): { readonly waiting: Set<string>; readonly subscription: Subscription } {
  const subscription = w.portfolio$.subscribe((p) => {
    for (const id of waiting) {
      if (p.container(id)) {
        stamp(id);
        waiting.delete(id);
      }
    }
  });
  return { waiting, subscription };
}

/**
 * Polls `sample()` every 5 ms until it holds the raw, watcher and baseline stamps (at most 30 s),
 * and returns it as it then is.
 *
 * @example
 * const s = await stamped(() => sample(id));
 */
export async function stamped<S extends { raw?: number; watcher?: number; baseline?: number }>(sample: () => S): Promise<S> {
  const deadline = now() + 30_000;
  let s = sample();
  while (!(s.raw !== undefined && s.watcher !== undefined && s.baseline !== undefined) && now() < deadline) {
    await sleep(5);
    s = sample();
  }
  return s;
}

/**
 * Waits until `held()` is false (at most 10 s), then `settle` ms more: the watcher and the
 * baseline have taken a container's death before the next start.
 *
 * @example
 * await forgotten(() => !!w.portfolio.container(id) || known.has(id));
 */
export async function forgotten(held: () => boolean, settle = 50): Promise<void> {
  const gone = now() + 10_000;
  while (held() && now() < gone) await sleep(5);
  await sleep(settle);
}

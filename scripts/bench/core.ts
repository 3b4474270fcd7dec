/**
 * Section 3: the cost per event of the pure reducer with 100, 1,000 and 10,000 containers in
 * ONE project, next to the mutable reference implementation, on the same pre-generated streams.
 *
 * @module
 */
import type { Action } from '../../lib/actions.js';
import type { ContainerSummary } from '../../lib/adapter.js';
import { type WatchState, createReducer, initialState } from '../../lib/reducer.js';
import { MutablePortfolio } from './mutable.js';
import { type Row, atMost, fmt, median, now, say } from './report.js';
import { Population, prng } from './synthetic.js';

export interface CoreOptions {
  readonly sizes: readonly number[];
  readonly events: number;
  readonly repetitions: number;
}

interface Workload {
  readonly size: number;
  readonly initial: readonly Action[];
  readonly stream: readonly Action[];
}

const PROJECT = 'one';

function workload(size: number, events: number): Workload {
  const at = new Date();
  const population = new Population(() => PROJECT);
  const started = Array.from({ length: size }, () => population.start(at));
  const summaries: ContainerSummary[] = started.map((a) => {
    const details = (a as Extract<Action, { type: 'started' }>).details!;
    return { id: details.id, paused: false, details };
  });
  const initial: Action[] = [
    { type: 'connected', at },
    { type: 'listRequested', full: false, at },
    { type: 'listed', summaries, at },
  ];
  const rand = prng(size);
  const stream = Array.from({ length: events }, () => population.next(rand, at, size));
  return { size, initial: [...initial], stream };
}

/** Builds the reducer's state of a workload (untimed) and times its stream: ns per event. */
function runImmutable(w: Workload): { nsPerEvent: number; total: number; lifecycle: number } {
  const reduce = createReducer();
  let s: WatchState = initialState();
  for (const a of w.initial) s = reduce(s, a).state;
  if (s.phase !== 'synced' || s.portfolio.containerTotal !== w.size) throw new Error(`core: setup of ${w.size} did not sync`);
  let lifecycle = 0;
  const t = now();
  for (const a of w.stream) {
    const t = reduce(s, a);
    s = t.state;
    lifecycle += t.effects.lifecycle.length;
  }
  const ms = now() - t;
  return { nsPerEvent: (ms * 1e6) / w.stream.length, total: s.portfolio.containerTotal, lifecycle };
}

function runMutable(w: Workload): { nsPerEvent: number; total: number; lifecycle: number } {
  const p = new MutablePortfolio();
  const listed = w.initial.find((a) => a.type === 'listed') as Extract<Action, { type: 'listed' }>;
  for (const s of listed.summaries) p.apply({ type: 'started', id: s.id, details: s.details!, at: listed.at });
  let lifecycle = 0;
  const t = now();
  for (const a of w.stream) lifecycle += p.apply(a).length;
  const ms = now() - t;
  return { nsPerEvent: (ms * 1e6) / w.stream.length, total: p.containerTotal, lifecycle };
}

export function benchCore(o: CoreOptions): Row[] {
  const rows: Row[] = [];
  const results = new Map<number, { immutable: number; mutable: number; runsI: number[]; runsM: number[] }>();
  for (const size of o.sizes) {
    say(`core: ${size} containers in one project, ${o.events} events × ${o.repetitions}`);
    const w = workload(size, o.events);
    // Warm-up (JIT) on the same stream, not recorded.
    runImmutable(w);
    runMutable(w);
    const runsI: number[] = [];
    const runsM: number[] = [];
    for (let r = 0; r < o.repetitions; r++) {
      const [a, b] = r % 2 ? [runMutable, runImmutable] : [runImmutable, runMutable];
      const x = a(w);
      const y = b(w);
      const [im, mu] = a === runImmutable ? [x, y] : [y, x];
      if (im.total !== mu.total || im.lifecycle !== mu.lifecycle) {
        throw new Error(`core: implementations disagree at ${size}: ${JSON.stringify({ im, mu })}`);
      }
      runsI.push(im.nsPerEvent);
      runsM.push(mu.nsPerEvent);
    }
    results.set(size, { immutable: median(runsI), mutable: median(runsM), runsI, runsM });
  }
  for (const [size, r] of results) {
    const ratio = r.immutable / r.mutable;
    rows.push({
      key: `core.perEvent.${size}`,
      section: 3,
      figure: `reducer, ${size.toLocaleString('en')} containers in 1 project`,
      value: r.immutable,
      unit: 'ns/event',
      baseline: { label: 'mutable Maps', value: r.mutable, unit: 'ns/event' },
      ratio,
      target: atMost(ratio, 2.5),
      detail: { runsImmutable: r.runsI, runsMutable: r.runsM, events: o.events },
    });
  }
  const small = results.get(Math.min(...o.sizes))!;
  const large = results.get(Math.max(...o.sizes))!;
  const scaling = large.immutable / small.immutable;
  const mutableScaling = large.mutable / small.mutable;
  // Issue 15: the reducer may grow with the portfolio at most 1.25x as steeply as mutable Maps.
  const vsMutable = scaling / mutableScaling;
  rows.push({
    key: 'core.scaling',
    section: 3,
    figure: `reducer scaling ${Math.max(...o.sizes).toLocaleString('en')}/${Math.min(...o.sizes)}`,
    value: large.immutable,
    unit: 'ns/event',
    baseline: { label: `at ${Math.min(...o.sizes)}`, value: small.immutable, unit: 'ns/event' },
    ratio: scaling,
    target: { text: `≤ 1.25x mutable's scaling (is ${fmt(vsMutable)}x)`, met: vsMutable <= 1.25 },
    detail: { mutableScaling, vsMutableScaling: vsMutable },
  });
  rows.push({
    key: 'core.mutableScaling',
    section: 3,
    figure: `mutable Maps scaling ${Math.max(...o.sizes).toLocaleString('en')}/${Math.min(...o.sizes)} (reference)`,
    value: large.mutable,
    unit: 'ns/event',
    baseline: { label: `at ${Math.min(...o.sizes)}`, value: small.mutable, unit: 'ns/event' },
    ratio: mutableScaling,
  });
  return rows;
}

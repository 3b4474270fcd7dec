/**
 * Section 4: heap per tracked container at 10,000 containers with ten compose-like labels each
 * (next to the mutable reference implementation), and the heap after a million churn events
 * compared with before. Runs in a child process started with `--expose-gc`, so that every
 * reading follows full garbage collections; the parent reads one JSON line from its stdout.
 *
 * Usage (what `benchMemory` runs): `node --expose-gc --import tsx scripts/bench/memory.ts CONTAINERS CHURN`
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type WatchState, createReducer, initialState } from '../../lib/reducer.js';
import { MutablePortfolio } from './mutable.js';
import { type Row, atMost, say } from './report.js';
import { Population, prng } from './synthetic.js';

interface MemoryResult {
  readonly containers: number;
  readonly churnEvents: number;
  readonly bytesPerContainer: number;
  readonly mutableBytesPerContainer: number;
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly containersAfter: number;
  readonly churnSeconds: number;
}

const PROJECTS = 100;

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory: run with node --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

function buildImmutable(n: number): WatchState {
  const reduce = createReducer();
  const at = new Date();
  const population = new Population((i) => `stack-${i % PROJECTS}`, true);
  let s = reduce(reduce(initialState(), { type: 'connected', at }).state, { type: 'listRequested', full: false, at }).state;
  s = reduce(s, { type: 'listed', summaries: [], at }).state;
  for (let i = 0; i < n; i++) s = reduce(s, population.start(at)).state;
  return s;
}

function buildMutable(n: number): MutablePortfolio {
  const at = new Date();
  const population = new Population((i) => `stack-${i % PROJECTS}`, true);
  const p = new MutablePortfolio();
  for (let i = 0; i < n; i++) p.apply(population.start(at));
  return p;
}

/** Heap per container of what `build` returns (dropped again before returning). */
function bytesPer<T>(build: () => T, count: (built: T) => number): number {
  const base = heap();
  const built = build();
  return (heap() - base) / count(built);
}

function measure(containers: number, churnEvents: number): MemoryResult {
  // Warm up every code path (and its compiled code) before the first reading.
  buildImmutable(200);
  buildMutable(200);

  const mutableBytes = bytesPer(() => buildMutable(containers), (p) => p.containerTotal);

  const base = heap();
  let s = buildImmutable(containers);
  const bytes = (heap() - base) / s.portfolio.containerTotal;

  // Churn: a million events of the mix (die, start, pause/unpause, rename) around 10,000 containers.
  const reduce = createReducer();
  const population = new Population((i) => `stack-${i % PROJECTS}`, true);
  population.ids.push(...s.portfolio.containers().map((c) => c.id));
  const rand = prng(42);
  const at = new Date();
  const heapBefore = heap();
  const t = performance.now();
  for (let i = 0; i < churnEvents; i++) s = reduce(s, population.next(rand, at, containers)).state;
  const churnSeconds = (performance.now() - t) / 1000;
  const heapAfter = heap();
  return {
    containers,
    churnEvents,
    bytesPerContainer: bytes,
    mutableBytesPerContainer: mutableBytes,
    heapBefore,
    heapAfter,
    containersAfter: s.portfolio.containerTotal,
    churnSeconds,
  };
}

/** Runs the measurement in a child process with `--expose-gc` and turns it into table rows. */
export async function benchMemory(containers: number, churnEvents: number): Promise<Row[]> {
  say(`memory: ${containers} containers with 10 labels, then ${churnEvents.toLocaleString('en')} churn events (child process)`);
  const r = await new Promise<MemoryResult>((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), String(containers), String(churnEvents)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as MemoryResult);
      } catch (err) {
        reject(err);
      }
    });
  });
  const growth = (r.heapAfter - r.heapBefore) / r.heapBefore;
  return [
    {
      key: 'memory.perContainer',
      section: 4,
      figure: `heap per container at ${r.containers.toLocaleString('en')} (10 labels)`,
      value: r.bytesPerContainer / 1024,
      unit: 'KB',
      baseline: { label: 'mutable Maps', value: r.mutableBytesPerContainer / 1024, unit: 'KB' },
      ratio: r.bytesPerContainer / r.mutableBytesPerContainer,
      target: { text: '≤ 2 KB', met: r.bytesPerContainer <= 2048 },
      detail: { ...r },
    },
    {
      key: 'memory.churn',
      section: 4,
      figure: `heap after ${r.churnEvents.toLocaleString('en')} churn events`,
      value: r.heapAfter / 1048576,
      unit: 'MB',
      baseline: { label: 'before', value: r.heapBefore / 1048576, unit: 'MB' },
      ratio: r.heapAfter / r.heapBefore,
      target: atMost(r.heapAfter / r.heapBefore, 1.05, ' (≤ 5% growth)'),
      detail: { growthPercent: growth * 100, containersAfter: r.containersAfter, churnSeconds: r.churnSeconds },
    },
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const containers = Number(process.argv[2] ?? 10_000);
  const churn = Number(process.argv[3] ?? 1_000_000);
  process.stdout.write(JSON.stringify(measure(containers, churn)) + '\n');
}

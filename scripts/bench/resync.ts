/**
 * Section 5: what a resync of an unchanged engine costs. Docker: every HTTP request counted by
 * a proxy in front of the socket. containerd: every adapter call counted by wrapping the
 * adapter's methods, and every gRPC call counted by a proxy that reads the HTTP/2 frames. Also
 * counted: snapshots emitted by those resyncs, and engine calls while idle between them.
 *
 * @module
 */
import { Observable, type Subscription, skip } from 'rxjs';
import { createContainerdAdapter } from '../../engines/containerd/index.js';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { EngineAdapter } from '../../lib/adapter.js';
import { watch } from '../../lib/watch.js';
import type { Container, Portfolio } from '../../lib/model.js';
import type { Watcher } from '../../lib/watcher.js';
import { BENCH_LABEL, BENCH_NAMESPACE, type CountingProxy, countingProxy } from './engines.js';
import { type Row, now, say, sleep } from './report.js';

export interface ResyncOptions {
  readonly resyncs: number;
  /** ms between resyncs. */
  readonly interval: number;
  /** ms of watching without resyncs, for the idle count. */
  readonly idle: number;
}

/** Counts adapter method calls (one per subscription, i.e. per engine request the core makes). */
function countingAdapter(adapter: EngineAdapter, calls: string[]): EngineAdapter {
  const counted =
    <A extends unknown[], T>(name: string, fn: (...args: A) => Observable<T>) =>
    (...args: A): Observable<T> =>
      new Observable<T>((subscriber) => {
        calls.push(name);
        return fn(...args).subscribe(subscriber);
      });
  return {
    type: adapter.type,
    api: adapter.api,
    events: counted('events', () => adapter.events()),
    list: counted('list', () => adapter.list()),
    inspect: counted('inspect', (id: string) => adapter.inspect(id)),
    info: counted('info', () => adapter.info()),
    close: () => adapter.close(),
  };
}

interface Window {
  /** Resyncs seen in the window (list calls). */
  readonly resyncs: number;
  /** Everything the engine was asked in the window. */
  readonly calls: number;
  readonly lists: number;
  readonly emitted: number;
  readonly lifecycle: number;
  /** Lifecycle events of containers that are not the benchmark's (someone else used the engine). */
  readonly foreign: number;
  /** Containers in the portfolio at the end of the window (the engine may hold others' too). */
  readonly containers: number;
  readonly what: string[];
  /** Growth of the caller's extra counter over the window (e.g. gRPC calls seen by a proxy). */
  readonly extra: number;
  /** Calls about other containers (inspections of someone else's newcomers), not counted in `calls`. */
  readonly foreignCalls: number;
  /** Snapshots emitted that changed none of the benchmark's containers, not counted in `emitted`. */
  readonly foreignEmitted: number;
}

/**
 * Watches `w` for `n` resyncs after the next one (which may still carry the sync's tail) and
 * returns what the engine was asked in between. `log` holds every engine call so far and
 * `isList` tells the list calls; `extra` is a second counter read at the same marks (gRPC
 * calls). The window opens once the engine has been quiet for a while after a resync, and
 * closes once it is quiet again after the n-th one, or when the next resync begins.
 */
async function resyncWindow(
  w: Watcher,
  log: readonly string[],
  isList: (call: string) => boolean,
  n: number,
  timeoutMs: number,
  extra: () => number = () => 0,
  subject: (call: string) => string | undefined = () => undefined,
): Promise<Window> {
  const QUIET_MS = 150;
  const lists = () => log.filter(isList).length;
  const deadline = now() + timeoutMs;
  /** Waits until neither counter moved for QUIET_MS, or `stop()` holds. */
  const quiet = async (stop: () => boolean = () => false) => {
    let seen = [log.length, extra()];
    let since = now();
    while (now() < deadline && !stop()) {
      await sleep(5);
      const current = [log.length, extra()];
      if (current[0] !== seen[0] || current[1] !== seen[1]) {
        seen = current;
        since = now();
      } else if (now() - since >= QUIET_MS) {
        return;
      }
    }
  };
  let emitted = 0;
  let foreignEmitted = 0;
  let lifecycle = 0;
  let foreign = 0;
  let previous: Portfolio = w.portfolio;
  const own = () => previous.containers().filter(ownContainer).map((c) => c.id);
  let ownIds = own();
  const subs: Subscription[] = [
    w.portfolio$.pipe(skip(1)).subscribe((p) => {
      if (ownIds.some((id) => previous.container(id) !== p.container(id))) emitted++;
      else foreignEmitted++;
      previous = p;
    }),
    w.events$.subscribe((e) => {
      lifecycle++;
      if (!ownContainer(e.container)) foreign++;
    }),
  ];
  try {
    const first = lists();
    while (lists() < first + 1 && now() < deadline) await sleep(5);
    await quiet();
    const mark = log.length;
    const extraMark = extra();
    const startLists = lists();
    emitted = 0;
    foreignEmitted = 0;
    lifecycle = 0;
    foreign = 0;
    previous = w.portfolio;
    ownIds = own();
    while (lists() < startLists + n && now() < deadline) await sleep(5);
    await quiet(() => lists() > startLists + n);
    const extraEnd = extra();
    let what = log.slice(mark);
    let seen = 0;
    const next = what.findIndex((call) => isList(call) && ++seen > n);
    if (next >= 0) what = what.slice(0, next);
    const listed = what.filter(isList).length;
    // A call about one container (an inspection) counts only if that container is the benchmark's.
    const mine = (call: string) => {
      const id = subject(call);
      if (id === undefined) return true;
      const c = w.portfolio.container(id) ?? previous.container(id);
      return c !== undefined && ownContainer(c);
    };
    const counted = what.filter(mine);
    return {
      resyncs: listed,
      calls: counted.length,
      foreignCalls: what.length - counted.length,
      foreignEmitted,
      lists: listed,
      emitted,
      lifecycle,
      foreign,
      containers: w.portfolio.containerTotal,
      what,
      extra: extraEnd - extraMark,
    };
  } finally {
    for (const sub of subs) sub.unsubscribe();
  }
}

/** The benchmark's containers: Docker's carry the bench label, containerd's live in the bench namespace. */
function ownContainer(c: Container): boolean {
  return BENCH_LABEL in c.labels || c.id.startsWith(`${BENCH_NAMESPACE}/`);
}

/** Runs a window up to twice while someone else's containers came or went in it. */
async function quietWindow(attempt: () => Promise<Window>): Promise<Window & { attempts: number }> {
  let win = await attempt();
  let attempts = 1;
  while (win.foreign > 0 && attempts < 2) {
    say(`resync: ${win.foreign} lifecycle event(s) of other containers in the window (the engine is shared): measuring again`);
    win = await attempt();
    attempts++;
  }
  return { ...win, attempts };
}

function rows(engine: string, win: Window, idleCalls: number, unit: string, extra: Record<string, unknown>, listTarget: number | undefined): Row[] {
  const perResync = win.calls / Math.max(1, win.resyncs);
  const containers = win.containers;
  return [
    {
      key: `resync.${engine}.calls`,
      section: 5,
      figure: `${engine} resync, ${containers} unchanged: ${unit} per resync`,
      value: perResync,
      unit: 'calls',
      ...(listTarget !== undefined && { target: { text: `= ${listTarget} (the list)`, met: perResync === listTarget } }),
      detail: { ...win, ...extra },
    },
    {
      key: `resync.${engine}.emitted`,
      section: 5,
      figure: `${engine} resync, ${containers} unchanged: snapshots emitted`,
      value: win.emitted,
      unit: `in ${win.resyncs} resyncs`,
      target: { text: '= 0', met: win.emitted === 0 && win.lifecycle - win.foreign === 0 },
      detail: { lifecycleEvents: win.lifecycle, ofOtherContainers: win.foreign, snapshotsForOtherContainers: win.foreignEmitted },
    },
    {
      key: `resync.${engine}.idle`,
      section: 5,
      figure: `${engine} idle (no resync due): ${unit}`,
      value: idleCalls,
      unit: 'calls',
      target: { text: '= 0', met: idleCalls === 0 },
    },
  ];
}

export async function benchResyncDocker(endpoint: string, containers: number, o: ResyncOptions): Promise<Row[]> {
  say(`resync: Docker, ${containers} unchanged containers, ${o.resyncs} resyncs every ${o.interval} ms`);
  const proxy: CountingProxy = await countingProxy(endpoint, 'http1');
  const isList = (r: string) => r.startsWith('GET /containers/json');
  const subject = (r: string) => /^GET \/containers\/([0-9a-f]{64})\/json/.exec(r)?.[1];
  const out: Row[] = [];
  try {
    // Ordinary resyncs (the every-Nth full resync is measured below).
    let w = mobyWatcher(`unix://${proxy.path}`, { resyncInterval: o.interval, fullResyncEvery: 0 });
    let win: Window;
    try {
      await w.ready({ signal: AbortSignal.timeout(120_000) });
      win = await quietWindow(() => resyncWindow(w, proxy.requests, isList, o.resyncs, 60_000, undefined, subject));
    } finally {
      await w.close();
    }
    // Idle: a watcher whose next resync is far away.
    w = mobyWatcher(`unix://${proxy.path}`, { resyncInterval: 3_600_000 });
    let idle: string[];
    try {
      await w.ready({ signal: AbortSignal.timeout(120_000) });
      await sleep(100);
      const mark = proxy.requests.length;
      await sleep(o.idle);
      // Inspections of someone else's newcomers are not the idle watcher's doing.
      idle = proxy.requests.slice(mark).filter((r) => {
        const id = subject(r);
        const c = id === undefined ? undefined : w.portfolio.container(id);
        return id === undefined || (c !== undefined && ownContainer(c));
      });
    } finally {
      await w.close();
    }
    out.push(...rows('Docker', win, idle.length, 'HTTP requests', { idleMs: o.idle, idleRequests: idle }, 1));
    // A full resync (every Nth, re-inspects all): its cost, and that it emits nothing either.
    // (An interval long enough for 50 inspections on a loaded machine: resyncs do not overlap.)
    w = mobyWatcher(`unix://${proxy.path}`, { resyncInterval: Math.max(o.interval, 2_000), fullResyncEvery: 1 });
    try {
      await w.ready({ signal: AbortSignal.timeout(120_000) });
      const full = await quietWindow(() => resyncWindow(w, proxy.requests, isList, 1, 60_000, undefined, subject));
      out.push({
        key: 'resync.Docker.full',
        section: 5,
        figure: `Docker full resync (every Nth), ${full.containers} unchanged: requests (list + inspections), snapshots`,
        value: full.calls,
        unit: `calls, ${full.emitted} emitted`,
        target: { text: '0 emitted', met: full.emitted === 0 && full.lifecycle - full.foreign === 0 },
        detail: { ...full, what: undefined },
      });
    } finally {
      await w.close();
    }
  } finally {
    await proxy.close();
  }
  return out;
}

export async function benchResyncContainerd(socket: string, containers: number, o: ResyncOptions): Promise<Row[]> {
  say(`resync: containerd, ${containers} unchanged containers, ${o.resyncs} resyncs every ${o.interval} ms`);
  const proxy = await countingProxy(socket, 'http2');
  const calls: string[] = [];
  const make = (interval: number) =>
    watch(countingAdapter(createContainerdAdapter(proxy.path, { namespaces: [BENCH_NAMESPACE] }), calls), { resyncInterval: interval });
  try {
    let w = make(o.interval);
    let win: Window;
    let grpc: number;
    try {
      await w.ready({ signal: AbortSignal.timeout(120_000) });
      win = await resyncWindow(w, calls, (c) => c === 'list', o.resyncs, 60_000, () => proxy.requests.length);
      grpc = win.extra;
    } finally {
      await w.close();
    }
    w = make(3_600_000);
    let idleCalls: number;
    let idleGrpc: number;
    try {
      await w.ready({ signal: AbortSignal.timeout(120_000) });
      await sleep(300); // the live-proof marker publisher stops once the marker is seen
      const mark = calls.length;
      const grpcMark = proxy.requests.length;
      await sleep(o.idle);
      idleCalls = calls.length - mark;
      idleGrpc = proxy.requests.length - grpcMark;
    } finally {
      await w.close();
    }
    const out = rows('containerd', win, idleCalls, 'adapter calls', { idleMs: o.idle }, 1);
    out.push({
      key: 'resync.containerd.grpc',
      section: 5,
      figure: `containerd resync, ${win.containers} unchanged: gRPC calls per resync`,
      value: grpc / Math.max(1, win.resyncs),
      unit: 'calls',
      detail: { grpcCalls: grpc, resyncs: win.resyncs, idleGrpcCalls: idleGrpc, note: 'Namespaces/List, then Tasks/List and Containers/List per watched namespace' },
    });
    out.push({
      key: 'resync.containerd.idleGrpc',
      section: 5,
      figure: `containerd idle (no resync due): gRPC calls`,
      value: idleGrpc,
      unit: 'calls',
      target: { text: '= 0', met: idleGrpc === 0 },
    });
    return out;
  } finally {
    await proxy.close();
  }
}

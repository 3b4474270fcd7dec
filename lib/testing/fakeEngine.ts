import { Observable, type SchedulerLike, Subject, asyncScheduler, defer, delay, of, throwError } from 'rxjs';
import type { ContainerDetails, ContainerList, EngineAdapter, EngineEvent, EngineInfo, Inspection, SkippedContainer } from '../adapter.js';
import { EngineUnreachableError } from '../errors.js';

/**
 * What a scripted container looks like when it is started on a {@link FakeEngine}.
 *
 * @example
 * engine.start({ name: 'web', labels: { 'com.docker.compose.project': 'shop' } });
 */
export interface FakeContainerSpec {
  readonly id?: string;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly paused?: boolean;
}

/**
 * Options of a {@link FakeEngine}.
 *
 * @example
 * new FakeEngine({ latency: 5, scheduler: testScheduler });
 */
export interface FakeEngineOptions {
  /** Engine type reported (default `'fake'`). */
  readonly type?: string;
  /** Endpoint text (default `'fake://engine'`). */
  readonly api?: string;
  /** Delay in ms of every list and inspect answer (default 0: synchronous). */
  readonly latency?: number;
  /** Scheduler for that latency (tests pass a TestScheduler). */
  readonly scheduler?: SchedulerLike;
  /** Whether the list already carries full details, like containerd's (default false). */
  readonly detailedList?: boolean;
}

/**
 * An in-memory container engine that implements the adapter interface, for testing code built
 * on whalewatcher without a real engine. Script container histories with `start`, `stop`,
 * `pause`, `unpause`, `rename`, `restart`; simulate an outage with `crash` and `recover`, an
 * engine answer the adapter cannot read with `garble`; count engine calls in `calls`.
 *
 * @example
 * const engine = new FakeEngine();
 * const w = watch(engine);
 * engine.start({ id: 'c1', name: 'web', labels: { 'com.docker.compose.project': 'shop' } });
 * const p = await w.ready();
 * p.project('shop')?.containerNames(); // ['web']
 */
export class FakeEngine implements EngineAdapter {
  readonly type: string;
  readonly api: string;
  /** Number of calls per adapter method, for asserting how much a watcher asks the engine. */
  readonly calls = { info: 0, events: 0, list: 0, inspect: 0 };
  /** Whether `close()` was called. */
  closed = false;

  readonly #containers = new Map<string, ContainerDetails>();
  /** Why each garbled container is unreadable (its skip code), by ID. */
  readonly #garbled = new Map<string, string>();
  readonly #streams = new Set<Subject<EngineEvent>>();
  readonly #options: FakeEngineOptions;
  #nextPid = 1000;
  #nextId = 1;
  #down: Error | undefined;
  #muted = false;

  constructor(options: FakeEngineOptions = {}) {
    this.#options = options;
    this.type = options.type ?? 'fake';
    this.api = options.api ?? 'fake://engine';
  }

  /** The engine's own truth: its alive containers. */
  get containers(): readonly ContainerDetails[] {
    return [...this.#containers.values()];
  }

  /** Starts a container and returns its ID. */
  start(spec: FakeContainerSpec = {}): string {
    const id = spec.id ?? `c${this.#nextId++}`;
    const details: ContainerDetails = {
      id,
      name: spec.name ?? id,
      labels: spec.labels ?? {},
      pid: this.#nextPid++,
      paused: spec.paused ?? false,
      raw: { fake: true },
    };
    this.#containers.set(id, details);
    this.#emit({ type: 'started', id });
    if (details.paused) this.#emit({ type: 'paused', id });
    return id;
  }

  /** Ends a container's process (`died`). */
  stop(id: string): void {
    this.#garbled.delete(id);
    if (this.#containers.delete(id)) this.#emit({ type: 'died', id });
  }

  /** From now on, lists and inspections describe container `id` unreadably: skipped with `code`, as adapters do. */
  garble(id: string, code = 'unreadable-inspection'): void {
    if (this.#containers.has(id)) this.#garbled.set(id, code);
  }

  pause(id: string): void {
    this.#set(id, { paused: true }, { type: 'paused', id });
  }

  unpause(id: string): void {
    this.#set(id, { paused: false }, { type: 'unpaused', id });
  }

  rename(id: string, name: string): void {
    this.#set(id, { name }, { type: 'updated', id, name });
  }

  relabel(id: string, labels: Readonly<Record<string, string>>): void {
    this.#set(id, { labels }, { type: 'updated', id, labels });
  }

  /** Restarts a container: same ID, new PID (`died`, then `started`). */
  restart(id: string): void {
    const c = this.#containers.get(id);
    if (!c) return;
    this.#emit({ type: 'died', id });
    this.#containers.set(id, { ...c, pid: this.#nextPid++, paused: false });
    this.#emit({ type: 'started', id });
  }

  /** While muted, changes happen without events (like an engine dropping them). */
  mute(muted = true): void {
    this.#muted = muted;
  }

  /** Breaks every event stream and fails every call until {@link recover}. */
  crash(error: Error = new EngineUnreachableError(this.api, 'connection refused')): void {
    this.#down = error;
    for (const s of this.#streams) s.error(error);
    this.#streams.clear();
  }

  recover(): void {
    this.#down = undefined;
  }

  /** Whether any event stream is subscribed. */
  get subscribed(): boolean {
    return this.#streams.size > 0;
  }

  events(): Observable<EngineEvent> {
    return new Observable<EngineEvent>((subscriber) => {
      this.calls.events++;
      if (this.#down) {
        subscriber.error(this.#down);
        return;
      }
      const stream = new Subject<EngineEvent>();
      const sub = stream.subscribe(subscriber);
      this.#streams.add(stream);
      subscriber.next({ type: 'live' });
      return () => {
        this.#streams.delete(stream);
        sub.unsubscribe();
      };
    });
  }

  list(): Observable<ContainerList> {
    return this.#answer(() => {
      this.calls.list++;
      const readable = this.containers.filter((d) => !this.#garbled.has(d.id));
      return {
        containers: readable.map((d) =>
          this.#options.detailedList ? { id: d.id, paused: d.paused, details: d } : { id: d.id, paused: d.paused },
        ),
        skipped: [...this.#garbled.keys()].map((gid) => this.#skip(gid)),
      };
    });
  }

  inspect(id: string): Observable<Inspection> {
    return this.#answer(() => {
      this.calls.inspect++;
      return this.#garbled.has(id) ? this.#skip(id) : (this.#containers.get(id) ?? null);
    });
  }

  #skip(id: string): SkippedContainer {
    return { skipped: this.#garbled.get(id) ?? 'unreadable-inspection', id, message: 'the fake engine garbled it' };
  }

  info(): Observable<EngineInfo> {
    return defer(() => {
      this.calls.info++;
      return this.#down ? throwError(() => this.#down) : of({ id: 'fake-engine', version: 'Fake 1.0' });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.#streams) s.complete();
    this.#streams.clear();
  }

  /** Answers with the engine's state at the moment the call arrives, after the latency. */
  #answer<T>(read: () => T): Observable<T> {
    return defer(() => (this.#down ? throwError(() => this.#down) : of(read()))).pipe(
      this.#options.latency ? delay(this.#options.latency, this.#options.scheduler ?? asyncScheduler) : (s) => s,
    );
  }

  #set(id: string, patch: Partial<ContainerDetails>, event: EngineEvent): void {
    const c = this.#containers.get(id);
    if (!c) return;
    this.#containers.set(id, { ...c, ...patch });
    this.#emit(event);
  }

  #emit(event: EngineEvent): void {
    if (this.#muted) return;
    for (const s of this.#streams) s.next(event);
  }
}
